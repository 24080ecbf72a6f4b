"""`stack-v2 serve` ("Am I in The Stack?", issue 20) in a real browser: Debian's headless Chromium driven by
Playwright (tests/browser.py), on a dataset built with the demo recipe from real repositories of two GitHub owners.
An owner looks up their repositories and sees the included files and the dropped ones with the reasons (checked
against the dataset's own manifest/ and dropped/ Parquet), asks to opt one repository out through the form; the
operator lists, approves and applies the request with the CLI; the same server then shows that repository's files
dropped at stage `optout`, and the other owner's files as they were."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlencode

import pyarrow.parquet as pq
import pytest
from browser import (  # noqa: F401 - the fixtures are used by name
    artifact_name,
    browser,
    copy_dataset,
    count,
    lookup,
    page,
    read_all_pages,
    read_lookup,
    serve,
    watch,
)
from gitrepos import make_library_repo, make_sample_repo
from PIL import Image
from playwright.sync_api import expect

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.demo import make_demo_repos

OCTO = ("Octo-Org/jsonlib", "Octo-Org/tools")
HUBOT = ("hubot/py-http", "hubot/py-urllib")
OPTED_OUT = "Octo-Org/jsonlib"
SWH_ARCHIVE = "https://archive.softwareheritage.org/"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Octo-Org/jsonlib (the json package), Octo-Org/tools (a sample project), hubot/py-http and hubot/py-urllib
    (standard-library packages), built with the demo recipe: some files are dropped (exact duplicates, a text file
    name, a low alphabetic fraction)."""
    root = tmp_path_factory.mktemp("serve-browser")
    archive = root / "archive"
    octo = [make_library_repo(root / "octo", "jsonlib"), make_sample_repo(root / "octo", "tools")]
    hubot = [Path(p) for p in make_demo_repos(str(root / "hubot"), packages=("http", "urllib"))]
    import_git([str(p) for p in octo], str(archive), origin_prefix="https://github.com/Octo-Org/")
    import_git([str(p) for p in hubot], str(archive), origin_prefix="https://github.com/hubot/")
    dataset = root / "stack"
    assert main(["build", "--archive", str(archive), "--output", str(dataset), "--pipeline", "demo", "--quiet"]) == 0
    return dataset


def version_id(dataset: Path) -> str:
    """The id of a dataset's current version: the name of the directory ``current`` points to (io/publish.py)."""
    return Path(os.path.realpath(dataset / "current")).name


def expected(dataset: Path) -> dict[str, dict]:
    """Per repository, what the page must show, from the dataset's own Parquet: the manifest's rows by path
    (language, license type, SWHID) and the dropped rows by (path, stage) (outcome, reason, detail)."""
    out: dict[str, dict] = {}
    manifest = pq.read_table(
        str(dataset / "manifest"), columns=["repo_name", "path", "language", "license_type", "swhid"]
    )
    for row in manifest.to_pylist():
        out.setdefault(row["repo_name"], {"included": {}, "dropped": {}})["included"][row["path"]] = row
    for row in pq.read_table(str(dataset / "dropped")).to_pylist():
        out.setdefault(row["repo_name"], {"included": {}, "dropped": {}})["dropped"][(row["path"], row["stage"])] = row
    return out


def shown(page, lookup_result: dict, repo: str) -> dict:
    """The one dataset version shown for ``repo``, with the rows of all its pages."""
    assert repo in lookup_result, f"{repo} not shown; repositories on the page: {sorted(lookup_result)}"
    [dataset] = lookup_result[repo]
    return read_all_pages(page, repo, dataset)


def assert_matches(section: dict, want: dict, dataset: Path) -> None:
    """What the browser shows for one repository and version is what the dataset's Parquet holds."""
    assert section["version"] == version_id(dataset)
    assert count(section["included_count"]) == len(want["included"])
    assert count(section["dropped_count"]) == len(want["dropped"])
    included = {row["path"]: row for row in section["included"]}
    assert set(included) == set(want["included"])
    for path, row in included.items():
        file = want["included"][path]
        assert (row["language"], row["license"]) == (file["language"], file["license_type"]), path
        # the link opens the file in the Software Heritage archive, with its qualifiers (origin, snapshot, path)
        assert unquote(row["swhid_href"]) == SWH_ARCHIVE + file["swhid"], path
        assert file["swhid"].startswith(row["swhid"]), path  # the text: the core SWHID, or all of it
    dropped = {(row["path"], row["stage"]): row for row in section["dropped"]}
    assert set(dropped) == set(want["dropped"])
    for key, row in dropped.items():
        file = want["dropped"][key]
        assert (row["outcome"], row["reason"], row["detail"]) == (file["outcome"], file["reason"], file["detail"] or "")


def test_lookup_shows_included_and_dropped_files_with_reasons(built, serve, page):
    server = serve(built)
    assert server.count == 1 and server.url.startswith("http://127.0.0.1:")
    problems = watch(page, server.url)
    want = expected(built)
    assert set(want) == {*OCTO, *HUBOT}
    assert any(want[r]["dropped"] for r in OCTO) and any(want[r]["dropped"] for r in HUBOT)

    result = lookup(page, server.url, "Octo-Org")
    assert set(result) == set(OCTO)  # the other owner's repositories are not listed
    for repo in OCTO:
        assert_matches(shown(page, result, repo), want[repo], built)

    # Paging: ten rows a page, every page reached through its `next` links, the same files in all.
    page.goto(f"{server.url}lookup?{urlencode({'q': 'Octo-Org/tools', 'per_page': 10})}")
    paged = shown(page, read_lookup(page), "Octo-Org/tools")
    assert paged["pages"] >= -(-len(want["Octo-Org/tools"]["included"]) // 10) > 1
    assert_matches(paged, want["Octo-Org/tools"], built)

    # Case and URL forms find the same repository; an unknown one says so.
    for query in ("https://github.com/HUBOT/py-http.git", "git@github.com:hubot/PY-HTTP"):
        result = lookup(page, server.url, query)
        assert set(result) == {"hubot/py-http"}, query
        assert_matches(shown(page, result, "hubot/py-http"), want["hubot/py-http"], built)
    lookup(page, server.url, "hubot/py-asyncio")
    expect(page.locator("p.not-found")).to_be_visible()
    assert read_lookup(page) == {}
    assert problems == []


def test_optout_request_approved_and_applied_removes_the_files(built, serve, page, tmp_path, capsys):
    dataset = copy_dataset(built, tmp_path / "stack")
    requests_db = tmp_path / "requests.sqlite"
    server = serve(dataset, requests=requests_db)
    problems = watch(page, server.url)
    before = expected(dataset)
    first_version = version_id(dataset)
    hubot_before = {repo: shown(page, lookup(page, server.url, "hubot"), repo) for repo in HUBOT}

    # The owner finds the repository, then asks for it to be removed.
    result = lookup(page, server.url, "octo-org")
    assert set(result) == set(OCTO)
    tools_before = shown(page, result, "Octo-Org/tools")
    page.goto(server.url)
    page.click("#optout-link")
    page.wait_for_url("**/optout")
    reason = "This repository is a copy of the standard library's json package, not my own work."
    page.fill("#owner", "Octo-Org")
    page.fill("#repos", "jsonlib")
    page.fill("#contact", "ada@example.org")
    page.fill("#reason", reason)
    with page.expect_navigation():
        page.click("#optout-submit")
    expect(page.locator("#request-received")).to_be_visible()
    expect(page.locator("#request-id")).to_have_text(re.compile(r"^\s*\d+\s*$"))
    request_id = page.locator("#request-id").text_content().strip()

    # The operator lists the pending requests, approves this one and applies it to the dataset.
    assert main(["optout", "pending", "--requests", str(requests_db), "--json"]) == 0
    [pending] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert pending["id"] == int(request_id) and pending["status"] == "pending"
    assert (pending["owner"], pending["repos"]) == ("Octo-Org", ["jsonlib"])
    assert (pending["contact"], pending["reason"]) == ("ada@example.org", reason)
    approved = tmp_path / "approved.jsonl"
    assert main(["optout", "approve", "--requests", str(requests_db), request_id, "--to", str(approved)]) == 0
    [request] = [json.loads(line) for line in approved.read_text().splitlines()]
    assert (request["owner"], request["repos"]) == ("Octo-Org", ["jsonlib"])
    assert main(["optout", "pending", "--requests", str(requests_db), "--json"]) == 0
    assert capsys.readouterr().out == ""  # approved: no longer pending
    assert main(["optout", "apply", "--requests", str(approved), "--dataset", str(dataset)]) == 0
    capsys.readouterr()
    assert version_id(dataset) != first_version
    after = expected(dataset)
    assert after[OPTED_OUT]["included"] == {}

    # The same server, asked again, shows the new version: the files gone from included, dropped at `optout`.
    result = lookup(page, server.url, "Octo-Org")
    # a repository left without files says why
    expect(page.locator(f'section.repository[data-repo="{OPTED_OUT}"] .no-files')).to_contain_text("optout")
    opted = shown(page, result, OPTED_OUT)
    assert_matches(opted, after[OPTED_OUT], dataset)
    assert opted["included"] == [] and count(opted["included_count"]) == 0
    optout_rows = [row for row in opted["dropped"] if row["stage"] == "optout"]
    assert {row["path"] for row in optout_rows} == set(before[OPTED_OUT]["included"])
    assert all(row["reason"] == "opted_out" for row in optout_rows)
    tools_after = shown(page, result, "Octo-Org/tools")
    assert_matches(tools_after, after["Octo-Org/tools"], dataset)
    assert strip_version(tools_after) == strip_version(tools_before)
    for repo in HUBOT:  # the other owner's files are unchanged
        hubot_after = shown(page, lookup(page, server.url, "hubot"), repo)
        assert_matches(hubot_after, after[repo], dataset)
        assert strip_version(hubot_after) == strip_version(hubot_before[repo])
    assert problems == []


def strip_version(section: dict) -> dict:
    """The rows and counts of a section, without what changes with every version (its id, paging links)."""
    return {
        "included_count": section["included_count"],
        "dropped_count": section["dropped_count"],
        "included": sorted(section["included"], key=lambda r: r["path"]),
        "dropped": sorted(section["dropped"], key=lambda r: (r["path"], r["stage"])),
    }


def test_a_failing_browser_test_keeps_a_full_page_screenshot(built, tmp_path):
    """The failure hook itself: a browser test that fails (on the dataset's HTML report) leaves a PNG of the whole
    page and its HTML in $TEST_ARTIFACTS; a passing one leaves nothing."""
    tests_dir = Path(__file__).parent
    (tmp_path / "test_inner.py").write_text(
        "from browser import browser, page  # noqa: F401\n"
        "def test_passes(page):\n"
        f"    page.goto({(built / 'report' / 'index.html').as_uri()!r})\n"
        "def test_fails(page):\n"
        f"    page.goto({(built / 'report' / 'index.html').as_uri()!r})\n"
        "    assert page.title() == 'not this page'\n"
    )
    artifacts = tmp_path / "artifacts"
    env = {**os.environ, "TEST_ARTIFACTS": str(artifacts), "PYTHONPATH": str(tests_dir)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    stem = artifact_name("test_inner.py::test_fails")
    assert sorted(p.name for p in artifacts.iterdir()) == [f"{stem}.html", f"{stem}.png"]
    png = (artifacts / f"{stem}.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(artifacts / f"{stem}.png") as shot:
        assert shot.width == 1200 and shot.height > 900  # the full page, longer than the viewport
    assert "stack-v2 report" in (artifacts / f"{stem}.html").read_text()
