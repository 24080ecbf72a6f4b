"""`stack-v2 report`: the HTML report and its SVG plots, on a dataset built from real repositories, one of them
with a repository name and a file name that are HTML; the page is opened in headless Chromium."""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from chromium import INSTALL_HINT, find_chromium, open_page
from gitrepos import EMAIL_SRC, JSON_SRC, git, init, make_library_repo
from occurrences import occurrence
from PIL import Image

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.demo import make_demo_repos
from stack_v2.io.card import PLOTS_BEGIN, PLOTS_END
from stack_v2.report_html import write_report_or_warn
from stack_v2.report_html.markup import e
from stack_v2.report_html.plots import DROPPED, KEPT, LABEL_CHARS, NEUTRAL
from stack_v2.report_html.stats import Count, DatasetStats, SizeStats, collect, top_languages

PLOT_NAMES = ("languages", "licenses", "funnel", "sizes", "repositories")
# A repository and a file whose names are markup: shown as text, never run (the page has a CSP and no script).
EVIL_REPO = "<img src=x onerror=console.error('repo')>$x$"
EVIL_FILE = "<b onmouseover=\"console.error('path')\">&'.py"
RECIPE = """\
name: report-test
stages:
  - stage: select_repositories
  - stage: exact_dedup
  - stage: fetch_decode
    concurrency: 4
  - stage: language
  - stage: long_lines
output:
  target_shard_bytes: 200000
  manifest_rows_per_shard: 40
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report-html")
    repos = [make_library_repo(root)] + [Path(p) for p in make_demo_repos(str(root / "demo"), packages=("http",))]
    evil = init(root / EVIL_REPO)
    shutil.copy(EMAIL_SRC / "_header_value_parser.py", evil / EVIL_FILE)  # the largest file of all
    shutil.copy(JSON_SRC / "scanner.py", evil / "scanner.py")  # an exact duplicate of jsonlib's
    # one line of 4 kB of JavaScript: long_lines drops it
    (evil / "modules.js").write_text(f"export const modules = {json.dumps(sorted(sys.stdlib_module_names))};\n")
    (evil / "run.sh").write_text('#!/bin/sh\nset -e\nexec python3 -m json.tool "$@"\n')
    git(evil, "add", "-A")
    git(evil, "commit", "-qm", "evil names", date="2022-02-02T02:02:02+0000")
    repos.append(evil)
    archive = root / "archive"
    import_git([str(p) for p in repos], str(archive))
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    out = root / "dataset"
    assert main(["build", "--archive", str(archive), "--output", str(out), "--pipeline", str(recipe), "--quiet"]) == 0
    return out


def manifest(dataset: Path) -> pl.DataFrame:
    return pl.read_parquet(str(dataset / "manifest" / "*.parquet"), columns=["repo_name", "path", "length_bytes"])


SVG = "{http://www.w3.org/2000/svg}"


def svg(root: ET.Element) -> ET.Element:
    """``root`` checked to be an SVG document 1000 px wide whose viewBox is its size."""
    assert root.tag == f"{SVG}svg" and root.get("width") == "1000"
    assert root.get("viewBox") == f"0 0 1000 {root.get('height')}" and float(root.get("height")) >= 240
    return root


def bars(root: ET.Element, fill: str) -> list[tuple[float, float, float]]:
    """(x, y, width) of the bars of colour ``fill``, in the order they are drawn."""
    return [
        (float(r.get("x")), float(r.get("y")), float(r.get("width")))
        for r in root.iter(f"{SVG}rect")
        if r.get("class") == "bar" and r.get("fill") == fill
    ]


def texts(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter(f"{SVG}text")]


def assert_proportional(widths: list[float], values: list[float]) -> None:
    """Bar widths are the values at one scale (to the 0.1 px they are written with)."""
    assert len(widths) == len(values) and max(values) > 0
    px = max(widths) / max(values)
    assert px > 0 and all(abs(w - v * px) <= 0.15 for w, v in zip(widths, values)), (widths, values)


def test_the_build_writes_the_report_and_the_card_shows_its_plots(dataset):
    assert (dataset / "report" / "index.html").is_file()
    card = (dataset / "README.md").read_text()
    assert card.count(PLOTS_BEGIN) == 1 and card.count(PLOTS_END) == 1
    for name in PLOT_NAMES:
        assert f"(report/{name}.svg)" in card
        svg(ET.parse(dataset / "report" / f"{name}.svg").getroot())  # an SVG document, 1000 px wide
    # the plots sit between the summary and the list of files
    assert card.index(PLOTS_BEGIN) < card.index("## Files") < card.index("## Funnel")


def test_report_command_writes_the_numbers_of_report_json_and_the_manifest(dataset, capsys):
    assert main(["report", str(dataset), "--top", "3"]) == 0
    assert "report written to" in capsys.readouterr().err
    page = (dataset / "report" / "index.html").read_text()
    report = json.loads((dataset / "report.json").read_text())
    assert report["accounting"] == "ok"
    kept = report["totals"]["kept"]
    assert f"{kept['files']:,} files ({kept['bytes'] / 1e6:,.2f} MB) kept" in page
    cells = re.compile(r"<tr[^>]*>(.*?)</tr>", re.DOTALL)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in cells.findall(page)]
    for st in report["stages"]:  # the funnel table: in, kept, dropped, failed per stage
        assert [st["stage"], *(f"{st[k]['files']:,}" for k in ("input", "kept", "dropped", "failed"))] in [
            r[:5] for r in rows
        ]
        for reason, c in st["reasons"]["dropped"].items():
            assert [st["stage"], "dropped", reason, f"{c['files']:,}"] in [r[:4] for r in rows]
    assert report["filters"]["rules"]  # the paper's filter table: the JavaScript line is too long
    for rule in report["filters"]["rules"]:
        row = [rule["filter"], rule["reason"], f"{rule['files']:,}", f"{rule['files_pct']:.2f}"]
        assert row in [r[:4] for r in rows]
    assert {"Python", "Markdown", "Shell"} <= set(report["languages"])
    for language, c in report["languages"].items():
        assert [language, f"{c['files']:,}"] in [r[:2] for r in rows]
    # top repositories and largest files, against the manifest read here with polars
    files = manifest(dataset)
    by_repo = files.group_by("repo_name").agg(pl.len().alias("files"), pl.col("length_bytes").sum().alias("bytes"))
    assert f"{by_repo.height:,} repositories have kept files" in page
    top = by_repo.sort(["files", "bytes", "repo_name"], descending=[True, True, False]).head(3)
    for repo, n, nbytes in top.iter_rows():
        assert [e(repo), f"{n:,}", f"{nbytes / 1e6:,.2f}", f"{nbytes:,}"] in rows
    largest = files.sort("length_bytes", descending=True).row(0, named=True)
    assert [e(largest["repo_name"]), e(largest["path"]), "Python", f"{largest['length_bytes']:,}"] in rows
    assert largest["path"] == EVIL_FILE and largest["repo_name"] == f"local/{EVIL_REPO}"
    assert ["kept", f"{files.height:,}", f"{files['length_bytes'].sum():,}"] in [r[:3] for r in rows]  # sizes


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_is_self_contained_and_escapes_names(dataset):
    main(["report", str(dataset)])
    page = (dataset / "report" / "index.html").read_text()
    tags = Elements(page).tags
    urls = [v for _, attrs in tags for k, v in attrs.items() if k in ("src", "href", "srcset", "action", "data")]
    assert urls and all(u.startswith("#") for u in urls), [u[:60] for u in urls]  # only links within the page
    assert not {t for t, _ in tags} & {"script", "link", "iframe", "object", "embed", "base", "frame", "img"}
    assert not [(t, k) for t, attrs in tags for k in attrs if k.startswith("on")]  # no event handler anywhere
    assert not re.search(r"@import|url\(", page, re.IGNORECASE)  # the CSS loads nothing either
    assert [t for t, _ in tags].count("svg") == len(PLOT_NAMES)  # the plots, inline
    figures = [a["id"] for t, a in tags if t == "figure"]
    assert figures == ["plot-funnel", "plot-languages", "plot-licenses", "plot-sizes", "plot-repositories"]
    for raw in (EVIL_REPO, EVIL_FILE):
        assert raw not in page and e(raw) in page


def test_report_beside_another_file_leaves_the_card_alone(dataset, tmp_path):
    card = (dataset / "README.md").read_text()
    out = tmp_path / "elsewhere" / "report.html"
    out.parent.mkdir()
    (out.parent / "sizes.png").write_bytes(b"someone else's")
    assert main(["report", str(dataset), "--output", str(out), "--top", "2"]) == 0
    assert out.is_file() and sorted(p.name for p in out.parent.glob("*.svg")) == sorted(f"{n}.svg" for n in PLOT_NAMES)
    assert (dataset / "README.md").read_text() == card and (out.parent / "sizes.png").is_file()
    # running the report again rewrites the card's plots section in place, it does not add a second one, and
    # removes the PNG plots of an older stack-v2 (stale numbers) from the dataset's report/, nothing else
    for name in ("sizes.png", "mine.png"):
        (dataset / "report" / name).write_bytes(b"an older plot")
    assert main(["report", str(dataset)]) == 0
    assert (dataset / "README.md").read_text().count(PLOTS_BEGIN) == 1
    assert sorted(p.name for p in (dataset / "report").glob("*.png")) == ["mine.png"]
    (dataset / "report" / "mine.png").unlink()


def test_top_repositories_are_the_same_in_one_pass_and_in_many(dataset):
    one = collect(str(dataset), top=4)
    many = collect(str(dataset), top=4, repos_per_pass=7)  # a pass per 7 manifest rows: several partitions
    assert one.repositories == many.repositories == manifest(dataset)["repo_name"].n_unique()
    assert one.top_repos_by_files == many.top_repos_by_files and one.top_repos_by_bytes == many.top_repos_by_bytes
    assert one.kept_sizes.files == manifest(dataset).height == int(one.kept_sizes.bins.sum())
    assert one.kept_sizes.total == manifest(dataset)["length_bytes"].sum()


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no report.json" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_a_report_that_cannot_be_written_does_not_fail_the_caller(dataset, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken, ignore=shutil.ignore_patterns("data"))
    (broken / "manifest" / "part-99999-of-99999.parquet").write_bytes(b"not parquet")
    assert write_report_or_warn(str(broken)) is None
    assert "warning: the HTML report and plots were not written" in capsys.readouterr().err


def test_report_opens_in_headless_chromium_without_errors(dataset, tmp_path):
    if find_chromium() is None:
        pytest.fail(INSTALL_HINT)
    main(["report", str(dataset)])
    page = dataset / "report" / "index.html"
    result = open_page(
        page.as_uri(),
        width=1280,
        height=900,
        expression="""({
        title: document.title,
        images: document.images.length,
        plots: Array.from(document.querySelectorAll('figure > svg')).map(s => [s.clientWidth, s.clientHeight]),
        repos: Array.from(document.querySelectorAll('#plot-repositories text')).map(t => t.textContent),
        sections: document.querySelectorAll('section').length,
        evil: document.querySelectorAll('main b, main img').length,
    })""",
    )
    (tmp_path / "screenshot.png").write_bytes(result.screenshot)  # kept with the test's files when it fails
    assert result.problems() == []
    assert result.requests == [page.as_uri()], [u[:80] for u in result.requests]  # the plots load nothing
    info = result.evaluated
    assert info["title"] == "stack-v2 report: report-test"
    assert info["images"] == 0 and len(info["plots"]) == len(PLOT_NAMES)
    assert all(w == 1000 and h >= 240 for w, h in info["plots"]), info["plots"]
    assert info["sections"] >= 6 and info["evil"] == 0  # the names are text: no <b> or <img> element
    assert f"local/{EVIL_REPO}"[: LABEL_CHARS - 1] + "…" in info["repos"]  # drawn in the plot as text
    with Image.open(io.BytesIO(result.screenshot)) as shot:
        assert shot.format == "PNG" and shot.size == (1280, 900)
        pixels = np.asarray(shot.convert("RGB"), dtype=np.int16)
    assert pixels.std() > 20  # not blank
    kept_colour = np.array([int(KEPT[i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels - kept_colour).sum(axis=2) < 30).sum() > 2000  # the funnel plot is drawn on screen


class Texts(HTMLParser):
    """The text of every h1 and title of a page, entities decoded, as a browser shows it."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.open: str | None = None
        self.texts: dict[str, list[str]] = {}
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.open = tag if tag in ("h1", "title") else None

    def handle_endtag(self, tag):
        self.open = None

    def handle_data(self, data):
        if self.open:
            self.texts.setdefault(self.open, []).append(data)


def test_hostile_recipe_name_and_report_texts_are_only_escaped():
    """The page from a report whose recipe name, archive and other texts are HTML (no build needed)."""
    from stack_v2.report_html.page import render
    from stack_v2.report_html.plots import render_all

    name = "Evil <script>alert('name')</script>\n---\n| \"quoted\" 'single' &amp;"
    evil = "<script>alert('{}')</script><img src=x onerror=alert(1)>"
    report = {
        "run": {"recipe": name, "archive": evil.format("archive")},
        "accounting": [evil.format("accounting")],
        "totals": {k: {"files": 3, "bytes": 3000} for k in ("input", "kept")}
        | {k: {"files": 0, "bytes": 0} for k in ("dropped", "failed")},
        "stages": [
            {
                "stage": evil.format("stage"),
                "input": {"files": 4, "bytes": 4000},
                "kept": {"files": 3, "bytes": 3000},
                "dropped": {"files": 1, "bytes": 1000},
                "failed": {"files": 0, "bytes": 0},
                "reasons": {"dropped": {evil.format("reason"): {"files": 1, "bytes": 1000}}},
            }
        ],
        "languages": {evil.format("language"): {"files": 3, "bytes": 3000}},
        "optouts": {
            "files_removed": 1,
            "bytes_removed": 10,
            "repositories_removed": 1,
            "applications": [
                {"applied_at": evil.format("applied"), "requests": 1, "files_removed": 1, "repositories_removed": 1}
            ],
        },
    }
    sizes = SizeStats()
    sizes.add(np.array([1000, 1000, 1000]))
    stats = DatasetStats(
        dataset="hostile",
        report=report,
        top=5,
        shards={"manifest": 1, "dropped": 1},
        license_types={evil.format("type"): Count(3, 3000)},
        detected_licenses={evil.format("license"): Count(3, 3000)},
        dropped_licenses={},
        kept_sizes=sizes,
        dropped_sizes=SizeStats(),
        repositories=1,
        top_repos_by_files=[(evil.format("repo"), 3, 3000)],
        top_repos_by_bytes=[(evil.format("repo"), 3, 3000)],
        largest_files=[
            {
                "repo_name": evil.format("repo"),
                "path": evil.format("path"),
                "language": evil.format("language"),
                "length_bytes": 1000,
            }
        ],
    )
    page = render(stats, render_all(stats))
    tags = Elements(page).tags
    assert not {t for t, _ in tags} & {"script", "iframe", "object", "embed"}
    assert [t for t, _ in tags].count("svg") == len(PLOT_NAMES) and "img" not in {t for t, _ in tags}
    assert not [(t, k) for t, attrs in tags for k in attrs if k.startswith("on")]
    assert "<script" not in page and page.count("&lt;script&gt;") >= 10
    texts = Texts(page).texts
    assert "".join(texts["h1"]) == f"Dataset report: {name}" and "".join(texts["title"]) == f"stack-v2 report: {name}"


def test_licenses_plot_draws_a_license_as_dropped_only_for_the_drops_it_decided(tmp_path):
    """A GPL + MIT repository is dropped because of GPL, a repository whose GHArchive license is GPL-2.0 because
    of that license: MIT and Apache-2.0, found beside them, decided nothing and get no dropped count."""

    import pyarrow as pa
    import pyarrow.parquet as pq

    from stack_v2.io.rows import dropped_dict, manifest_row
    from stack_v2.io.schema import DROPPED_SCHEMA, MANIFEST_SCHEMA
    from stack_v2.licenses.classify import load_non_license, load_permissive
    from stack_v2.report_html.plots import licenses_plot
    from stack_v2.stages.base import Drop, dropped_row
    from stack_v2.stages.license import classify_record
    from stack_v2.stages.select_repos import record_from_occurrence

    def record(repo: str, gha_license_id: str | None):
        content = (JSON_SRC / "decoder.py").read_text()
        occ = occurrence(repo, "json/decoder.py", content.encode())
        return record_from_occurrence(occ, {"gha_license_id": gha_license_id})

    permissive, non_license = load_permissive(), load_non_license()
    cases = [
        (record("a/dual", None), ["GPL-3.0-only", "MIT"]),
        (record("b/gha", "GPL-2.0"), ["Apache-2.0"]),
        (record("c/mit", None), ["MIT"]),
    ]
    kept, dropped = [], []
    for rec, licenses in cases:
        verdict = classify_record(rec, [("", licenses, "")], permissive, non_license)
        if isinstance(verdict, Drop):
            dropped.append(dropped_dict(dropped_row(rec, "license", verdict)))
        else:
            kept.append(manifest_row(verdict))
    assert [d["repo_name"] for d in dropped] == ["a/dual", "b/gha"]
    for name, rows, schema in (("manifest", kept, MANIFEST_SCHEMA), ("dropped", dropped, DROPPED_SCHEMA)):
        (tmp_path / name).mkdir()
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / name / "part-00000-of-00001.parquet")
    (tmp_path / "report.json").write_text(json.dumps({"stages": [], "languages": {}}))
    stats = collect(str(tmp_path))
    assert set(stats.detected_licenses) == {"MIT"}  # the kept file
    assert {n: c.files for n, c in stats.dropped_licenses.items()} == {"GPL-3.0-only": 1, "GPL-2.0 (GHArchive)": 1}
    plot = licenses_plot(stats)
    assert "permissive licenses found beside them are not counted as dropped" in plot.title
    root = svg(ET.fromstring(plot.svg))
    # the detected licenses' panel (the right half): kept and dropped bars per name, MIT first
    names = [t.text for t in root.iter(f"{SVG}text") if float(t.get("x")) > 500 and t.get("text-anchor") == "end"]
    assert names == ["MIT", *stats.dropped_licenses]
    kept = [w for x, _, w in bars(root, KEPT) if x > 500]
    dropped = [w for x, _, w in bars(root, DROPPED) if x > 500]
    assert kept[0] > 0 and kept[1:] == [0, 0]
    assert dropped[0] == 0 and dropped[1] == dropped[2] > 0  # no red bar for MIT, found beside GPL-3.0-only


def test_each_plot_is_an_svg_with_a_bar_per_label_sized_by_its_value(dataset):
    from stack_v2.report_html.plots import render_all

    stats = collect(str(dataset), top=15)
    plots = render_all(stats)
    assert [p.name for p in plots] == list(PLOT_NAMES)
    assert [p.svg for p in render_all(stats)] == [p.svg for p in plots]  # the same stats give the same text
    roots = {p.name: svg(ET.fromstring(p.svg)) for p in plots}

    def check(name: str, fill: str, rows: list[tuple[str, float]], left: bool = True):
        """One bar per row in the panel (left or right half) of ``name``, first row on top, and its label."""
        drawn = [(y, w) for x, y, w in bars(roots[name], fill) if (x < 500) == left]
        assert [y for y, _ in drawn] == sorted(y for y, _ in drawn)
        assert_proportional([w for _, w in drawn], [v for _, v in rows])
        labels = [n if len(n) <= LABEL_CHARS else n[: LABEL_CHARS - 1] + "…" for n, _ in rows]
        assert set(labels) <= set(texts(roots[name]))

    languages = top_languages(stats.report["languages"], stats.top)
    check("languages", NEUTRAL, [(n, files) for n, files, _ in languages])
    check("languages", KEPT, [(n, nbytes) for n, _, nbytes in languages], left=False)
    check("repositories", NEUTRAL, [(r, files) for r, files, _ in stats.top_repos_by_files])
    check("repositories", KEPT, [(r, nbytes) for r, _, nbytes in stats.top_repos_by_bytes], left=False)
    stages = stats.report["stages"]
    check("funnel", KEPT, [(st["stage"], st["kept"]["files"]) for st in stages])
    check("funnel", KEPT, [(st["stage"], st["kept"]["bytes"]) for st in stages], left=False)
    # each stage's removed files, in red at the end of its bar: long_lines dropped the JavaScript line
    removed = {st["stage"]: st["dropped"]["files"] + st["failed"]["files"] for st in stages}
    assert removed["long_lines"] >= 1
    notes = [t.text for t in roots["funnel"].iter(f"{SVG}text") if t.get("fill") == DROPPED]
    assert [f"−{n:,}" for n in removed.values() if n] == [n for n in notes if "B" not in n]
    # sizes: a step line per outcome, and the kept files' count in the legend
    lines = {p.get("stroke"): p.get("points") for p in roots["sizes"].iter(f"{SVG}polyline")}
    assert set(lines) == {KEPT, DROPPED} and all(len(p.split()) >= 4 for p in lines.values())
    assert f"kept ({stats.kept_sizes.files:,} files)" in texts(roots["sizes"])


def stats_of(names: dict[str, str], sizes: tuple[int, ...] = ()) -> DatasetStats:
    """Stats with one language, license, stage and repository, named after ``names``."""
    kept = SizeStats()
    kept.add(np.array(sizes, dtype=np.int64))  # (empty: no file)
    one = {"files": 3, "bytes": 3000}
    none = {"files": 0, "bytes": 0}
    stage = {"stage": names.get("stage", "s"), "kept": one, "dropped": one, "failed": none}
    repos = [(names["repo"], 3, 3000)] if "repo" in names else []
    return DatasetStats(
        dataset="x",
        report={
            "stages": [stage] if "stage" in names else [],
            "languages": {names["language"]: one} if "language" in names else {},
        },
        top=5,
        shards={"manifest": 1, "dropped": 1},
        license_types={names["license"]: Count(3, 3000)} if "license" in names else {},
        detected_licenses={names["license"]: Count(3, 3000)} if "license" in names else {},
        dropped_licenses={},
        kept_sizes=kept,
        dropped_sizes=SizeStats(),
        repositories=len(repos),
        top_repos_by_files=repos,
        top_repos_by_bytes=repos,
        largest_files=[],
    )


def test_plots_write_names_from_the_data_as_text():
    """Names holding markup, entities, quotes, dollars or a control character come out as text in valid XML."""
    from stack_v2.report_html.plots import render_all

    names = {
        "repo": 'a/<b>&amp;"x"$y$</text><script>',
        "language": "C<&>'\"$x$",
        "license": "<g onload=alert(1)>",
        "stage": "st&ge\x01",
    }
    shown = set()
    for plot in render_all(stats_of(names, (10, 3000))):
        root = svg(ET.fromstring(plot.svg))  # it parses: every name is escaped
        tags = {el.tag.removeprefix(SVG) for el in root.iter()}
        assert tags <= {"svg", "rect", "line", "text", "polyline"}  # no element, nor attribute, from a name
        assert not [k for el in root.iter() for k in el.attrib if k.startswith("on")]
        assert not [raw for raw in names.values() if raw in plot.svg]
        shown.update(texts(root))
    # each name is shown as it is (the control character, which XML cannot hold, as U+FFFD)
    assert {names["repo"], names["language"], names["license"], "st&ge\ufffd"} <= shown


def test_plots_of_nothing_say_so():
    from stack_v2.report_html.plots import render_all

    shown = {p.name: texts(svg(ET.fromstring(p.svg))) for p in render_all(stats_of({}))}
    assert shown == {
        "languages": ["no files kept"],
        "licenses": ["no license information", "no license detected in any file"],
        "funnel": ["no stages"],
        "sizes": ["no file with a size"],
        "repositories": ["nothing to show", "nothing to show"],
    }
