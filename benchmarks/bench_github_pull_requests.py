"""Pull-request source benchmark: the whole build (``stack-v2 build --pipeline github-pull-requests``) on real
pairs of versions, in CPU-seconds, beside the floor of its per-file work.

Corpus: for each package pip vendors and this environment also installs (rich, packaging, pygments,
platformdirs, requests, urllib3, ...), a git repository whose base commit holds pip's vendored copy and whose
head commit (a branch) holds the installed release: real changes between two releases. Each module that
changed becomes one pull request, its base and head commits the repository's, opened, approved and merged
as GHArchive events made from GitHub's real webhook payloads (tests/data/gharchive). Imported with
``import_git`` into ``<workdir>/archive``.

Measured: the build in a fresh subprocess on the in-process DirectRunner (CPU-seconds of the subprocess,
imports included), as pull requests per CPU-second and MB per CPU-second of the changed files' base and head
contents (what the source fetches and diffs); beside it, the floor of that work in this process: reading
both versions of every changed file and ``difflib``'s unified diff of them. Not a test.

    python benchmarks/bench_github_pull_requests.py [--workdir /tmp/bench-gh-prs]
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pip

from stack_v2.archive.import_git import import_git

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "gharchive" / "octokit-events.json.gz"
VENDORED = Path(pip.__file__).parent / "_vendor"


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": "2023-01-01T00:00:00+0000",
        "GIT_COMMITTER_DATE": "2023-01-01T00:00:00+0000",
    }
    env.update(GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost", GIT_COMMITTER_NAME="bench")
    env.update(GIT_COMMITTER_EMAIL="bench@localhost")
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def version_pairs() -> dict[str, list[tuple[Path, Path]]]:
    """Package -> (vendored file, installed file) for every module the two releases have with other bytes."""
    pairs = {}
    for vendored in sorted(p for p in VENDORED.iterdir() if p.is_dir() and not p.name.startswith("_")):
        try:
            installed = Path(importlib.import_module(vendored.name).__file__).parent
        except ImportError:
            continue
        changed = [
            (f, installed / f.relative_to(vendored))
            for f in sorted(vendored.rglob("*.py"))
            if (installed / f.relative_to(vendored)).is_file()
            and (installed / f.relative_to(vendored)).read_bytes() != f.read_bytes()
        ]
        if changed:
            pairs[vendored.name] = changed
    return pairs


def make_corpus(workdir: Path) -> tuple[Path, Path, int, float]:
    """Repositories, archive and GHArchive hour; returns (archive, hours, pull requests, MB of both versions)."""
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        events = [json.loads(line) for line in f]
    opened = next(e for e in events if e["type"] == "PullRequestEvent" and e["payload"]["action"] == "opened")
    review = next(e for e in events if e["type"] == "PullRequestReviewEvent")
    lines, repos, nbytes, next_id = [], [], 0, 40000000000
    for package, changed in version_pairs().items():
        repo = workdir / "repos" / package
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
        _git(repo, "init", "-q", "-b", "master")
        for vendored, _ in changed:
            target = repo / vendored.relative_to(VENDORED / package)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(vendored, target)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "vendored")
        base = _git(repo, "rev-parse", "HEAD").strip()
        for number, (vendored, installed) in enumerate(changed, start=1):
            _git(repo, "checkout", "-q", "-b", f"pr-{number}", base)
            shutil.copy(installed, repo / vendored.relative_to(VENDORED / package))
            _git(repo, "commit", "-qam", f"update {vendored.name}")
            head = _git(repo, "rev-parse", "HEAD").strip()
            nbytes += vendored.stat().st_size + installed.stat().st_size
            for template, action in ((opened, "opened"), (review, "submitted"), (opened, "closed")):
                e = json.loads(json.dumps(template))
                e["id"], e["created_at"] = str(next_id := next_id + 1), "2023-01-02T10:00:00Z"
                e["repo"]["name"] = f"bench/{package}"
                pr = e["payload"]["pull_request"]
                title = f"Update {vendored.relative_to(VENDORED)} to the installed version"
                pr.update(number=number, title=title, merged=action == "closed")
                pr["body"] = (
                    f"Brings {vendored.name} from pip's vendored copy to the version this environment installs."
                )
                pr["base"].update(sha=base, ref="master")
                pr["head"]["sha"] = head
                pr["base"]["repo"]["license"] = {"spdx_id": "MIT", "key": "mit"}
                e["payload"]["action"] = action
                if action == "submitted":
                    e["payload"]["review"].update(state="approved", body="Compared with the release notes.")
                lines.append(e)
        repos.append(str(repo))
    archive = workdir / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    import_git(repos, str(archive))
    hours = workdir / "gharchive"
    hours.mkdir(parents=True, exist_ok=True)
    with gzip.open(hours / "2023-01-02-10.json.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(line) + "\n" for line in lines)
    return archive, hours, len(lines) // 3, nbytes / 1e6


def floor() -> float:
    start = time.process_time()
    for changed in version_pairs().values():
        for vendored, installed in changed:
            a, b = vendored.read_text().split("\n"), installed.read_text().split("\n")
            list(difflib.unified_diff(a, b, n=5, lineterm=""))
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="/tmp/bench-gh-prs")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    archive, hours, prs, mb = make_corpus(workdir)
    floor_s = floor()
    out = workdir / "dataset"
    shutil.rmtree(out, ignore_errors=True)
    cli = [sys.executable, "-m", "stack_v2.cli", "build", "--pipeline", "github-pull-requests", "-q"]
    before, wall = _cpu_children(), time.perf_counter()
    subprocess.run([*cli, "--input", str(hours), "--archive", str(archive), "--output", str(out)], check=True)
    build_s, wall = _cpu_children() - before, time.perf_counter() - wall
    report = json.loads((out / "current" / "report.json").read_text())
    results = {
        "pull_requests": prs,
        "kept": report["totals"]["kept"]["files"],
        "changed_files_mb": round(mb, 2),
        "build_cpu_s": round(build_s, 2),
        "build_wall_s": round(wall, 1),
        "build_prs_per_cpu_s": round(prs / build_s, 2),
        "build_mb_per_cpu_s": round(mb / build_s, 3),
        "floor_mb_per_cpu_s": round(mb / floor_s, 2),
        "build_vs_floor": round(floor_s / build_s, 4),
    }
    print(json.dumps(results, indent=2))
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
