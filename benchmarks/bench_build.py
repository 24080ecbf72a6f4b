"""End-to-end build benchmark on the DirectRunner: >= 100 MB of real code, files/s, MB/s per core,
peak memory, and how the time splits across stages.

Real code: source and data files of packages installed on this machine, one git repository each
(see bench_archive.make_repos). The stage split comes from running the recipe's stage prefixes
(select; select+license; ...; the whole recipe) and taking differences, so each figure includes
that stage's share of traversal-independent work (its own shuffles and writes). The headline run
starts with an empty license cache (the recipe's cache file is removed first); the prefix runs come
after it, with the cache warm.

    python benchmarks/bench_build.py --workdir /tmp/stack-v2-bench [--packages ...] [--skip-split]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_archive import make_repos  # noqa: E402

# Installed with the project and its test dependencies (cfnlint, dask, polars come with moto[server] and beam[dask]).
DEFAULT_PACKAGES = (
    "apache_beam",
    "cfnlint",
    "moto",
    "numpy",
    "pyarrow",
    "dask",
    "pip",
    "botocore",
    "pygments",
    "polars",
    "beartype",
    "dulwich",
    "swh",
)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(archive, out: Path, recipe, beam_args) -> tuple[dict, float, float]:
    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.build import BuildRequest, run_build

    shutil.rmtree(out, ignore_errors=True)
    wall, cpu = time.perf_counter(), cpu_seconds()
    report = run_build(BuildRequest(ArchiveLocation(str(archive)), str(out), recipe), beam_args)
    return report, time.perf_counter() - wall, cpu_seconds() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--skip-split", action="store_true", help="only the whole recipe")
    parser.add_argument("beam_args", nargs="*", help="Beam pipeline options, after --")
    args = parser.parse_args()

    from stack_v2.archive.import_git import import_git
    from stack_v2.recipe import load_recipe

    workdir = Path(args.workdir).resolve()
    repos, source_bytes = make_repos(workdir, args.packages)
    if source_bytes < 100e6:
        print(f"warning: only {source_bytes / 1e6:.1f} MB of source; add --packages for >= 100 MB", file=sys.stderr)
    archive = workdir / "build-archive"
    if not (archive / "graph").exists():
        import_git([str(r) for r in repos], str(archive))
    recipe = load_recipe("the-stack-v2")
    results: dict = {"source_mb": round(source_bytes / 1e6, 1), "repos": len(repos), "cores": os.cpu_count()}

    from stack_v2.licenses.detect import LicenseCache, default_cache_path

    os.environ["XDG_CACHE_HOME"] = str(workdir / "cache")  # the benchmark's own license cache, not the user's
    Path(default_cache_path()).unlink(missing_ok=True)
    LicenseCache.clear_memory()
    report, wall, cpu = run(archive, workdir / "dataset", recipe, args.beam_args)
    files_in, bytes_in = report["totals"]["input"]["files"], report["totals"]["input"]["bytes"]
    results.update(
        {
            "files_in": files_in,
            "mb_in": round(bytes_in / 1e6, 1),
            "files_kept": report["totals"]["kept"]["files"],
            "mb_kept": round(report["totals"]["kept"]["bytes"] / 1e6, 1),
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "files_per_s": round(files_in / wall, 1),
            "mb_per_s": round(bytes_in / 1e6 / wall, 2),
            "mb_per_cpu_s": round(bytes_in / 1e6 / cpu, 2),
            "accounting": report["accounting"],
            "license_detection": report.get("license_detection"),
        }
    )

    if not args.skip_split:
        split, previous = {}, 0.0
        for n in range(1, len(recipe.stages) + 1):
            # Every prefix runs after the full build, so the license cache is warm in all of them.
            prefix = replace(recipe, stages=recipe.stages[:n])
            _, seconds, _ = run(archive, workdir / f"prefix-{n}", prefix, args.beam_args)
            split[recipe.stages[n - 1].name] = round(seconds - previous, 1)
            previous = seconds
        results["stage_split_s"] = split
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    (workdir / "build-results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
