"""Opt-out benchmark: `manifest regenerate` with 1% of repositories opted out, against a full rebuild of
the same dataset with the same requests (`build --optouts`), on a dataset of at least 100k files.

Real code: the installed site-packages' files, then /usr/include's and /usr/share's (C headers, docs,
scripts, data), one git repository per sub-directory (`https://github.com/<package>/<subdir>`), imported
into a local archive; compiled files are left out (binaries would only be dropped). The recipe is the
paper's pipeline up to decoding (select, exact dedup, fetch and decode): the
stages every build has; license scanning and near-dedup would only make the rebuild dearer. With
``--with-language`` the language stage runs too, but go-enry names no language for about a third of
these files (data without extensions), which leaves fewer than 100k.

    python benchmarks/bench_regenerate.py --workdir /tmp/stack-v2-bench-regen [--files 110000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_archive import ENV  # noqa: E402

BINARY = {
    ".so",
    ".pyc",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".gz",
    ".bz2",
    ".xz",
    ".zip",
    ".whl",
    ".mo",
    ".a",
    ".o",
    ".bin",
    ".dat",
    ".db",
    ".npz",
    ".npy",
    ".pkl",
    ".ttf",
    ".woff",
    ".woff2",
    ".pdf",
}

RECIPE = """name: bench-regenerate
description: The paper's pipeline up to decoding.
stages:
  - stage: select_repositories
  - stage: exact_dedup
  - stage: fetch_decode
{language}output:
  target_shard_bytes: 67108864
  manifest_rows_per_shard: 20000
"""


def make_repos(workdir: Path, target_files: int) -> dict[str, list[Path]]:
    """{owner (top-level package): [repositories, one per sub-package]} with at least target_files files."""
    roots = [Path(sysconfig.get_paths()["purelib"]), Path("/usr/include"), Path("/usr/share")]
    owners: dict[str, list[Path]] = {}
    total = 0
    packages = [
        p
        for root in roots
        if root.is_dir()
        for p in sorted(root.iterdir())
        if p.is_dir() and not p.is_symlink() and not p.name.endswith((".dist-info", "__pycache__"))
    ]
    for package in packages:
        for sub in sorted(
            p for p in package.iterdir() if p.is_dir() and not p.is_symlink() and p.name != "__pycache__"
        ):
            files = [
                f
                for f in sub.rglob("*")
                if f.is_file()
                and not f.is_symlink()
                and f.suffix.lower() not in BINARY
                and "__pycache__" not in f.parts
                and f.stat().st_size < 1_000_000
            ]
            if len(files) < 5:
                continue
            owner = re.sub(r"[^A-Za-z0-9-]+", "-", f"{package.parent.name}-{package.name}")[:39].strip("-")
            repo = workdir / "repos" / owner / re.sub(r"[^A-Za-z0-9_.-]+", "-", sub.name)
            if not (repo / ".git").exists():
                for f in files:
                    dest = repo / f.relative_to(sub)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, dest)
                for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "sources"]):
                    subprocess.run(
                        ["git", "-C", str(repo), *args], check=True, env={**os.environ, **ENV}, capture_output=True
                    )
            owners.setdefault(owner, []).append(repo)
            total += len(files)
            if total >= target_files:
                return owners
    return owners


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out/regenerate")
    parser.add_argument("--files", type=int, default=115_000, help="files to put in the repositories")
    parser.add_argument("--fraction", type=float, default=0.01, help="share of repositories opted out")
    parser.add_argument("--with-language", action="store_true", help="run go-enry's language stage too")
    args = parser.parse_args()

    from stack_v2.archive.import_git import import_git
    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.build import BuildRequest, run_build
    from stack_v2.manifest_check import check_dataset
    from stack_v2.optout.requests import load_requests
    from stack_v2.recipe import load_recipe
    from stack_v2.regenerate import regenerate

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    owners = make_repos(workdir, args.files)
    archive = workdir / "archive"
    if not (archive / "graph").exists():
        for owner, repos in owners.items():
            import_git([str(r) for r in repos], str(archive), origin_prefix=f"https://github.com/{owner}/")
    recipe_path = workdir / "recipe.yaml"
    recipe_path.write_text(RECIPE.format(language="  - stage: language\n" if args.with_language else ""))
    recipe = load_recipe(str(recipe_path))
    location = ArchiveLocation(str(archive))
    dataset = workdir / "dataset"
    shutil.rmtree(dataset, ignore_errors=True)
    build_s = timed(lambda: run_build(BuildRequest(location, str(dataset), recipe)))

    repos = sorted((owner, repo.name) for owner, rs in owners.items() for repo in rs)
    chosen = random.Random(0).sample(repos, max(1, round(len(repos) * args.fraction)))
    requests_path = workdir / "optouts.jsonl"
    requests_path.write_text(
        "".join(json.dumps({"owner": o, "repos": [r], "received": "2023-11-20"}) + "\n" for o, r in sorted(chosen))
    )
    requests = load_requests(requests_path)

    regenerated = workdir / "regenerated"
    shutil.rmtree(regenerated, ignore_errors=True)
    summary = {}
    regen_s = timed(lambda: summary.update(regenerate(str(dataset), str(regenerated), requests)))
    rebuilt = workdir / "rebuilt"
    shutil.rmtree(rebuilt, ignore_errors=True)
    rebuild_s = timed(lambda: run_build(BuildRequest(location, str(rebuilt), recipe, optouts=requests)))
    check_s = timed(lambda: check_dataset(str(regenerated), optouts=str(requests_path)))
    report = json.loads((dataset / "report.json").read_text())
    print(
        json.dumps(
            {
                "repositories": len(repos),
                "opted_out_repositories": len(chosen),
                "dataset_files": report["totals"]["kept"]["files"],
                "dataset_mb": round(report["totals"]["kept"]["bytes"] / 1e6, 1),
                "files_removed": summary["files_removed"],
                "first_build_s": round(build_s, 1),
                "regenerate_s": round(regen_s, 1),
                "rebuild_with_optouts_s": round(rebuild_s, 1),
                "rebuild_over_regenerate": round(rebuild_s / regen_s, 1),
                "manifest_check_s": round(check_s, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
