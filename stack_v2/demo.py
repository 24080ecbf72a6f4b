"""The embedded demo: real code from this machine's Python, made into git repositories and archived.

It takes a few pure-Python packages of the standard library (each becomes a repository with two
commits), imports them into a local SWH-layout archive, lists every origin's default-branch files with
the Beam traversal, and fetches and verifies every blob from the content store. Dates are fixed, so
two runs give the same archive ids and the same listing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence

DEMO_PACKAGES = ("json", "email", "http", "xmlrpc", "urllib")
_DATES = ("2021-03-04T05:06:07+0100", "2022-07-08T09:10:11-0400")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "stack-v2 demo",
    "GIT_AUTHOR_EMAIL": "demo@stack-v2.invalid",
    "GIT_COMMITTER_NAME": "stack-v2 demo",
    "GIT_COMMITTER_EMAIL": "demo@stack-v2.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(repo: str, *args: str, date: str | None = None) -> None:
    env = {**os.environ, **_GIT_ENV}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, env=env)


def make_demo_repos(repos_dir: str, packages: Sequence[str] = DEMO_PACKAGES) -> list[str]:
    """One git repository per standard-library package: its modules, then a README and subpackages."""
    stdlib = sysconfig.get_paths()["stdlib"]
    paths = []
    for name in packages:
        src = os.path.join(stdlib, name)
        repo = os.path.join(repos_dir, f"py-{name}")
        if os.path.isdir(os.path.join(repo, ".git")):
            paths.append(repo)
            continue
        os.makedirs(repo, exist_ok=True)
        _git(repo, "init", "-q", "-b", "main")
        top = [f for f in sorted(os.listdir(src)) if f.endswith(".py")]
        for f in top:
            shutil.copy(os.path.join(src, f), os.path.join(repo, f))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"import {name}", date=_DATES[0])
        for sub in sorted(os.listdir(src)):
            if os.path.isdir(os.path.join(src, sub)) and not sub.startswith("__"):
                shutil.copytree(os.path.join(src, sub), os.path.join(repo, sub),
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
        with open(os.path.join(repo, "README.md"), "w", encoding="utf-8") as f:
            f.write(f"# {name}\n\nThe `{name}` package of CPython {sys.version.split()[0]}'s standard library.\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "subpackages and README", date=_DATES[1])
        paths.append(repo)
    return paths


def run_demo(workdir: str, beam_args: Sequence[str] = ()) -> int:
    import datetime as dt

    from stack_v2.archive.content import fetch_many, open_content_store
    from stack_v2.archive.import_git import import_git
    from stack_v2.archive.listing import list_files
    from stack_v2.archive.location import ArchiveLocation

    def say(msg: str) -> None:
        print(f"[demo] {msg}", file=sys.stderr)

    workdir = os.path.abspath(workdir)
    archive = os.path.join(workdir, "archive")
    say(f"making git repositories from the standard library in {workdir}/repos")
    repos = make_demo_repos(os.path.join(workdir, "repos"))
    say(f"importing {len(repos)} repositories into {archive}")
    summary = import_git(repos, archive, visit_date=dt.datetime(2023, 9, 6, tzinfo=dt.timezone.utc))
    say("added: " + (", ".join(f"{n} {t}" for t, n in summary.new_rows.items() if n) or "nothing new (already imported)"))

    say("listing default-branch files with the Beam traversal")
    location = ArchiveLocation(archive)
    started = time.perf_counter()
    files, problems = list_files(location, beam_args=beam_args)
    say(f"{len(files)} files in {len(set(f.origin for f in files))} origins, {len(problems)} problems "
        f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    listing = os.path.join(workdir, "files.jsonl")
    with open(listing, "w", encoding="utf-8") as out:
        for record in files:
            out.write(json.dumps(record.to_json_dict(), ensure_ascii=False) + "\n")

    say("fetching and verifying every blob from the content store")
    store = open_content_store(location)
    started = time.perf_counter()
    results = list(fetch_many(store, [(f.blob_id, f.content_id, f.length) for f in files]))
    seconds = time.perf_counter() - started
    good = [r for r in results if r.data is not None]
    nbytes = sum(len(r.data) for r in good)
    say(f"{len(good)}/{len(results)} blobs verified, {nbytes / 1e6:.1f} MB in {seconds:.2f} s")
    for r in results:
        if r.data is None:
            say(f"failed: {r.blob_id}: {r.reason}: {r.detail}")
    say(f"listing written to {listing}")
    return 0 if len(good) == len(results) and not problems else 1
