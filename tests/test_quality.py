"""The paper's quality filters and language selection on real files: installed packages' sources, the
minified JavaScript and HTML templates ScanCode ships, Beam's generated protobuf modules, and files
made here from real data on both sides of each threshold."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import keyword
import random
import sysconfig
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from occurrences import occurrence

from stack_v2.errors import StackV2Error
from stack_v2.quality.languages import load_selection
from stack_v2.quality.rules import default_rules, first_lines, make_filter, merged_length
from stack_v2.quality.stats import text_stats
from stack_v2.stages.base import ApplyCore, Drop
from stack_v2.stages.language import classify
from stack_v2.stages.select_repos import record_from_occurrence

SITE = Path(sysconfig.get_paths()["purelib"])
STDLIB = Path(sysconfig.get_paths()["stdlib"])
RULES = default_rules()


def record(path: str, text: str, language: str | None = None):
    """A decoded record as the build makes it: go-enry's language (unless given), statistics filled."""
    data = text.encode("utf-8")
    occ = occurrence("real/files", path, data)
    rec = record_from_occurrence(occ, None)._replace(content=text, src_encoding="UTF-8", **text_stats(text)._asdict())
    rec = classify(rec)
    assert not isinstance(rec, Drop), path
    return rec._replace(language=language) if language else rec


def verdict(name: str, rec, **overrides):
    out = make_filter(name, {**RULES[name], **overrides})(rec)
    return (out.reason, out.detail) if isinstance(out, Drop) else "kept"


def real(path: Path) -> str:
    return path.read_text(encoding="utf-8")


JSON_MODULE = real(STDLIB / "json" / "encoder.py")
MINIFIED = sorted((SITE / "licensedcode" / "static").glob("*.min.js"))[0]
PROTOBUF = next(Path(beam.__file__).parent.rglob("beam_runner_api_pb2.py"))


def installed_lockfile() -> str:
    """package-lock.json in npm's format, listing this environment's real distributions."""
    packages = {"": {"name": "stack-v2-env", "version": "0.0.0"}}
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"].lower()):
        name = dist.metadata["Name"].lower()
        packages[f"node_modules/{name}"] = {
            "version": dist.version,
            "resolved": f"https://pypi.org/project/{name}/",
            "integrity": "sha512-"
            + base64.b64encode(hashlib.sha512(f"{name}{dist.version}".encode()).digest()).decode(),
        }
    return json.dumps({"name": "stack-v2-env", "lockfileVersion": 3, "requires": True, "packages": packages}, indent=2)


def cell_widths_module() -> str:
    """A generated table of real data, as terminal libraries ship: the runs of wide code points
    (Unicode's East Asian Width W/F, from unicodedata) as (first, last, width) tuples."""
    import unicodedata

    runs, start = [], None
    for cp in range(0x110000):
        wide = unicodedata.east_asian_width(chr(cp)) in "WF"
        if wide and start is None:
            start = cp
        elif not wide and start is not None:
            runs.append((start, cp - 1))
            start = None
    return "CELL_WIDTHS = [\n" + "".join(f"    ({a}, {b}, 2),\n" for a, b in runs) + "]\n"


def test_statistics_match_bigcode_definitions_on_real_text():
    text = real(STDLIB / "textwrap.py") + "Größe café ١٢٣\n"
    stats = text_stats(text)
    lines = text.splitlines()
    assert stats.num_lines == len(lines)
    assert stats.max_line_length == max(map(len, lines))
    assert stats.avg_line_length == pytest.approx(sum(map(len, lines)) / len(lines))
    assert stats.alpha_fraction == pytest.approx(sum(c.isalpha() for c in text) / len(text))
    assert stats.alphanum_fraction == pytest.approx(sum(c.isalnum() for c in text) / len(text))
    assert text_stats("") == (0.0, 0.0, 0, 0.0, 0)


def bigcode_stats(text: str) -> tuple:
    """BigCode's definitions, written the slow way: per character, and lines from str.splitlines."""
    if not text:
        return (0.0, 0.0, 0, 0.0, 0)
    lengths = list(map(len, text.splitlines()))
    fractions = (sum(c.isalnum() for c in text) / len(text), sum(c.isalpha() for c in text) / len(text))
    if not lengths:
        return (*fractions, 0, 0.0, 0)
    return (*fractions, len(lengths), sum(lengths) / len(lengths), max(lengths))


def test_ascii_statistics_equal_the_definitions_exactly():
    """ASCII text is counted from its bytes (a histogram, the newlines' positions): the same numbers, to the
    last bit, on standard-library files and on every line-break shape str.splitlines knows."""
    for path in sorted(STDLIB.glob("*.py"))[:80]:
        text = real(path)
        if text.isascii():
            assert tuple(text_stats(text)) == bigcode_stats(text), path.name
    shapes = [
        "a",
        "\n",
        "\n\n",
        "a\n",
        "a\nb",
        "\r",
        "\r\n",
        "a\r\nb\r\n",
        "a\r\rb\n",
        "\r\n\n\r",
        "x\vy\fz",
        "p\x1cq\x1dr\x1es",
        "end\r",
        "tab\t\n  ",
    ]
    for shape in shapes:
        text = "def f():" + shape + "    return 1" + shape
        assert tuple(text_stats(text)) == bigcode_stats(text), repr(shape)
        assert tuple(text_stats(shape)) == bigcode_stats(shape), repr(shape)


def test_long_lines_drops_minified_bundle_and_keeps_code_and_exempt_markup():
    assert verdict("long_lines", record("src/encoder.py", JSON_MODULE)) == "kept"
    reason, detail = verdict("long_lines", record(f"static/{MINIFIED.name}", real(MINIFIED)))
    assert reason == "avg_line_length" and float(detail.split("=")[1]) > 1000  # the mean is checked first
    # Both sides of the mean (100) and max (1000) thresholds, made from the module's real lines.
    words = JSON_MODULE.split()
    line = lambda n: " ".join(words)[:n]  # noqa: E731
    assert verdict("long_lines", record("a.py", "\n".join([line(100)] * 50))) == "kept"
    assert verdict("long_lines", record("a.py", "\n".join([line(101)] * 50))) == (
        "avg_line_length",
        "avg_line_length=101",
    )
    assert verdict("long_lines", record("a.py", line(1000) + "\nx\n" * 10)) == "kept"
    assert verdict("long_lines", record("a.py", line(1001) + "\nx\n" * 10)) == (
        "max_line_length",
        "max_line_length=1001",
    )
    # Exempt languages: a one-line JSON document of 20,000 characters stays; past 100,000 it goes.
    names = sorted(d.metadata["Name"] for d in importlib.metadata.distributions())[:40]
    one_line = json.dumps({"packages": names * (20_000 // len(json.dumps(names)) + 1)})
    assert len(one_line) < 100_000
    assert len(one_line) > 20_000 and verdict("long_lines", record("data.json", one_line)) == "kept"
    huge = json.dumps([one_line] * (100_000 // len(one_line) + 1))
    assert verdict("long_lines", record("data.json", huge))[0] == "max_line_length"


def test_long_lines_caps_every_language_at_100000_lines():
    lines = [ln for ln in JSON_MODULE.splitlines() if ln.strip()]
    text = "\n".join((lines * (100_001 // len(lines) + 1))[:100_001])
    assert verdict("long_lines", record("big.md", text, "Markdown")) == ("too_many_lines", "num_lines=100001")
    assert verdict("long_lines", record("big.md", text.rsplit("\n", 1)[0], "Markdown")) == "kept"


def test_autogenerated_drops_protobuf_lockfile_and_marker_headers_only_in_the_first_lines():
    assert verdict("autogenerated", record(PROTOBUF.name, real(PROTOBUF))) == ("is_generated", "go-enry is_generated")
    assert verdict("autogenerated", record("package-lock.json", installed_lockfile()))[0] == "is_generated"
    keyword_py = real(Path(keyword.__file__))  # "This file is automatically generated; please don't muck it up!"
    assert verdict("autogenerated", record("keyword.py", keyword_py)) == (
        "autogenerated_marker",
        "marker='automatically generated'",
    )
    moved = "\n" * 5 + keyword_py  # the same header on line 6 is past the paper's five lines
    assert verdict("autogenerated", record("keyword.py", moved)) == "kept"
    assert verdict("autogenerated", record("encoder.py", JSON_MODULE)) == "kept"
    upper = "# AUTO-GENERATED by hand-written tooling\n" + JSON_MODULE  # lower-cased before matching
    assert verdict("autogenerated", record("encoder.py", upper))[0] == "autogenerated_marker"
    assert verdict("autogenerated", record("encoder.py", upper), lowercase=False) == "kept"


def test_alpha_fraction_drops_number_tables_and_uses_alphanumeric_for_two_assembly_languages():
    reason, detail = verdict("alpha_fraction", record("_cell_widths.py", cell_widths_module()))
    assert reason == "alpha_fraction" and float(detail.split("=")[1]) < 0.25
    assert verdict("alpha_fraction", record("encoder.py", JSON_MODULE)) == "kept"
    # Both sides of 0.25 on real tokens: letters from the module, digits from its line numbers.
    letters = "".join(c for c in JSON_MODULE if c.isalpha())[:250]
    for n_digits, expected in ((750, "kept"), (751, "alpha_fraction")):
        text = letters + "".join(str(i % 10) for i in range(n_digits))
        got = verdict("alpha_fraction", record("t.py", text, "Python"))
        assert (got if got == "kept" else got[0]) == expected
    hex_listing = "".join(f"{b:02x}" for b in PROTOBUF.read_bytes()[:2000])  # digits and a-f: alnum 1.0
    assert verdict("alpha_fraction", record("m.wat", hex_listing, "WebAssembly")) == "kept"
    assert verdict("alpha_fraction", record("m.s", " ; ".join(hex_listing), "Motorola 68K Assembly")) == "kept"
    assert verdict("alpha_fraction", record("m.s", " ; , ".join(hex_listing), "Motorola 68K Assembly"))[0] == (
        "alphanum_fraction"
    )


def test_encoded_data_drops_base64_and_hex_blobs_and_counts_overlaps_once():
    payload = MINIFIED.read_bytes()[:3000]
    blob = base64.encodebytes(payload).decode()  # 76-character lines: the pattern spans the newlines
    module = f'ICON = b"""\n{blob}"""\n' + JSON_MODULE
    reason, detail = verdict("encoded_data", record("icon.py", module))
    assert reason == "encoded_data_match" and detail.startswith("pattern=base64")
    c_array = "static const unsigned char data[] = {" + ",".join(f"0x{b:02x}" for b in payload[:600]) + "};\n"
    assert verdict("encoded_data", record("data.c", c_array))[0] == "encoded_data_match"
    hex_dump = "\n".join(" ".join(f"{b:02x}" for b in payload[i : i + 16]) for i in range(0, 1200, 16))
    assert verdict("encoded_data", record("dump.txt", hex_dump, "Text"))[0] == "encoded_data_match"
    # The paper's hex pattern needs a word boundary after each separator: "0x28, 0x29" (comma and space)
    # matches one byte at a time, so such arrays are not encoded data under the verbatim rule.
    spaced = "static const unsigned char data[] = {" + ", ".join(f"0x{b:02x}" for b in payload[:600]) + "};\n"
    assert verdict("encoded_data", record("data.c", spaced)) == "kept"
    # Many short base64 chunks (each under 1,024 characters): the share of the file decides, at 50%.
    chunk = base64.b64encode(payload[:600]).decode()  # 800 characters
    code = JSON_MODULE[:2000]
    for chunks, expected in ((2, "kept"), (3, "encoded_data_fraction")):
        text = code + "".join(f'\nK{i} = "{chunk}"' for i in range(chunks))
        got = verdict("encoded_data", record("keys.py", text))
        assert (got if got == "kept" else got[0]) == expected
    assert verdict("encoded_data", record("encoder.py", JSON_MODULE)) == "kept"
    assert merged_length([(0, 10), (5, 15), (20, 25), (21, 22)]) == 20


def test_encoded_data_patterns_find_the_same_spans_on_re2_as_on_python_re():
    import re

    patterns = RULES["encoded_data"]["patterns"]
    payload = base64.encodebytes(MINIFIED.read_bytes()[:3000]).decode()
    texts = [real(p) for p in sorted((STDLIB / "encodings").glob("*.py"))[:40]]  # tables of \x escapes
    texts += [real(MINIFIED), real(PROTOBUF), payload, " ".join(f"{b:02x}" for b in payload.encode()[:400])]
    rule = make_filter("encoded_data", RULES["encoded_data"])
    for name, pattern in patterns.items():
        for text in texts:
            expected = [m.span() for m in re.finditer(pattern, text)]
            assert [m.span() for m in rule._compiled[name].finditer(text)] == expected, name


def test_language_specific_json_lines_text_names_and_html_visible_text():
    metadata = [{"name": d.metadata["Name"], "version": d.version} for d in importlib.metadata.distributions()] * 10
    assert len(metadata) > 600
    as_lines = lambda n: "[\n" + ",\n".join(json.dumps(m) for m in metadata[: n - 2]) + "\n]"  # noqa: E731
    assert verdict("language_specific", record("deps.json", as_lines(512))) == "kept"
    assert verdict("language_specific", record("deps.json", as_lines(513))) == (
        "too_many_lines_for_language",
        "num_lines=513",
    )
    assert verdict("language_specific", record("deps.py", as_lines(513), "Python")) == "kept"  # rule is per language
    license_text = real(STDLIB / "LICENSE.txt")  # CPython's license, as the demo uses it
    for name in ("README.txt", "docs/notes.txt", "requirements-dev.txt", "TODO.TXT", "CMakeLists.txt"):
        assert verdict("language_specific", record(name, license_text, "Text")) == "kept", name
    assert verdict("language_specific", record("LICENSE.txt", license_text, "Text")) == (
        "text_filename",
        "filename=LICENSE.txt",
    )


def test_html_visible_text_keeps_documents_and_drops_svg_pages_and_short_readmes():
    import pydoc

    summary = importlib.metadata.metadata("pyarrow")["Summary"]
    page = pydoc.HTMLDoc().page("json", pydoc.HTMLDoc().docmodule(json))  # the json module's HTML documentation
    body_only = "<html><body>" + page.split("<body>", 1)[1]
    assert verdict("language_specific", record("index.html", body_only)) == "kept"
    # The same page with a chart drawn from real data: markup outweighs the text.
    points = " ".join(f"{i},{b}" for i, b in enumerate(MINIFIED.read_bytes()[:12000]))
    svg_page = body_only.replace("<body>", f'<body><svg viewBox="0 0 12000 256"><polyline points="{points}"/></svg>')
    reason, detail = verdict("language_specific", record("chart.html", svg_page))
    assert reason == "html_visible_text" and float(detail.rsplit("=", 1)[1]) < 0.2
    short = (
        f"<html><head><title>pyarrow</title><style>p {{margin: 0}}</style></head><body><p>{summary}</p></body></html>"
    )
    reason, detail = verdict("language_specific", record("README.html", short))
    assert reason == "html_visible_text" and detail.startswith(f"visible_chars={len(summary)} ")
    assert len(summary) < 100


def test_language_selection_excludes_languages_and_extensions_and_selects_smol():
    default = load_selection()
    assert default(record("data.csv", "a,b\n1,2\n")) == Drop("excluded_language", "language=CSV")
    assert default(record("Strings.resx", '<?xml version="1.0"?>\n<root/>\n', "XML")) == Drop(
        "excluded_extension", "language=XML extension=resx"
    )
    assert default(record("pom.xml", '<?xml version="1.0"?>\n<project/>\n', "XML")).language == "XML"
    smol = load_selection(keep_set="smol")
    assert smol(record("encoder.py", JSON_MODULE)).language == "Python"
    assert smol(record("x.hs", 'main = putStrLn "hi"\n', "Haskell")) == Drop(
        "not_selected", "language=Haskell not in smol"
    )
    with pytest.raises(StackV2Error, match="no set 'tiny'"):
        load_selection(keep_set="tiny")


def test_filters_run_as_beam_stages_and_report_each_drop():
    records = [record("encoder.py", JSON_MODULE), record(f"static/{MINIFIED.name}", real(MINIFIED))]
    with beam.Pipeline() as p:
        out = p | beam.Create(records) | ApplyCore("long_lines", lambda: make_filter("long_lines", RULES["long_lines"]))
        assert_that(out["kept"] | beam.Map(lambda r: r.path), equal_to(["encoder.py"]), label="kept")
        assert_that(
            out["dropped"] | beam.Map(lambda d: (d.stage, d.reason)),
            equal_to([("long_lines", "avg_line_length")]),
            label="dropped",
        )


def test_bad_rules_fail_with_one_line_naming_the_rule(tmp_path):
    with pytest.raises(StackV2Error, match="encoded_data pattern base64"):
        make_filter("encoded_data", {**RULES["encoded_data"], "patterns": {"base64": "[unclosed"}})
    with pytest.raises(StackV2Error, match="quality filter alpha_fraction"):
        make_filter("alpha_fraction", {"min_fraction": 0.25})
    bad = tmp_path / "rules.yaml"
    bad.write_text("long_lines: {}\n")
    with pytest.raises(StackV2Error, match=f"quality rules {bad}: expected exactly the sections"):
        default_rules(bad)


def test_first_lines_is_splitlines_head_wherever_the_prefix_is_cut():
    rng = random.Random(3)
    breaks = ["\n", "\r", "\r\n", "\x0b", "\x1c", "\u2028", "\x85", "x", "y", " "]
    for _ in range(2000):
        text = "".join(rng.choice(breaks) for _ in range(rng.randrange(40)))
        n, start = rng.randrange(1, 6), rng.randrange(1, 8)
        assert first_lines(text, n, start) == text.splitlines()[:n]
    assert first_lines("a\r\nb\nc", 2, start=2) == ["a", "b"]  # the first prefix ends inside "\r\n"
