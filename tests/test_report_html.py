"""`stack-v2 report`: the HTML report and its PNG plots, on a dataset built from real repositories, one of them
with a repository name and a file name that are HTML; the page is opened in headless Chromium."""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
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
from stack_v2.report_html.plots import KEPT
from stack_v2.report_html.stats import collect

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


def test_the_build_writes_the_report_and_the_card_shows_its_plots(dataset):
    assert (dataset / "report" / "index.html").is_file()
    card = (dataset / "README.md").read_text()
    assert card.count(PLOTS_BEGIN) == 1 and card.count(PLOTS_END) == 1
    for name in PLOT_NAMES:
        assert f"(report/{name}.png)" in card
        with Image.open(dataset / "report" / f"{name}.png") as png:
            assert png.format == "PNG" and png.size[0] == 1000
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
    assert urls and all(u.startswith(("data:image/png;base64,", "#")) for u in urls), [u[:60] for u in urls]
    assert not {t for t, _ in tags} & {"script", "link", "iframe", "object", "embed", "base", "frame"}
    assert not [(t, k) for t, attrs in tags for k in attrs if k.startswith("on")]  # no event handler anywhere
    assert not re.search(r"@import|url\(", page, re.IGNORECASE)  # the CSS loads nothing either
    assert [t for t, _ in tags].count("img") == len(PLOT_NAMES)
    for raw in (EVIL_REPO, EVIL_FILE):
        assert raw not in page and e(raw) in page


def test_report_beside_another_file_leaves_the_card_alone(dataset, tmp_path):
    card = (dataset / "README.md").read_text()
    out = tmp_path / "elsewhere" / "report.html"
    assert main(["report", str(dataset), "--output", str(out), "--top", "2"]) == 0
    assert out.is_file() and sorted(p.name for p in out.parent.glob("*.png")) == sorted(f"{n}.png" for n in PLOT_NAMES)
    assert (dataset / "README.md").read_text() == card
    # running the report again rewrites the card's plots section in place, it does not add a second one
    assert main(["report", str(dataset)]) == 0
    assert (dataset / "README.md").read_text().count(PLOTS_BEGIN) == 1


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
        images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
        sections: document.querySelectorAll('section').length,
        evil: document.querySelectorAll('main b, main img:not([src^="data:"])').length,
    })""",
    )
    (tmp_path / "screenshot.png").write_bytes(result.screenshot)  # kept with the test's files when it fails
    assert result.problems() == []
    assert all(u == page.as_uri() or u.startswith("data:image/png;base64,") for u in result.requests), [
        u[:80] for u in result.requests
    ]
    info = result.evaluated
    assert info["title"] == "stack-v2 report: report-test"
    assert len(info["images"]) == len(PLOT_NAMES) and all(ok and w == 1000 and h > 100 for ok, w, h in info["images"])
    assert info["sections"] >= 6 and info["evil"] == 0  # the names are text: no <b> or external <img> element
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
    from stack_v2.report_html.stats import Count, DatasetStats, SizeStats

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
    assert [t for t, _ in tags].count("img") == len(PLOT_NAMES)  # the plots only
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
    assert Image.open(io.BytesIO(plot.png)).size[0] == 1000


def test_plots_are_the_bytes_savefig_writes(dataset, monkeypatch):
    """plots._png draws once and encodes the canvas's pixels; savefig (two drawings) gives the same PNG."""
    from stack_v2.report_html import plots
    from stack_v2.report_html.stats import REPOS_PER_PASS, collect

    stats = collect(str(dataset), 15, REPOS_PER_PASS)
    ours = [p.png for p in plots.render_all(stats)]

    def savefig_png(fig):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=plots.DPI, metadata={"Software": None})
        return buf.getvalue()

    monkeypatch.setattr(plots, "_png", savefig_png)
    assert ours == [p.png for p in plots.render_all(stats)]
