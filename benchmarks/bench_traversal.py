"""Bytes the default-branch traversal shuffles, per level and in all, against the size of the directory table:
many repositories in the archive, a few origins selected, so the table is much larger than the part reached.

Method: after ``ListDefaultBranchFiles`` is built, every GroupByKey inside it gets a second consumer of its
input PCollection, a Map that counts the elements and sums ``len(pickle.dumps(element))`` in Beam counters
(the transform itself is unchanged; these are the bytes a runner moves through that shuffle, up to its coder's
encoding). GroupByKeys inside a CombinePerKey (``Distinct``) are reported apart: runners lift the combiner,
so what they shuffle is less (an upper bound). The table's size is the same measure over every
``directory_entry`` row as the traversal reads it, ``(directory_id, (name, type, target, perms))``.

Each implementation runs in a subprocess on the DirectRunner: this tree's, and with ``--baseline DIR`` another
checkout's (``git worktree add /tmp/trav-old <commit>``), first on the PYTHONPATH. The walk's steps are its
``Group{n}`` shuffles: one per level with several buckets (``--buckets N``; by default one per 64 MB of the
table's ORC files), a single one with one bucket, where the levels run in place and only the roots move.

    python benchmarks/bench_traversal.py --workdir /tmp/stack-v2-bench-traversal [--baseline /tmp/trav-old]

Prints a table and writes ``<workdir>/traversal-results.json``. Not a test: sizes depend on the installed
packages, times on the machine.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_archive import make_repos  # noqa: E402

# Installed with the project and its test dependencies: about 30 repositories, 150 MB of sources.
DEFAULT_PACKAGES = (
    "apache_beam",
    "botocore",
    "moto",
    "numpy",
    "pandas",
    "sympy",
    "cfnlint",
    "werkzeug",
    "networkx",
    "dask",
    "distributed",
    "pip",
    "setuptools",
    "pyarrow",
    "huggingface_hub",
    "pygments",
    "hypothesis",
    "_pytest",
    "rich",
    "jinja2",
    "click",
    "requests",
    "aiohttp",
    "yaml",
    "attr",
    "dulwich",
    "swh",
    "scancode",
    "licensedcode",
    "packagedcode",
)
DEFAULT_SELECTED = ("pip", "click")  # pip: vendored packages, 6 levels deep
NS = "bench_traversal"


# ------------------------------------------------------------------------------------ in a subprocess


def _meter(element, label: str):
    from apache_beam.metrics import Metrics

    Metrics.counter(NS, f"{label}|bytes").inc(len(pickle.dumps(element, protocol=pickle.HIGHEST_PROTOCOL)))
    Metrics.counter(NS, f"{label}|elements").inc()


def _count_files(_file):
    from apache_beam.metrics import Metrics

    Metrics.counter(NS, "files").inc()


def measure(archive: str, origins: list[str], buckets: int | None) -> dict:
    """Run the traversal with a meter on each of its GroupByKeys; returns the counters and the time."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.pipeline import PipelineVisitor

    import stack_v2.archive.traverse as traverse
    from stack_v2.archive.location import ArchiveLocation

    class Groups(PipelineVisitor):
        def __init__(self):
            self.found = []

        def visit_transform(self, node):
            if isinstance(node.transform, beam.GroupByKey) and node.full_label.startswith("List/"):
                self.found.append((node.full_label.removeprefix("List/"), node.inputs[0]))

    kwargs = {"origins": origins}
    params = inspect.signature(traverse.ListDefaultBranchFiles).parameters
    with tempfile.TemporaryDirectory(prefix="bench-traversal-") as scratch:
        if "scratch_dir" in params:
            kwargs["scratch_dir"] = scratch
            if buckets:
                kwargs["buckets"] = buckets
        p = beam.Pipeline()
        out = p | "List" >> traverse.ListDefaultBranchFiles(ArchiveLocation(archive), **kwargs)
        _ = out["files"] | "CountFiles" >> beam.Map(_count_files)
        groups = Groups()
        p.visit(groups)
        for i, (label, pcoll) in enumerate(groups.found):
            _ = pcoll | f"Meter{i}" >> beam.Map(_meter, label)
        started = time.perf_counter()
        result = p.run()
        result.wait_until_finish()
        seconds = time.perf_counter() - started
    counters = {}
    for c in result.metrics().query(MetricsFilter())["counters"]:
        if c.key.metric.namespace in (NS, "traverse"):
            name = c.key.metric.name if c.key.metric.namespace == NS else f"traverse:{c.key.metric.name}"
            counters[name] = counters.get(name, 0) + (c.committed or c.attempted or 0)
    groups_out = {}
    for key, value in counters.items():
        if "|" in key:
            label, what = key.rsplit("|", 1)
            groups_out.setdefault(label, {"elements": 0, "bytes": 0})[what] = value
    for label, _pcoll in groups.found:
        groups_out.setdefault(label, {"elements": 0, "bytes": 0})
    return {
        "implementation": traverse.__file__,
        "seconds_with_meters": round(seconds, 1),
        "files": counters.get("files", 0),
        "groups": groups_out,
        "traverse_counters": {k: v for k, v in counters.items() if k.startswith("traverse:")},
    }


# --------------------------------------------------------------------------------------- the driver


def table_size(archive: Path) -> dict:
    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.archive.orc import iter_table

    location = ArchiveLocation(str(archive))
    rows = pickled = 0
    directories = set()
    for batch in iter_table(location, "directory_entry", ["directory_id", "name", "type", "target", "perms"]):
        for d, name, kind, target, perms in zip(*(c.to_pylist() for c in batch.columns)):
            rows += 1
            directories.add(d)
            pickled += len(pickle.dumps((d, (name, kind, target, perms)), protocol=pickle.HIGHEST_PROTOCOL))
    orc_bytes = sum(f.stat().st_size for f in (archive / "graph" / "orc" / "directory_entry").glob("*.orc"))
    return {"rows": rows, "directories": len(directories), "pickled_bytes": pickled, "orc_bytes": orc_bytes}


def run_one(workdir: Path, archive: Path, origins: list[str], buckets: int | None, path: str | None) -> dict:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join([path, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = workdir / f"measure-{'baseline' if path else 'current'}.json"
    command = [sys.executable, __file__, "--measure", str(archive), "--out", str(out), "--origins", *origins]
    subprocess.run(command + (["--buckets", str(buckets)] if buckets else []), check=True, env=env)
    return json.loads(out.read_text())


def summarise(measured: dict) -> dict:
    """Per level, the traversal's listing shuffle, the other shuffles, and the totals."""
    groups = measured["groups"]
    levels = {int(k.removeprefix("Group")): v for k, v in groups.items() if k.startswith("Group") and k[5:].isdigit()}
    listing = {k: v for k, v in groups.items() if k.startswith("Listing")}
    combined = {k: v for k, v in groups.items() if "CombinePerKey" in k}
    other = {k: v for k, v in groups.items() if k not in listing and k not in combined and not k.startswith("Group")}
    return {
        "levels": [levels[d] for d in sorted(levels)],
        "levels_bytes": sum(v["bytes"] for v in levels.values()),
        "listing_shuffle_bytes": sum(v["bytes"] for v in listing.values()),
        "other_bytes": sum(v["bytes"] for v in other.values()),
        "combine_upper_bound_bytes": sum(v["bytes"] for v in combined.values()),
        "total_bytes": sum(v["bytes"] for k, v in groups.items() if k not in combined),
        "group_by_keys": len(groups),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out-traversal")
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--select", nargs="+", default=list(DEFAULT_SELECTED), help="the repositories listed")
    parser.add_argument("--baseline", help="a checkout whose traversal is measured too (PYTHONPATH first)")
    parser.add_argument("--buckets", type=int, help="bucket count for both traversals (default: by size)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # in the subprocess: the archive
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--origins", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        Path(args.out).write_text(json.dumps(measure(args.measure, args.origins, args.buckets)))
        return 0

    from stack_v2.archive.import_git import import_git

    workdir = Path(args.workdir).resolve()
    repos, source_bytes = make_repos(workdir, args.packages)
    archive = workdir / "archive"
    if not (archive / "graph").exists():
        started = time.perf_counter()
        import_git([str(r) for r in repos], str(archive))
        print(f"imported {len(repos)} repositories in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    origins = [f"https://github.com/local/{name}" for name in args.select]
    results: dict = {"repositories": len(repos), "source_mb": round(source_bytes / 1e6, 1), "origins": origins}
    results["directory_entry"] = table_size(archive)
    runs = {"current": run_one(workdir, archive, origins, args.buckets, None)}
    if args.baseline:
        runs["baseline"] = run_one(workdir, archive, origins, args.buckets, str(Path(args.baseline).resolve()))
    for name, measured in runs.items():
        results[name] = {**measured, **summarise(measured)}
    (workdir / "traversal-results.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    table = results["directory_entry"]
    mb = 1e6
    print(
        f"{results['repositories']} repositories ({results['source_mb']} MB of sources), {len(results['origins'])} "
        f"selected; directory_entry: {table['rows']:,} rows, {table['directories']:,} directories, "
        f"{table['pickled_bytes'] / mb:.2f} MB pickled ({table['orc_bytes'] / mb:.2f} MB ORC)"
    )
    names = [n for n in ("baseline", "current") if n in results]
    print("steps  " + "  ".join(f"{n + ' elements':>18} {n + ' MB':>12}" for n in names) + "  (each step's shuffle)")
    depth = max(len(results[n]["levels"]) for n in names)
    rows = []  # consecutive levels that moved the same are one line
    for d in range(depth):
        cells = []
        for n in names:
            level = results[n]["levels"][d] if d < len(results[n]["levels"]) else {"elements": 0, "bytes": 0}
            cells.append(f"{level['elements']:>18,} {level['bytes'] / mb:>12.3f}")
        line = "  ".join(cells)
        if rows and rows[-1][2] == line:
            rows[-1][1] = d + 1
        else:
            rows.append([d + 1, d + 1, line])
    for first, last, line in rows:
        print(f"{first if first == last else f'{first}-{last}':>6} {line}")
    for key, what in (
        ("levels_bytes", "all steps (levels)"),
        ("listing_shuffle_bytes", "listings grouped (once)"),
        ("other_bytes", "other joins and reads"),
        ("total_bytes", "total shuffled"),
        ("combine_upper_bound_bytes", "Distinct, before lifting"),
    ):
        cells = "  ".join(
            f"{results[n][key] / mb:>10.3f} MB = {results[n][key] / table['pickled_bytes']:>6.2f} x table"
            for n in names
        )
        print(f"{what:<26} {cells}")
    for n in names:
        r = results[n]
        print(
            f"{n}: {r['files']:,} files, {r['seconds_with_meters']} s (with meters), {r['group_by_keys']} GroupByKeys"
        )
        if r["traverse_counters"]:
            print(f"  {json.dumps(r['traverse_counters'])}")


if __name__ == "__main__":
    sys.exit(main())
