"""Peak memory of an SDK worker as the input grows: the build on the PortableRunner with Beam's local job
service and an EXTERNAL worker pool (the set-up of a Spark or Flink job server, and the SDK harness a
Dataflow worker runs), at bench_scaling.py's input sizes.

The DirectRunner keeps each fused stage's output in its own memory, so its processes grow with the input
(bench_scaling.py). Here the runner's side (the job service: its buffers stand in for a cluster's
shuffle) and the workers' side (the SDK worker processes that run the stages' code on bundles) are
separate processes, so the workers' peak resident memory, sampled every 0.2 s with psutil, shows whether
what the stages themselves hold stays bounded.

    python benchmarks/bench_worker_memory.py --workdir /tmp/stack-v2-bench-scaling [--sizes small medium large]
        [--target-shard-mb MB]

Reuses bench_scaling's archives in the same work directory (imports them when missing). Prints JSON and
writes ``<workdir>/worker-memory-results[-shardNmb].json``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_archive import make_repos  # noqa: E402
from bench_scaling import SIZES, STAGES  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what}: nothing listening on {port} after {timeout} s")


class PeakRss:
    """Samples the resident memory of a process tree: the largest single process and the tree's sum."""

    def __init__(self, pid: int, interval: float = 0.2):
        self._root, self._interval = psutil.Process(pid), interval
        self.largest = self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self._root, *self._root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            sizes = []
            for p in procs:
                try:
                    sizes.append(p.memory_info().rss)
                except psutil.NoSuchProcess:
                    pass
            if sizes:
                self.largest, self.total = max(self.largest, max(sizes)), max(self.total, sum(sizes))
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def server(args: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        cwd=cwd,  # noqa: SIM115
        env=env,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    import signal

    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=15)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def measure(archive: Path, out: Path, home: Path, target_shard_mb: int | None = None) -> dict:
    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.build import BuildRequest, run_build
    from stack_v2.recipe import load_recipe

    home.mkdir(parents=True, exist_ok=True)
    job_port, pool_port = free_port(), free_port()
    jobs = server(
        [
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            "--port",
            str(job_port),
            "--staging_dir",
            str(home / "staging"),
        ],
        home / "job-service.log",
        home,
    )
    pool = server(
        ["-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(pool_port)],
        home / "worker-pool.log",
        home,
    )
    try:
        wait_listening(job_port, jobs, "job service")
        wait_listening(pool_port, pool, "worker pool")
        recipe = load_recipe("the-stack-v2")
        recipe = replace(recipe, stages=tuple(s for s in recipe.stages if s.name in STAGES))
        if target_shard_mb:  # a data shard is written by one worker from one group: its size bounds that memory
            recipe = replace(recipe, output={**recipe.output, "target_shard_bytes": target_shard_mb * 2**20})
        beam_args = [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{pool_port}",
        ]
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        with PeakRss(pool.pid) as workers, PeakRss(jobs.pid) as runner:
            report = run_build(BuildRequest(ArchiveLocation(str(archive)), str(out), recipe), beam_args)
        wall = time.perf_counter() - started
    finally:
        stop(pool)
        stop(jobs)
    mb_in = report["totals"]["input"]["bytes"] / 1e6
    return {
        "files_in": report["totals"]["input"]["files"],
        "mb_in": round(mb_in, 2),
        "wall_s": round(wall, 1),
        "mb_per_s": round(mb_in / wall, 3),
        "peak_rss_largest_sdk_worker_mb": round(workers.largest / 2**20),
        "peak_rss_worker_pool_tree_mb": round(workers.total / 2**20),
        "peak_rss_job_service_mb": round(runner.largest / 2**20),
        "target_shard_mb": round(recipe.output["target_shard_bytes"] / 2**20),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument(
        "--target-shard-mb",
        type=int,
        default=None,
        help="override the recipe's output.target_shard_bytes (default: the recipe's 256 MB)",
    )
    args = parser.parse_args()

    from stack_v2.archive.import_git import import_git

    workdir = Path(args.workdir).resolve()
    results: dict = {
        "cores": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "runner": "PortableRunner, local job service, EXTERNAL worker pool",
        "sizes": {},
    }
    for size in args.sizes:
        repos, _ = make_repos(workdir, SIZES[size])
        archive = workdir / f"archive-{size}"
        if not (archive / "graph").exists():
            import_git([str(r) for r in repos], str(archive))
        run = measure(archive, workdir / f"dataset-portable-{size}", workdir / f"portable-{size}", args.target_shard_mb)
        print(f"{size}: {json.dumps(run)}", file=sys.stderr)
        results["sizes"][size] = run
    results["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    name = "worker-memory-results" + (f"-shard{args.target_shard_mb}mb" if args.target_shard_mb else "")
    (workdir / f"{name}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
