"""A real browser for the tests: Playwright driving Debian's headless Chromium (``/usr/bin/chromium``, found as
tests/chromium.py finds it; Playwright's own browser builds are never downloaded), `stack-v2 serve` started as a
subprocess on loopback, and a full-page screenshot kept as a test artifact whenever a browser test fails.

Fixtures: ``browser`` (one Chromium per session), ``page`` (a fresh context per test, 1200x900; screenshot on
failure), ``serve`` (a factory: start `stack-v2 serve` over datasets, get a ``Server`` with its ``url``; stopped at
teardown). Helpers read the lookup page as the contract of docs/serve.md names its ids and classes.

Failure screenshots go to ``$TEST_ARTIFACTS`` or, without it, ``test-artifacts/`` under the repository root
(git-ignored). tests/conftest.py hands each test's call report to the ``page`` fixture (``rep_call``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import INSTALL_HINT, find_chromium

REPO_ROOT = Path(__file__).resolve().parent.parent
VIEWPORT = {"width": 1200, "height": 900}
READY = re.compile(r"^stack-v2: serving (\d+) dataset\(s\) on (http://[^/\s]+/)$")
START_TIMEOUT = 60.0  # seconds for `serve` to index the datasets and print its ready line


def artifacts_dir() -> Path:
    """Where failure screenshots go: $TEST_ARTIFACTS, else test-artifacts/ under the repository root."""
    return Path(os.environ.get("TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")


def artifact_name(nodeid: str) -> str:
    """A file name for a test id: ``tests/test_x.py::test_y[a/b]`` -> ``test_x.py-test_y-a-b``."""
    path, _, name = nodeid.partition("::")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{Path(path).name}::{name}").strip("-")


def save_failure_artifacts(page, nodeid: str, extra: dict[str, str] | None = None) -> list[Path]:
    """A full-page PNG of ``page`` and its HTML, named after the test; ``extra`` adds text files (suffix -> text)."""
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    stem = str(out / artifact_name(nodeid))  # the name has dots: suffixes are appended, not replaced
    png, html = Path(f"{stem}.png"), Path(f"{stem}.html")
    saved = []
    try:
        page.screenshot(path=str(png), full_page=True)
        saved.append(png)
        html.write_text(page.content())
        saved.append(html)
    except Exception as exc:  # a crashed page must not hide the test's own failure
        print(f"browser: no failure screenshot for {nodeid}: {exc}", file=sys.stderr)
    for suffix, text in (extra or {}).items():
        path = Path(f"{stem}{suffix}")
        path.write_text(text)
        saved.append(path)
    return saved


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no `playwright install`)."""
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        pytest.fail(INSTALL_HINT)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, request):
    """A fresh page (own cookies) at 1200x900; when the test fails, its full-page screenshot, its HTML and the
    output of the servers it started are saved as test artifacts."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        servers = getattr(request.node, "browser_servers", [])
        extra = {f".server{i}.log": s.output() for i, s in enumerate(servers)}
        for path in save_failure_artifacts(opened, request.node.nodeid, extra):
            print(f"browser: saved {path}")
    context.close()


class Server:
    """`stack-v2 serve` in a subprocess: ``url`` once it printed its ready line; ``output()`` its stdout and stderr
    (kept in ``log``)."""

    def __init__(self, datasets: list[Path], requests_db: Path, log: Path, extra_args: list[str] = ()):
        command = [sys.executable, "-m", "stack_v2.cli", "serve"]
        for dataset in datasets:
            command += ["--dataset", str(dataset)]
        command += ["--requests", str(requests_db), "--port", "0", *extra_args]
        self.command, self.log = command, log
        with open(log, "wb") as stderr:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.lines: list[str] = []
        self.url: str | None = None
        self.count: int | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(START_TIMEOUT) or self.url is None:
            self.stop()
            raise RuntimeError(
                f"`stack-v2 serve` did not print its ready line (exit code {self.proc.returncode});"
                f" {' '.join(command)}\nits output:\n{self.output()[-6000:]}"
            )

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            match = READY.match(line.strip())
            if match and self.url is None:
                self.count, self.url = int(match[1]), match[2]
                self._ready.set()
        self._ready.set()  # the process ended (or closed stdout) before or after being ready

    def output(self) -> str:
        """What it printed: stdout, then stderr."""
        stderr = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "".join(self.lines) + ("\n--- stderr ---\n" + stderr if stderr else "")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"`stack-v2 serve` exited with {self.proc.returncode}:\n{self.output()[-6000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def serve(request, tmp_path) -> Iterator:
    """``serve(dataset, ..., requests=None)`` starts `stack-v2 serve` over the datasets on 127.0.0.1 (port 0) and
    returns the ``Server`` (``.url``); each is stopped at teardown and checked to have stayed up meanwhile."""
    servers: list[Server] = []
    request.node.browser_servers = servers

    def start(*datasets: Path, requests: Path | None = None, extra_args: list[str] = ()) -> Server:
        n = len(servers)
        db = requests or tmp_path / f"requests-{n}.sqlite"
        server = Server(list(datasets), db, tmp_path / f"serve-{n}.stderr", list(extra_args))
        servers.append(server)
        return server

    yield start
    try:
        for server in servers:
            server.check_alive()  # a server that died under the test explains its failure
    finally:
        for server in servers:
            server.stop()


def copy_dataset(source: Path, dest: Path) -> Path:
    """A dataset that a test may change in place (versions/ and the current link kept as they are)."""
    shutil.copytree(source, dest, symlinks=True)
    return dest


# What the lookup page shows (issue 20's contract): per repository, per dataset version, the counts and the rows.
_READ_LOOKUP = """() => Array.from(document.querySelectorAll('section.repository')).map(r => ({
  repo: r.dataset.repo,
  datasets: Array.from(r.querySelectorAll('section.dataset')).map(d => {
    const text = (row, sel) => { const e = row.querySelector(sel); return e ? e.textContent.trim() : null; };
    return {
      dataset: d.dataset.dataset,
      version: d.dataset.version,
      included_count: text(d, '.included-count'),
      dropped_count: text(d, '.dropped-count'),
      included: Array.from(d.querySelectorAll('table.included tr.file')).map(tr => ({
        path: text(tr, 'td.path'), language: text(tr, 'td.language'), license: text(tr, 'td.license'),
        swhid: text(tr, 'a.swhid'), swhid_href: tr.querySelector('a.swhid') ? tr.querySelector('a.swhid').href : null,
      })),
      dropped: Array.from(d.querySelectorAll('table.dropped tr.file')).map(tr => ({
        path: text(tr, 'td.path'), stage: text(tr, 'td.stage'), outcome: text(tr, 'td.outcome'),
        reason: text(tr, 'td.reason'), detail: text(tr, 'td.detail'),
      })),
      next: Array.from(d.querySelectorAll('a.next')).map(a => a.href),
    };
  }),
}))"""


def count(text: str | None) -> int:
    """A count as shown ("1,234" or "1 234") as an int."""
    assert text is not None and re.search(r"\d", text), f"no count shown: {text!r}"
    return int(re.sub(r"\D", "", text))


def read_lookup(page) -> dict[str, list[dict]]:
    """The lookup page now open: {repository: [one dict per dataset version: counts, included and dropped rows,
    the next-page links]} as the browser shows them."""
    return {r["repo"]: r["datasets"] for r in page.evaluate(_READ_LOOKUP)}


def read_all_pages(page, repo: str, dataset: dict) -> dict:
    """``dataset`` (one entry of ``read_lookup`` for ``repo``) with the rows of all its pages, following every
    ``a.next`` link (and theirs) in the browser; counts and version are those of the first page."""
    included = {row["path"]: row for row in dataset["included"]}
    dropped = {(row["path"], row["stage"]): row for row in dataset["dropped"]}
    pending, seen = list(dataset["next"]), set()
    while pending:
        href = pending.pop(0)
        if href in seen:
            continue
        seen.add(href)
        page.goto(href)
        [same] = [
            d
            for d in read_lookup(page).get(repo, [])
            if (d["dataset"], d["version"]) == (dataset["dataset"], dataset["version"])
        ]
        included.update((row["path"], row) for row in same["included"])
        dropped.update(((row["path"], row["stage"]), row) for row in same["dropped"])
        pending += same["next"]
    return {**dataset, "included": list(included.values()), "dropped": list(dropped.values()), "pages": 1 + len(seen)}


def lookup(page, base_url: str, query: str) -> dict[str, list[dict]]:
    """Type ``query`` into the home page's lookup form, submit it, and read the result page."""
    page.goto(base_url)
    page.fill("#query", query)
    with page.expect_navigation():
        page.click("#lookup-submit")
    return read_lookup(page)


def watch(page, base_url: str) -> list[str]:
    """From now on, what goes wrong in ``page``: console errors (a Content-Security-Policy violation is one),
    uncaught exceptions, failed requests, and any request that leaves ``base_url`` (the pages load nothing from
    elsewhere). The list fills as the test browses; assert it is empty at the end."""
    problems: list[str] = []

    def console(message) -> None:
        url = message.location.get("url", "")
        if message.type in ("error", "assert") and not url.endswith("/favicon.ico"):  # the browser's own request
            problems.append(f"console {message.type}: {message.text} {url}".strip())

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(f"exception: {exc}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} ({r.failure})"))
    page.on("request", lambda r: None if r.url.startswith(base_url) else problems.append(f"left the site: {r.url}"))
    return problems
