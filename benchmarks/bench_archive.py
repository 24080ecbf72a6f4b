"""Archive-layer benchmark: import, traversal and content fetch on >= 50 MB of real code, local and S3.

Real code: the source and data files (.py, .json, .pyx, .pxd, .pyi, .h, .c, .txt, .md, .rst) of
packages installed on this machine, one git repository per package. Side-by-side baselines:
- traversal vs ``git ls-tree -r HEAD`` over the same repositories (git's own tree walk, C);
- fetch vs the-stack-v2's way (one sequential boto3 ``get_object`` + gunzip per blob,
  docs/the-stack-v2.md §3.2), against the same moto S3 server on loopback.

    python benchmarks/bench_archive.py --workdir /tmp/stack-v2-bench [--packages apache_beam botocore ...]

Prints a table and writes ``<workdir>/results.json``. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

SUFFIXES = {".py", ".json", ".pyx", ".pxd", ".pyi", ".h", ".c", ".txt", ".md", ".rst"}
DEFAULT_PACKAGES = ("apache_beam", "botocore", "moto", "numpy", "dulwich", "swh")
ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "b@x",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "b@x",
    "GIT_AUTHOR_DATE": "2023-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2023-01-01T00:00:00+0000",
}


def make_repos(workdir: Path, packages) -> tuple[list[Path], int]:
    site = Path(sysconfig.get_paths()["purelib"])
    repos, total = [], 0
    for name in packages:
        src = site / name
        if not src.is_dir():
            print(f"skipping {name}: not installed", file=sys.stderr)
            continue
        repo = workdir / "repos" / name
        if not (repo / ".git").exists():
            repo.mkdir(parents=True, exist_ok=True)
            for f in src.rglob("*"):
                if f.is_file() and f.suffix in SUFFIXES and "__pycache__" not in f.parts:
                    dest = repo / f.relative_to(src)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, dest)
            env = {**os.environ, **ENV}
            for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", f"{name} sources"]):
                subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
        total += sum(f.stat().st_size for f in repo.rglob("*") if f.is_file() and ".git" not in f.parts)
        repos.append(repo)
    return repos, total


def start_moto() -> subprocess.Popen:
    """moto's S3 server in its own process (in-process it would share our GIL and skew the numbers)."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=url
    )
    return server


def upload(archive: Path, bucket: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    files = [f for f in archive.rglob("*") if f.is_file()]
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda f: client.put_object(Bucket=bucket, Key=f.relative_to(archive).as_posix(), Body=f.read_bytes()),
                files,
            )
        )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    from stack_v2.archive.content import fetch_many
    from stack_v2.archive.content_store import open_content_store
    from stack_v2.archive.import_git import import_git
    from stack_v2.archive.listing import list_files
    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.archive.orc import iter_table

    workdir = Path(args.workdir).resolve()
    repos, source_bytes = make_repos(workdir, args.packages)
    archive = workdir / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    results: dict = {"source_mb": source_bytes / 1e6, "repos": len(repos), "cores": os.cpu_count()}

    t = time.perf_counter()
    summary = import_git([str(r) for r in repos], str(archive))
    results["import_s"] = time.perf_counter() - t
    results["import_mb_s"] = summary.content_bytes / 1e6 / results["import_s"]

    location = ArchiveLocation(str(archive))
    traversal_tables = [
        "origin_visit_status",
        "snapshot_branch",
        "revision",
        "directory_entry",
        "content",
        "skipped_content",
    ]
    rows = sum(
        b.num_rows
        for t_ in traversal_tables
        for b in iter_table(
            location,
            t_,
            [
                {
                    "origin_visit_status": "origin",
                    "snapshot_branch": "snapshot_id",
                    "revision": "id",
                    "directory_entry": "directory_id",
                }.get(t_, "sha1")
            ],
        )
    )
    # The traversal is 64 join levels: on the DirectRunner each costs a fixed few tens of ms whatever
    # the data. Measure that on a one-repository archive and report the marginal rate too.
    tiny = workdir / "tiny-archive"
    shutil.rmtree(tiny, ignore_errors=True)
    import_git([str(repos[-1])], str(tiny))
    t = time.perf_counter()
    list_files(ArchiveLocation(str(tiny)))
    results["traverse_fixed_overhead_s"] = time.perf_counter() - t
    t = time.perf_counter()
    files, problems = list_files(location)
    results["traverse_local_s"] = time.perf_counter() - t
    results["traverse_local_marginal_rows_s"] = rows / max(
        1e-9, results["traverse_local_s"] - results["traverse_fixed_overhead_s"]
    )
    results["graph_rows"] = rows
    results["files"] = len(files)
    results["traverse_local_rows_s"] = rows / results["traverse_local_s"]
    t = time.perf_counter()
    for repo in repos:
        subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "HEAD"], check=True, capture_output=True)
    results["git_ls_tree_s"] = time.perf_counter() - t

    items = [(f.blob_id, f.content_id, f.length) for f in files]
    blob_bytes = sum(f.length for f in files)
    results["blob_mb"] = blob_bytes / 1e6
    t = time.perf_counter()
    ok = sum(r.data is not None for r in fetch_many(open_content_store(location), items, args.concurrency))
    results["fetch_local_s"] = time.perf_counter() - t
    results["fetch_local_mb_s"] = blob_bytes / 1e6 / results["fetch_local_s"]
    assert ok == len(items), f"{len(items) - ok} local fetches failed"

    server = start_moto()
    try:
        upload(archive, "bench")
        s3 = ArchiveLocation("s3://bench")
        t = time.perf_counter()
        s3_files, _ = list_files(s3)
        results["traverse_s3_s"] = time.perf_counter() - t
        results["traverse_s3_rows_s"] = rows / results["traverse_s3_s"]
        assert s3_files == files
        t = time.perf_counter()
        ok = sum(r.data is not None for r in fetch_many(open_content_store(s3), items, args.concurrency))
        results["fetch_s3_s"] = time.perf_counter() - t
        results["fetch_s3_mb_s"] = blob_bytes / 1e6 / results["fetch_s3_s"]
        assert ok == len(items), f"{len(items) - ok} S3 fetches failed"

        import boto3  # the-stack-v2's fetch: sequential get_object + gunzip, no verification

        client = boto3.client("s3")
        t = time.perf_counter()
        for blob_id, _, _ in items:
            gzip.decompress(client.get_object(Bucket="bench", Key=f"content/{blob_id}")["Body"].read())
        results["fetch_s3_sequential_baseline_s"] = time.perf_counter() - t
    finally:
        server.terminate()
        server.wait()

    results["ratio_fetch_s3_vs_sequential"] = results["fetch_s3_sequential_baseline_s"] / results["fetch_s3_s"]
    results["ratio_traverse_vs_git_ls_tree"] = results["traverse_local_s"] / results["git_ls_tree_s"]
    results["peak_rss_mb"] = peak_rss_mb()
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value:,.2f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
