"""End-to-end build benchmark: the paper's recipe on real code, beside the floors of its per-file work,
its fixed cost and a per-stage split, all in CPU-seconds (wall time is printed but is noisy on a shared
machine).

Corpus: installed packages' sources, one git repository each (bench_archive.make_repos), in
bench_scaling's package sets (``--size small|medium|large``: about 40, 140, 440 MB), imported once
into ``<workdir>/archive-<size>`` (the same archives bench_scaling uses) and reused.

Measured, on the same corpus, in one run:

1. Floors, in this process, on the archive's content objects (bench_floors.py): gunzip + sha1 of every
   object, go-enry's language + is_vendor + is_generated on every object, and the near-dedup signature
   pass alone over the decoded texts (batches of 256, ``NearDedupConfig().minhash()``); MB per
   CPU-second of each.
2. The build: ``the-stack-v2`` without its ``license`` stage (ScanCode's cost is bench_licenses.py's;
   malware turns itself off without a signature database), in a fresh subprocess on the in-process
   DirectRunner (``--runner=DirectRunner``). CPU-seconds are the subprocess's user + system time
   including interpreter start and imports (``getrusage(RUSAGE_CHILDREN)`` before and after), with Python's
   bytecode cache on, as an installed package has it (``PYTHONDONTWRITEBYTECODE`` unset for the subprocess:
   else every run compiles this project's modules from source again, about 0.2 CPU-s); input =
   report.json's ``totals.input`` (every listed file, duplicates included, while the floors read each
   distinct blob once). Reported: MB of input per CPU-second, files/s, peak RSS, and the ratio of the
   build's MB per CPU-second to each floor's (1.0 would be a build as cheap as that floor alone).
3. The fixed cost: the same build, the same way, on a one-repository archive (``attr``'s few dozen
   files), the median of ``--tiny-runs`` builds (default 3: one run on a shared machine varies by a second);
   marginal CPU-seconds per MB = (corpus CPU-s - fixed) / corpus MB.
4. Per stage (unless ``--skip-split``): every prefix of the recipe (select_repositories;
   + exact_dedup; + fetch_decode; ...) built the same way in its own subprocess; a stage's cost is the
   difference between consecutive prefixes' CPU-seconds (noisy for cheap stages: they can come out
   negative). Beside it, the full build's ``stage_time_us`` Beam counters: wall time inside the stage's
   own code, counted only by the one-record stages (run together in ApplyCores), malware and notebooks.

    python benchmarks/bench_build.py [--workdir benchmarks/out] [--size small|medium|large] [--skip-split]
        [--tiny-runs 3] [-- extra Beam options]

Prints a table and writes ``<workdir>/build-results.json``. Not a test: numbers depend on the machine
and on whatever else uses its CPUs at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_archive import make_repos  # noqa: E402
from bench_floors import content_paths, measure_floors  # noqa: E402
from bench_scaling import SIZES  # noqa: E402

TINY_PACKAGE = "attr"  # a few dozen files: the build's cost with (almost) no data
LEFT_OUT = ("license",)
FLOOR_LABELS = {
    "gunzip_sha1": "gunzip + sha1",
    "enry": "go-enry language+vendor+generated",
    "minhash_signatures": "near-dedup signatures",
    "all_three": "the three together",
}


def recipe_prefix(n: int | None = None):
    """The-stack-v2 without LEFT_OUT, its first ``n`` stages (all when None)."""
    from stack_v2.recipe import load_recipe

    recipe = load_recipe("the-stack-v2")
    stages = tuple(s for s in recipe.stages if s.name not in LEFT_OUT)
    return replace(recipe, stages=stages[:n])


def stage_times(result) -> dict[str, float]:
    """Seconds inside each stage's own code, from the build's ``stage_time_us`` counters."""
    counters = result.metrics().query()["counters"]
    out = {}
    for c in counters:
        if c.key.metric.namespace == "stage_time_us":
            value = c.committed if c.committed is not None else c.attempted
            out[c.key.metric.name] = out.get(c.key.metric.name, 0) + value / 1e6
    return out


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(archive: str, out: str, n_stages: int, extra: list[str]) -> int:
    """One build in this fresh process; prints its measurements as one JSON line."""
    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.build import BuildRequest, start_build
    from stack_v2.finish import finish_build

    req = BuildRequest(ArchiveLocation(archive), out, recipe_prefix(n_stages))
    shutil.rmtree(out, ignore_errors=True)
    startup_cpu, wall = own_cpu_s(), time.perf_counter()
    started = start_build(req, ["--runner=DirectRunner", *extra])
    report = finish_build(started.output_dir, started.run_id, started.result)
    wall = time.perf_counter() - wall
    totals = report["totals"]
    measured = {
        "wall_s": wall,
        "startup_cpu_s": startup_cpu,  # interpreter start and imports, before the pipeline
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "files_in": totals["input"]["files"],
        "bytes_in": totals["input"]["bytes"],
        "files_kept": totals["kept"]["files"],
        "bytes_kept": totals["kept"]["bytes"],
        "stage_time_s": stage_times(started.result),
    }
    print(json.dumps(measured))
    from stack_v2 import collector

    collector.skip_final_collection()  # as the stack-v2 command does before it exits (stack_v2/cli.py)
    return 0


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(archive: Path, out: Path, n_stages: int, extra: list[str]) -> dict:
    """Build the first ``n_stages`` stages in a fresh subprocess; its CPU-seconds are everything it used."""
    cmd = [sys.executable, __file__, "--child", str(archive), str(out), str(n_stages), "--", *extra]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cpu, wall = children_cpu_s(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    cpu, wall = children_cpu_s() - cpu, time.perf_counter() - wall
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"build of {archive} ({n_stages} stages) failed")
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    mb = m["bytes_in"] / 1e6
    return {
        "files_in": m["files_in"],
        "mb_in": round(mb, 2),
        "files_kept": m["files_kept"],
        "mb_kept": round(m["bytes_kept"] / 1e6, 2),
        "cpu_s": round(cpu, 2),
        "startup_cpu_s": round(m["startup_cpu_s"], 2),
        "process_wall_s": round(wall, 1),
        "pipeline_wall_s": round(m["wall_s"], 1),
        "mb_per_cpu_s": round(mb / cpu, 3),
        "files_per_s": round(m["files_in"] / m["wall_s"], 1),
        "files_per_cpu_s": round(m["files_in"] / cpu, 1),
        "peak_rss_mb": round(m["peak_rss_mb"]),
        "stage_time_s": {k: round(v, 2) for k, v in m["stage_time_s"].items()},
    }


def prepare(workdir: Path, name: str, packages) -> tuple[Path, list[Path], int]:
    """The archive of ``packages``' repositories, imported once and reused."""
    from stack_v2.archive.import_git import import_git

    repos, source_bytes = make_repos(workdir, packages)
    archive = workdir / f"archive-{name}"
    if not (archive / "graph").exists():
        import_git([str(r) for r in repos], str(archive))
    return archive, repos, source_bytes


def floors(archive: Path, repos: list[Path]) -> dict:
    from stack_v2.archive.content_store import open_content_store
    from stack_v2.archive.location import ArchiveLocation

    content_dir = Path(open_content_store(ArchiveLocation(str(archive))).root_dir)
    results = measure_floors(content_dir, content_paths(repos))
    each = results["floors"]
    # What the build could cost if these three were all it did, per MB of distinct content.
    cpu = sum(f["cpu_s"] for f in each.values())
    mb = each["gunzip_sha1"]["mb"]
    each["all_three"] = {
        "files": each["gunzip_sha1"]["files"],
        "mb": mb,
        "cpu_s": round(cpu, 3),
        "mb_per_cpu_s": round(mb / cpu, 2),
    }
    return results


def stage_split(archive: Path, workdir: Path, full: dict, extra: list[str]) -> list[dict]:
    """Each stage's CPU-seconds as the difference between consecutive prefixes; the last is the full build."""
    from stack_v2.stages import registry

    stages = recipe_prefix().stages
    mb, rows, previous = full["mb_in"], [], 0.0
    for n, spec in enumerate(stages, 1):
        definition = registry.STAGES[spec.name]
        row = {"stage": spec.name, "in_stage_s": full["stage_time_s"].get(spec.name)}
        if definition.why_off(definition.config(spec.params)):
            rows.append({**row, "off": True})  # the build leaves it out: nothing to measure
            continue
        run = full if n == len(stages) else measure(archive, workdir / f"prefix-{n}", n, extra)
        print(f"prefix {n} (+{spec.name}): {run['cpu_s']} CPU-s", file=sys.stderr)
        delta = run["cpu_s"] - previous
        rows.append({**row, "prefix_cpu_s": run["cpu_s"], "cpu_s": round(delta, 2), "cpu_s_per_mb": delta / mb})
        previous = run["cpu_s"]
    return rows


def derived(build: dict, tiny: dict, floor_results: dict) -> dict:
    """Fixed and marginal costs, and the build against each floor."""
    fixed = tiny["cpu_s"]
    per_mb = (build["cpu_s"] - fixed) / build["mb_in"]
    ratios = {}
    for name, f in floor_results["floors"].items():
        ratios[name] = {
            "build_over_floor": round(build["mb_per_cpu_s"] / f["mb_per_cpu_s"], 4),
            "marginal_over_floor": round(1 / per_mb / f["mb_per_cpu_s"], 4) if per_mb > 0 else None,
            "floor_share_of_build_cpu": round(f["cpu_s"] / build["cpu_s"], 4),
        }
    return {
        "fixed_cpu_s": fixed,
        "marginal_cpu_s_per_mb": round(per_mb, 4),
        "marginal_mb_per_cpu_s": round(1 / per_mb, 3) if per_mb > 0 else None,
        "ratios": ratios,
    }


def cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 or v == 0 else f"{v:.3g}"
    return str(v)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [headers, *[[cell(v) for v in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def report_text(results: dict) -> str:
    build, tiny, d = results["build"], results["tiny_build"], results["derived"]
    fetch = results["floors"]["floors"]["gunzip_sha1"]
    out = [
        f"the-stack-v2 without {', '.join(LEFT_OUT)}, size {results['size']} ({' '.join(results['packages'])}): "
        f"{build['files_in']:,} files, {build['mb_in']} MB in (report.json totals.input); "
        f"{fetch['files']:,} content objects, {fetch['mb']} MB decompressed; {results['cores']} cores, "
        f"load {results['load_avg_at_start'][0]} -> {results['load_avg_at_end'][0]}",
        "",
        "Build: fresh subprocess, --runner=DirectRunner in-process; CPU-s = user+sys incl. interpreter start, imports",
        table(
            ["run", "files in", "MB in", "CPU-s", "startup CPU-s", "wall s", "MB/CPU-s", "files/s", "peak RSS MB"],
            [
                [name, r["files_in"], r["mb_in"], r["cpu_s"], r["startup_cpu_s"], r["pipeline_wall_s"]]
                + [r["mb_per_cpu_s"], r["files_per_s"], r["peak_rss_mb"]]
                for name, r in (("corpus", build), (f"tiny ({TINY_PACKAGE})", tiny))
            ],
        ),
        f"fixed cost {d['fixed_cpu_s']} CPU-s (tiny archive, median of {tiny['cpu_s_runs']}); "
        f"marginal {d['marginal_cpu_s_per_mb']} CPU-s per MB "
        f"= {d['marginal_mb_per_cpu_s']} MB/CPU-s",
        "",
        "Floors: this process, every content object, steady state (first calls apart: "
        + ", ".join(f"{k} {v}" for k, v in results["floors"]["warm_up"].items())
        + ")",
        table(
            ["floor", "files", "MB", "CPU-s", "MB/CPU-s", "build/floor", "marginal/floor", "floor CPU/build CPU"],
            [
                [FLOOR_LABELS[name], f["files"], f["mb"], f["cpu_s"], f["mb_per_cpu_s"]]
                + list(d["ratios"][name].values())
                for name, f in results["floors"]["floors"].items()
            ],
        ),
    ]
    if "stages" in results:
        out += ["", "Per stage: CPU-s from prefix differences; in-stage = stage_time_us counters (wall, own code)"]
        out.append(
            table(
                ["stage", "prefix CPU-s", "stage CPU-s", "CPU-s/MB", "in-stage s", "in-stage s/MB"],
                [
                    [s["stage"], *(["off"] * 3 if s.get("off") else [s["prefix_cpu_s"], s["cpu_s"], s["cpu_s_per_mb"]])]
                    + [s["in_stage_s"], s["in_stage_s"] / build["mb_in"] if s["in_stage_s"] is not None else None]
                    for s in results["stages"]
                ],
            )
        )
        out.append("(the first row includes the fixed cost: interpreter start, imports, pipeline setup, traversal)")
    return "\n".join(out)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        archive, out, n_stages = sys.argv[2], sys.argv[3], int(sys.argv[4])
        return child(archive, out, n_stages, [a for a in sys.argv[5:] if a != "--"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--size", default="small", choices=list(SIZES))
    parser.add_argument("--skip-split", action="store_true", help="no per-stage prefix builds")
    parser.add_argument("--tiny-runs", type=int, default=3, help="builds of the tiny archive (the median is kept)")
    parser.add_argument("beam_args", nargs="*", help="extra Beam pipeline options, after --")
    args = parser.parse_args()

    workdir = Path(args.workdir).resolve()
    archive, repos, source_bytes = prepare(workdir, args.size, SIZES[args.size])
    # not "tiny": bench_scaling's (and bench_worker_memory's) "tiny" size is a 23 MB archive in the same workdir
    tiny_archive, _, _ = prepare(workdir, "fixed-cost", (TINY_PACKAGE,))
    results: dict = {
        "size": args.size,
        "packages": list(SIZES[args.size]),
        "source_mb": round(source_bytes / 1e6, 1),
        "cores": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    # Floors first: their first calls also fill numba's on-disk cache, which every build then reads.
    results["floors"] = floors(archive, repos)
    full = len(recipe_prefix().stages)
    tiny_runs = sorted(
        (
            measure(tiny_archive, workdir / "dataset-fixed-cost", full, args.beam_args)
            for _ in range(max(1, args.tiny_runs))
        ),
        key=lambda r: r["cpu_s"],
    )
    results["tiny_build"] = {**tiny_runs[len(tiny_runs) // 2], "cpu_s_runs": [r["cpu_s"] for r in tiny_runs]}
    results["build"] = build = measure(archive, workdir / f"dataset-{args.size}", full, args.beam_args)
    results["derived"] = derived(build, results["tiny_build"], results["floors"])
    if not args.skip_split:
        results["stages"] = stage_split(archive, workdir, build, args.beam_args)
    results["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (workdir / "build-results.json").write_text(json.dumps(results, indent=2))
    print(report_text(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
