"""`stack-v2 serve` benchmark: start-up (index build) time and memory, lookup latency (p50/p95) and a bounded
load test on loopback, over a manifest of at least 1,000,000 rows and a dropped table.

Real names: the paths of the files of this machine's installed Python packages (site-packages), one
repository per top-level directory there (``numpy``, ``apache_beam``, ...), repeated under several owners
(the package directories' names, in rotation) until the manifest holds ``--rows`` rows. Languages come from
go-enry by extension, as the build's language stage would name them; content ids and SWHIDs are derived from
the path (the lookups never read content). About 8% of the rows go to dropped/ with the reasons real stages
give, and one repository in fifty loses all its files (the pages' "no files" case).

    python benchmarks/bench_serve.py --workdir /tmp/stack-v2-bench-serve [--rows 1000000] [--seconds 15]

Prints one JSON object; the target is a lookup p95 under 100 ms with zero errors under load.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import enry
import httpx
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from stack_v2.io.publish import publish
from stack_v2.optout.requests import parse_request

DROP_REASONS = [  # (stage, outcome, reason, detail) as the build's stages write them
    ("exact_dedup", "dropped", "exact_duplicate", "kept {other}"),
    ("near_dedup", "dropped", "near_duplicate", "jaccard=0.91 with {other}"),
    ("long_lines", "dropped", "long_lines", "max_line_length=1204"),
    ("alpha_fraction", "dropped", "alpha_fraction", "alpha_fraction=0.12"),
    ("language_specific", "dropped", "text_filename", "filename={name}"),
    ("fetch_decode", "failed", "not_utf8", "byte 1873"),
]


def valid_name(name: str) -> bool:
    try:
        parse_request({"owner": name, "repos": [name], "received": "2000-01-01"})
    except ValueError:
        return False
    return True


def package_files() -> dict[str, list[str]]:
    """Top-level directory of site-packages -> relative paths of its files (compiled files left out)."""
    root = Path(sysconfig.get_paths()["purelib"])
    found: dict[str, list[str]] = {}
    for top in sorted(root.iterdir()):
        if not top.is_dir() or top.name.startswith(("_", ".")) or top.name.endswith((".dist-info", ".egg-info")):
            continue
        if not valid_name(top.name):
            continue
        paths = []
        for dirpath, dirnames, names in os.walk(top):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            paths += [os.path.relpath(os.path.join(dirpath, n), top) for n in names if not n.endswith(".pyc")]
        if paths:
            found[top.name] = sorted(paths)
    return found


def make_dataset(workdir: Path, rows: int, seed: int = 0) -> tuple[Path, list[str], list[str]]:
    """The dataset (published like a build's), its repositories and owners."""
    rng = random.Random(seed)
    packages = package_files()
    names = sorted(packages)
    language_of = {}
    dataset = workdir / "dataset"
    version = "bench-serve"
    out = dataset / "versions" / version
    (out / "manifest").mkdir(parents=True, exist_ok=True)
    (out / "dropped").mkdir(parents=True, exist_ok=True)
    manifest = pq.ParquetWriter(out / "manifest" / "part-00000-of-00001.parquet", MANIFEST)
    dropped = pq.ParquetWriter(out / "dropped" / "part-00000-of-00001.parquet", DROPPED)
    written, round_, repos, owners = 0, 0, [], set()
    while written < rows:
        for i, package in enumerate(names):
            owner = names[(i * 7 + round_ * 13) % len(names)]
            repo = f"{owner}/{package}"
            repos.append(repo)
            owners.add(owner)
            all_dropped = rng.random() < 0.02
            m_cols: dict[str, list] = {k: [] for k in MANIFEST.names}
            d_cols: dict[str, list] = {k: [] for k in DROPPED.names}
            for path in packages[package]:
                blob = hashlib.sha1(f"{repo}/{path}".encode()).hexdigest()
                if all_dropped or rng.random() < 0.08:
                    stage, outcome, reason, detail = rng.choice(DROP_REASONS)
                    other = f"{names[rng.randrange(len(names))]}:{path}"
                    for k, v in zip(DROPPED.names, (blob, repo, path, stage, outcome, reason)):
                        d_cols[k].append(v)
                    d_cols["detail"].append(detail.format(other=other, name=os.path.basename(path)))
                    continue
                ext = os.path.splitext(path)[1]
                if ext not in language_of:
                    language_of[ext] = enry.get_language_by_extension(path).language or None
                snp = hashlib.sha1(f"snp {repo}".encode()).hexdigest()
                rev = hashlib.sha1(f"rev {repo}".encode()).hexdigest()
                swhid = (
                    f"swh:1:cnt:{blob};origin=https://github.com/{repo};visit=swh:1:snp:{snp};"
                    f"anchor=swh:1:rev:{rev};path=/{path}"
                )
                for k, v in zip(
                    MANIFEST.names,
                    (blob, repo, path, language_of[ext], rng.choice(LICENSES), swhid),
                ):
                    m_cols[k].append(v)
            if m_cols["path"]:
                manifest.write_table(pa.table(m_cols, schema=MANIFEST))
                written += len(m_cols["path"])
            if d_cols["path"]:
                dropped.write_table(pa.table(d_cols, schema=DROPPED))
            if written >= rows:
                break
        round_ += 1
    manifest.close()
    dropped.close()
    publish(str(dataset), version, ["manifest", "dropped"])
    return dataset, repos, sorted(owners)


LICENSES = ["permissive", "permissive", "permissive", "no_license", "no_license"]
MANIFEST = pa.schema([(c, pa.string()) for c in ("blob_id", "repo_name", "path", "language", "license_type", "swhid")])
DROPPED = pa.schema(
    [(c, pa.string()) for c in ("blob_id", "repo_name", "path", "stage", "outcome", "reason", "detail")]
)


def queries(repos: list[str], owners: list[str], n: int, seed: int = 1) -> list[str]:
    """Owners and owner/repo, hits and misses, in the forms visitors type."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            out.append(rng.choice(owners))
        elif kind == 1:
            out.append(rng.choice(repos))
        elif kind == 2:
            out.append("https://github.com/" + rng.choice(repos).upper() + ".git")
        elif kind == 3:
            out.append(f"no-such-owner-{i}")
        else:
            out.append(f"{rng.choice(owners)}/no-such-repo-{i}")
    return out


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def latency(url: str, qs: list[str], route: str) -> dict:
    times, errors = [], 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for q in qs:
            t = time.perf_counter()
            r = client.get(route, params={"q": q})
            times.append((time.perf_counter() - t) * 1000)
            errors += r.status_code != 200
    return {
        "route": route,
        "queries": len(qs),
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "p99_ms": round(percentile(times, 99), 1),
        "errors": errors,
    }


async def load(url: str, qs: list[str], concurrency: int, seconds: float) -> dict:
    done, errors, stop = 0, 0, time.monotonic() + seconds

    async def worker(k: int, client: httpx.AsyncClient):
        nonlocal done, errors
        i = k
        while time.monotonic() < stop:
            r = await client.get("/lookup", params={"q": qs[i % len(qs)]})
            errors += r.status_code != 200
            done += 1
            i += concurrency

    limits = httpx.Limits(max_connections=concurrency)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(k, client) for k in range(concurrency)))
    elapsed = time.monotonic() - started
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "requests": done,
        "rps": round(done / elapsed, 1),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    t = time.monotonic()
    dataset, repos, owners = make_dataset(workdir, args.rows)
    made = time.monotonic() - t
    files = pq.ParquetFile(dataset / "manifest" / "part-00000-of-00001.parquet").metadata.num_rows
    drops = pq.ParquetFile(dataset / "dropped" / "part-00000-of-00001.parquet").metadata.num_rows

    argv = [sys.executable, "-m", "stack_v2.cli", "serve", "--dataset", str(dataset), "--port", "0"]
    argv += ["--requests", str(workdir / "requests.sqlite")]
    t = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        startup = time.monotonic() - t
        if not line.startswith("stack-v2: serving"):
            raise SystemExit(f"the server did not start: {line!r}")
        url = line.split(" on ", 1)[1].strip()
        rss_ready = psutil.Process(proc.pid).memory_info().rss
        qs = queries(repos, owners, args.queries)
        results = {
            "manifest_rows": files,
            "dropped_rows": drops,
            "repositories": len(set(repos)),
            "owners": len(owners),
            "dataset_made_s": round(made, 1),
            "startup_s": round(startup, 2),
            "rss_after_index_mb": round(rss_ready / 2**20),
            "lookup_html": latency(url, qs, "/lookup"),
            "lookup_api": latency(url, qs, "/api/v1/lookup"),
            "load": asyncio.run(load(url, qs, args.concurrency, args.seconds)),
            "rss_after_load_mb": round(psutil.Process(proc.pid).memory_info().rss / 2**20),
            "cpus": os.cpu_count(),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
