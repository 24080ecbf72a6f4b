"""Pure cores of the build's stages, without Beam: decode, language, rankings, recipe, report, rows."""

from __future__ import annotations

import email.charset
import json
from pathlib import Path

import pytest

from stack_v2.decode import decode_content
from stack_v2.errors import StackV2Error
from stack_v2.io.parquet import micros_to_ns, stable_bucket
from stack_v2.io.report import accounting_violations, build_report
from stack_v2.io.rows import file_swhid, path_bytes
from stack_v2.recipe import load_recipe
from stack_v2.records import FileOccurrence, decode_path, extension_of
from stack_v2.stages.base import Drop
from stack_v2.stages.exact_dedup import dedup_verdict, occurrence_rank
from stack_v2.stages.language import classify
from stack_v2.stages.select_repos import record_from_occurrence, repository_rank

REAL_TEXT = Path(email.charset.__file__).read_text()  # a real source file of the standard library


def occurrence(origin="https://github.com/a/b", path="src/x.py", **kw) -> FileOccurrence:
    base = dict(
        origin=origin,
        repo_name=origin.split("github.com/")[-1],
        snapshot_id="1" * 40,
        branch_name="refs/heads/main",
        revision_id="2" * 40,
        revision_date=1_000,
        committer_date=1_000,
        visit_date=2_000,
        directory_id="3" * 40,
        path=path,
        blob_id="4" * 40,
        content_id="5" * 40,
        length=10,
        perms=0o100644,
        content_status="visible",
    )
    return FileOccurrence(**{**base, **kw})


def record(meta=None, **kw):
    return record_from_occurrence(occurrence(**kw), meta)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (REAL_TEXT.encode(), (REAL_TEXT, "UTF-8")),
        (b"abc\0def", Drop("binary", "contains NUL bytes")),
        ("Le café est prêt, déjà servi à la française.\n".encode("latin-1"), "decoded"),  # legacy 8-bit text
        (REAL_TEXT.encode()[:500] + b"\xff" + REAL_TEXT.encode()[500:], "undecodable"),  # UTF-8 with a stray byte
        (b"", ("", "UTF-8")),
    ],
)
def test_decode_content(data, expected):
    result = decode_content(data)
    if expected == "decoded":
        assert result[0] == data.decode(result[1]) and result[1] != "UTF-8"
    elif expected == "undecodable":
        assert isinstance(result, Drop) and result.reason == "undecodable"
    else:
        assert result == expected


def test_language_classification_uses_path_and_content():
    python = classify(record(path="tool")._replace(content="#!/usr/bin/env python3\nimport os\n"))
    assert python.language == "Python" and python.is_vendor is False
    vendored = classify(record(path="node_modules/left-pad/index.js")._replace(content="module.exports = 1;\n"))
    assert vendored.language == "JavaScript" and vendored.is_vendor is True
    minified = classify(record(path="static/app.min.js")._replace(content="var a=1;" * 50))
    assert minified.is_generated is True
    assert classify(record(path="data.unknownext")._replace(content="")) == Drop("no_language", "extension=unknownext")


def test_repository_rank_follows_the_paper():
    licensed = record({"gha_license_id": "MIT"}, origin="https://github.com/z/licensed")
    starred = record({"star_events_count": 100}, origin="https://github.com/y/starred")
    older = record(origin="https://github.com/x/older", revision_date=10)
    plain = record(origin="https://github.com/w/plain")
    ranked = sorted([plain, older, starred, licensed], key=repository_rank)
    assert [r.origin for r in ranked] == [licensed.origin, starred.origin, older.origin, plain.origin]


def test_occurrence_rank_and_verdict():
    permissive = frozenset({"MIT"})
    a = record({"gha_license_id": "MIT"}, origin="https://github.com/a/a", path="x.py")
    b = record({"star_events_count": 5}, origin="https://github.com/b/b", path="x.py")
    c = record(origin="https://github.com/c/c", path="x.py", revision_date=5_000)
    assert sorted([c, b, a], key=lambda r: occurrence_rank(r, permissive)) == [a, b, c]
    assert sorted([c, b], key=lambda r: occurrence_rank(r, frozenset())) == [b, c]  # stars, then latest revision
    keeper = (occurrence_rank(a, permissive), a.origin, a.path, a.repo_name)
    assert dedup_verdict(a, keeper) is a
    assert dedup_verdict(b, keeper) == Drop("exact_duplicate", "kept a/a:x.py")


def test_swhid_keeps_raw_path_bytes():
    path = decode_path(b"docs/caf\xe9 v1;2.txt")
    assert path_bytes(path) == b"docs/caf\xe9 v1;2.txt"
    swhid = file_swhid(record(path=path))
    assert swhid.endswith(";path=/docs/caf%E9%20v1%3B2.txt")
    assert swhid.startswith("swh:1:cnt:" + "5" * 40 + ";origin=https://github.com/a/b;visit=swh:1:snp:")


def test_small_helpers():
    assert [extension_of(p) for p in ("a/b.py", "Makefile", ".bashrc", "x.tar.gz")] == ["py", "", "", "gz"]
    assert micros_to_ns(1) == 1000 and micros_to_ns(10**17) is None and micros_to_ns(None) is None
    assert stable_bucket("abc", 7) == stable_bucket("abc", 7) and 0 <= stable_bucket("abc", 7) < 7


def test_report_accounting():
    entries = [
        (("select", "input", ""), (10, 100)),
        (("select", "kept", ""), (8, 80)),
        (("select", "dropped", "duplicate_repository"), (2, 20)),
        (("lang", "input", ""), (8, 80)),
        (("lang", "kept", ""), (7, 70)),
        (("lang", "dropped", "no_language"), (1, 10)),
        (("@languages", "Python", ""), (7, 70)),
    ]
    report = build_report(entries, ["select", "lang"])
    assert accounting_violations(report) == []
    assert report["languages"] == {"Python": {"files": 7, "bytes": 70}}
    assert report["totals"]["dropped"] == {"files": 3, "bytes": 30}
    broken = build_report(entries[:-2], ["select", "lang"])  # lang lost a file
    assert accounting_violations(broken) == [
        "stage lang: input 8 != kept+dropped+failed 7",
        "totals: input != kept + dropped + failed",
    ]
    json.dumps(report)  # serialisable as written


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stages: [{stage: select_repositories}, {stage: shine}]", "unknown stage 'shine'"),
        (
            "stages: [{stage: select_repositories, colour: red}]",
            "stage select_repositories: unknown parameter(s) ['colour']",
        ),
        ("stages: [{stage: select_repositories}, {stage: language}]", "stage language needs fetch_decode before it"),
        (
            "stages: [{stage: select_repositories}]\noutput: {manifest_rows_per_shard: 0}",
            "output.manifest_rows_per_shard",
        ),
        ("stages: [{stage: select_repositories}\n", "not valid YAML"),
        ("title: x", "unknown key(s) ['title']"),
    ],
)
def test_recipe_errors_name_the_file(tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(StackV2Error) as info:
        load_recipe(str(path))
    assert str(info.value).startswith(f"recipe {path}: ") and message in str(info.value)


def test_shipped_recipes_load():
    default = load_recipe(None)
    assert default.name == "the-stack-v2"
    assert default.stage_names == [
        "select_repositories",
        "license",
        "exact_dedup",
        "fetch_decode",
        "language",
        "near_dedup",
        "select_languages",
        "long_lines",
        "autogenerated",
        "alpha_fraction",
        "encoded_data",
        "language_specific",
        "decontaminate",
        "malware",
        "pii",
        "notebooks",
    ]
    assert default.stage("fetch_decode").params["max_length"] == 10 * 1024 * 1024
    # filter defaults come from filters/quality/source_code.yaml, recipes may override them
    assert default.stage("alpha_fraction").params == {
        "min_fraction": 0.25,
        "alphanumeric_languages": ["Motorola 68K Assembly", "WebAssembly"],
    }
    smol = load_recipe("the-stack-v2-smol")
    assert smol.stage("select_languages").params["keep_set"] == "smol"
    assert load_recipe("demo").name == "demo"
    with pytest.raises(StackV2Error, match="recipe 'nope' not found"):
        load_recipe("nope")


def test_a_core_error_fails_the_record_without_quoting_its_content():
    """An exception's message may quote the file (``int('...')``): the dropped row names where it was raised."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from stack_v2.stages.base import ApplyCore

    secret_line = Path(json.__file__).read_text().splitlines()[0]  # a real file's first line, as content

    def core(rec):
        return int(rec.content)  # ValueError: invalid literal for int() with base 10: '<the content>'

    with beam.Pipeline() as p:
        out = p | beam.Create([record()._replace(content=secret_line)]) | ApplyCore("parse", lambda: core)
        details = out["dropped"] | beam.Map(lambda d: (d.outcome, d.reason, d.detail))
        assert_that(
            details,
            equal_to([("failed", "error", f"ValueError at test_stages.py:{core.__code__.co_firstlineno + 1} (core)")]),
        )


def test_consecutive_one_record_stages_run_as_one_dofn():
    """The paper's recipe: language alone between fetch_decode and near_dedup, and the selection, quality,
    decontamination and PII stages after near_dedup in one ParDo (malware is off without signatures)."""
    import apache_beam as beam

    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.build import BuildRequest, construct

    fixture = Path(__file__).resolve().parent / "fixtures" / "swh-graph-example"
    recipe = load_recipe("the-stack-v2")
    p = beam.Pipeline()
    chain = construct(p, BuildRequest(ArchiveLocation(str(fixture)), "unused", recipe), "unused")
    top = {t.unique_name for t in p.to_runner_api().components.transforms.values() if "/" not in t.unique_name}
    after = chain[chain.index("near_dedup") + 1 : chain.index("pii") + 1]
    assert after[0] == "select_languages" and "decontaminate" in after and "malware" not in after
    assert "+".join(after) in top and "language" in top
    assert not {"select_languages", "long_lines", "pii"} & top  # no stage of the run has a transform of its own
