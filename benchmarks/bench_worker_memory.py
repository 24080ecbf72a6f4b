"""Peak memory of each worker process as the input grows, on a multi-process runner with a per-worker memory
limit: the build (bench_scaling.py's recipe: the paper's stages without ``license``, bench_scaling.STAGES) at
bench_scaling's input sizes (installed packages' sources; by default ``tiny``, ``medium`` and ``large``:
23, 122 and 408 MB where scipy and jedi are not installed, an 18x series).

Result (2 cores, DaskRunner, ``dask worker --nworkers 2 --nthreads 1 --memory-limit 2GB``; MiB, each worker
process's peak RSS; CPU-s of every process of the set-up):

    input                       23 MB               122 MB              408 MB
    before (two partitions)     612 at 42 MB        983                 killed at 2 GB (nanny, 95%)
    by size, 32 MB partitions   571, 501 / 34 s     819, 627 / 58 s     1348, 1002 / 180 s
    same, 8 MB partitions                                               1320, 979 / 265 s
    same, 32 MB output shards   574, 505 / 31 s     691, 690 / 51 s     1366, 1248 / 177 s
    32 MB, every element sized                                          1370, 1031 / 479 s
    32 MB, this fetch and CC    556, 452 / 32 s     780, 599 / 48 s     1403, 1084 / 158 s
    32 MB, content compressed   542, 454 / 25 s     777, 605 / 42 s     1231, 989 / 117 s
    same, a second run          551, 444 / 20 s     775, 627 / 42 s     1329, 825 / 98 s

    input (``--sizes xlarge``, bench_scaling's 4x large)                              1,660 MB
    32 MB, content compressed   killed 6 times, unfinished after 18 min (a fetch task held up to 650 MB)
    same, fetch planned by the content it brings   1801, 1662, 1745, 1832, 1463 (3 restarts) / 2352 s:
                                timed out after 1800 s, one worker paused at 80% for its last 10 minutes

Before, partitions were the cluster's threads (two), so every partition grew with the input and a 408 MB build
was killed. Now a shuffle's partitions follow its input's size (``--dask_partition_mb``, 32 by default) and
Dask sizes Beam's elements, so every task's input and output are bounded (per task, at most about 390 MB of
growth at 408 MB: fetch_decode, language, near_dedup's signatures, the shard writer) and the largest worker
stays under 2 GB at every size; no worker was paused or killed. Since records pickle their content compressed
(stack_v2/packed_text.py), the largest worker at 408 MB peaks at 1,231-1,329 MiB instead of 1,403, for a
quarter less CPU. It is not flat in the sense of ``verdict`` (2.3x from 23 to 408 MB, for 18x the input). What
still grows is the results a worker stores between steps, which Dask keeps in memory until the process reaches
its spill threshold (70% of the limit, 1.4 GB here): before compression the 408 MB peaks sat at that
threshold, and 8 MB partitions did not lower them. With
``--memory-limit 1.5GB`` the 408 MB build failed (two workers killed; then Dask refused a task whose
inputs it estimated at 1.72 GiB, probably because Dask's ``sizeof`` sampled 10 elements of a list and one
large file among them was extrapolated to the whole list). Lists of WindowedValues are now sized from 512
to 1000 elements; sizing every element gave 1370 and 1031 MiB at 408 MB but 2.7x the CPU time; the sample
is not measured on a full build yet. Smaller output shards (``--target-shard-mb 32``) change little: the
recipe's 256 MB shard is not what grows.

At 1,660 MB (4x the large input; ``xlarge``), before 2026-12-07, the build did not finish under a 2 GB
limit. First, the partitions of a shuffle of file occurrences were planned by the occurrences' own few
hundred bytes, so the fetch task after it held the content of 29,000 files (up to 650 MB). Weighing an
occurrence by the content it will fetch (``dask_tasks.measure``) bounded every task again, but workers were
still paused and restarted. ``--probe-every`` (where each worker's memory is, in mid-run) showed why: a
worker paused at 80% held 1,532 MiB of RSS with 69 MB of glibc chunks in use and 922 MB free (``mallinfo2``),
pymalloc's arenas 494 MB for 207 MB of live objects, nothing stored in memory. ``malloc_trim(0)`` on it gave
back 500 MB in 50 ms. The workers trimmed after a task, but a paused worker runs no task, so it stayed
paused until its nanny restarted it. Three changes, each measured at 1,660 MB:

    input 1,660 MB (MiB, each worker process's peak RSS; wall s / CPU s of the set-up)
    trim by a worker plugin every 0.5 s while RSS >= 50% of the limit (stack_v2/dask_memory.py)
                                1 restart after 8 min, paused (stopped after 10 min)
    same, PYTHONMALLOC=malloc   1 restart after 7.5 min (stopped after 11 min)
    plugin, spill target 0.4 and spill 0.5 (not 0.6, 0.7: deploy/dask/README.md)
                                1 restart after 9.5 min, 4 pauses (stopped after 17 min); with
                                shards written one row group at a time:    1604, 1620 / 695 s / 1,270 s
                                same, near-dedup's joins shuffled (below): 1340, 1551 / 1,275 s / 2,266 s

With all three, every size builds under a 2 GB limit, no worker paused or restarted (``--target-shard-mb
64``: the shard writer's task, the largest in ``--task-memory``, adds up to 755 MB with 256 MB shards):

    input                       122 MB              408 MB              1,660 MB
    64 MB shards                782, 755 / 40 s     1081, 1023 / 149 s  1483, 1421 / 2,090 s

That is under 2 GB as the input grows 3.4x and then 4x, but not flat by ``verdict`` (1.9x from 122 MB to
1,660 MB; 1.37x over the last 4x). What grows is the shards and partitions in flight: a shard has 45-55 MB
at 122-408 MB of input and reaches its 64 MB target beyond. Spilling from 40% costs CPU: the 408 MB build
took 149 CPU-s against 98-117 s before. The 1,660 MB build is slow on Dask (0.8 MB per CPU-second): most
of its task time is WriteData's shuffle tasks (638 s of 2,609 tasks in ``--task-memory``), which move
spilled records. Not fixed here. The 695 s run above ran near-dedup's three small-side joins as in-process
lookups: ``joins.runs_in_process`` took Beam's DaskRunner, a BundleBasedDirectRunner, for an in-process
runner. It no longer does, and the 64 MB series ran with the joins' shuffles.

Runners (``--runner``):

- ``dask`` (default): this project's DaskRunner (``stack_v2/dask_runner.py``) on a ``dask.distributed``
  cluster started here for each size, as deploy/dask/README.md sets one up: ``dask scheduler`` and ``dask
  worker --nworkers N --nthreads 1 --memory-limit LIMIT`` as subprocesses (two worker processes and 2GB, i.e.
  2e9 bytes, by default; the workers' environment ``--worker-env``, by default deploy/dask/README.md's spill
  settings, ``WORKER_ENV``), the build pointed at it with ``--dask_client_address``. With a memory limit Dask
  spills stored results to disk from 40-50% of it here (60-70% by Dask's defaults), pauses a worker at 80%,
  and its nanny kills and restarts the worker at 95%; a task whose workers were killed four times fails the
  build (``KilledWorker``). A killed worker shows as one more worker process (``alive`` false; its peak is cut
  off at the nanny's 95%), and the nanny's "exceeded 95% memory budget" lines are counted. After a build that
  succeeded, each worker's RSS at rest (nothing stored, DoFns torn down) is read, then after ``gc.collect()``
  and after glibc's ``malloc_trim(0)``: what the trim gives back was freed but still held by the process.
- ``portable``: the PortableRunner with Beam's local job service and an EXTERNAL worker pool (the set-up of a
  Spark or Flink job server, and the SDK harness a Dataflow worker runs). Beam's worker pool has no memory
  limit of its own.

Each build's launcher (``run_build``: the pipeline's construction, the client, ``finish_build``) runs in a
fresh subprocess, so its peak is its own. Every process of the set-up (launcher, scheduler or job service,
nanny or worker pool, and each worker process with its children) is sampled with psutil every 0.2 s: the
peak RSS of each process and of each process's tree (it and its children), and the CPU time (user+sys)
each used during the build. Per size: every worker process's peak, the launcher's, wall time, and CPU time
of all of them. Memory figures are MiB (2**20 bytes). ``verdict.memory_flat``: every size built, no worker
killed for memory, the largest worker process under 2 GB at every size and growing less than 1.25x from the
smallest size to the largest (while the input grows about 18x).

    python benchmarks/bench_worker_memory.py --workdir /tmp/stack-v2-bench-scaling [--sizes small medium large]
        [--runner dask|portable] [--workers 2] [--memory-limit 2GB] [--dask-npartitions N] [--dask-partition-mb MB]
        [--stages K] [--target-shard-mb MB] [--task-memory] [--probe-every S] [--worker-env KEY=VALUE ...]
        [--timeout SECONDS]

To find what grows: ``--stages K`` runs only the first K stages of bench_scaling.STAGES;
``--dask-npartitions`` passes ``--dask_npartitions`` (a fixed partition count for Creates and shuffles, as
before: the cluster's total threads); ``--dask-partition-mb`` passes ``--dask_partition_mb`` (a shuffle's
output partition size, default 32); ``--target-shard-mb`` overrides the recipe's data shard size;
``--task-memory`` (dask) records every task's RSS before, during and after it, and the size of its result,
per Beam transform (``dask_task_memory.py``; ``<workdir>/dask-<size>/task-memory.json``).
``--probe-every S`` (dask) asks every worker every S seconds where its memory is: glibc's heap in use and
free (``mallinfo2``), pymalloc's arenas and live blocks, Arrow's pool, the results Dask stores, the live
objects by type, and what the trims gave back (``<workdir>/dask-<size>/live-probe.json``). Reuses
bench_scaling's archives in the same work directory (``<workdir>/archive-<size>``; imported once, when
missing). Prints JSON, a table and the verdict, and merges each size into
``<workdir>/worker-memory-<runner>[-<variant>].json`` (so sizes may be run one at a time). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
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

MB = 2**20
# deploy/dask/README.md's worker settings: Dask spills stored results from 40% of the memory limit (target)
# and from 50% of it measured as RSS (spill), not 60% and 70%, leaving room for a shard writer's task.
WORKER_ENV = ["DASK_DISTRIBUTED__WORKER__MEMORY__TARGET=0.4", "DASK_DISTRIBUTED__WORKER__MEMORY__SPILL=0.5"]
FLAT_LIMIT_MB = 2000 * 1e6 / MB  # "under 2 GB"
FLAT_GROWTH = 1.25


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


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()  # its own: a reaped child's time would be counted twice (it is sampled itself)
    return t.user + t.system


class Sampler:
    """Samples process trees every ``interval`` s: for every process seen, its peak RSS, its tree's peak RSS
    (itself and its descendants), and its CPU time since the sampler started (or since it appeared).

    ``roots`` maps a role to a root pid; ``role_of(root_role, root_pid, process)`` names a descendant's role."""

    def __init__(self, roots: dict[str, int], role_of, interval: float = 0.2):
        self._roots = {role: psutil.Process(pid) for role, pid in roots.items()}
        self._role_of, self._interval = role_of, interval
        self.procs: dict[int, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sample(first=True)

    def _sample(self, first: bool = False) -> None:
        seen: set[int] = set()
        for role, root in self._roots.items():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            rss: dict[int, int] = {}
            parent: dict[int, int] = {}
            for p in tree:
                try:
                    with p.oneshot():
                        rss[p.pid], parent[p.pid], cpu = p.memory_info().rss, p.ppid(), _cpu(p)
                        entry = self.procs.get(p.pid)
                        if entry is None:
                            entry = self.procs[p.pid] = {
                                "pid": p.pid,
                                "role": role if p is root else self._role_of(role, root.pid, p),
                                "cmd": " ".join(p.cmdline())[:160],
                                "peak_rss_mb": 0.0,
                                "peak_tree_rss_mb": 0.0,
                                "cpu0": cpu if first else 0.0,
                                "cpu_s": 0.0,
                            }
                except psutil.Error:
                    rss.pop(p.pid, None)
                    continue
                seen.add(p.pid)
                entry["peak_rss_mb"] = max(entry["peak_rss_mb"], rss[p.pid] / MB)
                entry["cpu_s"] = max(entry["cpu_s"], cpu - entry["cpu0"])
            tree_rss = dict(rss)  # each process with its descendants, in this sample
            for pid, size in rss.items():
                up = parent.get(pid)
                while up in rss and up != pid:
                    tree_rss[up] += size
                    up = parent.get(up) if up != root.pid else None
            for pid, total in tree_rss.items():
                self.procs[pid]["peak_tree_rss_mb"] = max(self.procs[pid]["peak_tree_rss_mb"], total / MB)
        for pid, entry in self.procs.items():
            entry["alive"] = pid in seen

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def of_role(self, role: str | None) -> list[dict]:
        """The processes of ``role`` (None: all), as JSON."""
        return [
            {k: (round(v, 1) if isinstance(v, float) else v) for k, v in e.items() if k != "cpu0"}
            for e in self.procs.values()
            if role is None or e["role"] == role
        ]

    def peaks_by_role(self) -> dict[str, int]:
        peaks: dict[str, int] = {}
        for e in self.procs.values():
            peaks[e["role"]] = max(peaks.get(e["role"], 0), round(e["peak_rss_mb"]))
        return peaks

    def cpu_s(self) -> float:
        return sum(e["cpu_s"] for e in self.procs.values())


def role_of(root_role: str, root_pid: int, p: psutil.Process) -> str:
    """A descendant's role: a Dask worker process is a nanny's spawned child; an SDK worker the pool's."""
    cmd = " ".join(p.cmdline())
    if "resource_tracker" in cmd:
        return "resource_tracker"
    if root_role == "nanny" and "spawn_main" in cmd and p.ppid() == root_pid:
        return "worker"
    if root_role == "worker_pool" and ("sdk_worker_main" in cmd or "SdkHarness" in cmd):
        return "worker"
    return f"{root_role}-child"


def server(args: list[str], log: Path, cwd: Path, extra_env: dict | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        **(extra_env or {}),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    # the workers import dask_task_memory (--task-memory) from here
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        args,
        stdout=open(log, "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=20)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def recipe_for(stages: int | None, target_shard_mb: int | None):
    from stack_v2.recipe import load_recipe

    names = STAGES[:stages] if stages else STAGES
    recipe = load_recipe("the-stack-v2")
    recipe = replace(recipe, stages=tuple(s for s in recipe.stages if s.name in names))
    assert [s.name for s in recipe.stages] == list(names), [s.name for s in recipe.stages]
    if target_shard_mb:  # a data shard is written by one worker from one group: its size bounds that memory
        recipe = replace(recipe, output={**recipe.output, "target_shard_bytes": target_shard_mb * 2**20})
    return recipe


def child(archive: str, out: str, stages: int, target_shard_mb: int, measured: str, beam_args: list[str]) -> int:
    """The launcher: one build in its own process; writes its measurements to ``measured`` (JSON)."""
    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.build import BuildRequest, run_build

    recipe = recipe_for(stages or None, target_shard_mb or None)
    if os.environ.get("BENCH_TASK_MEMORY"):  # --task-memory: label the graph's keys, record each task's memory
        import dask_task_memory

        directory = Path(os.environ["BENCH_TASK_MEMORY"])
        dask_task_memory.record_labels(directory / "labels.json")
        (address,) = [a.split("=", 1)[1] for a in beam_args if a.startswith("--dask_client_address=")]
        dask_task_memory.register(address, directory)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    report = run_build(BuildRequest(ArchiveLocation(archive), out, recipe), beam_args)
    wall = time.perf_counter() - started
    self_ = resource.getrusage(resource.RUSAGE_SELF)
    totals = report["totals"]
    Path(measured).write_text(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": self_.ru_utime + self_.ru_stime,
                "ru_maxrss_mb": self_.ru_maxrss / 1024,
                "files_in": totals["input"]["files"],
                "bytes_in": totals["input"]["bytes"],
                "files_kept": totals["kept"]["files"],
                "bytes_kept": totals["kept"]["bytes"],
                "target_shard_mb": recipe.output["target_shard_bytes"] / MB,
            }
        )
    )
    return 0


def start_dask(
    home: Path, workers: int, memory_limit: str, worker_env: dict | None = None
) -> tuple[list[subprocess.Popen], list[str], dict]:
    port = free_port()
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler = server(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], home / "scheduler.log", home
    )
    wait_listening(port, scheduler, "dask scheduler")
    nanny = server(
        [
            dask,
            "worker",
            f"tcp://127.0.0.1:{port}",
            "--nworkers",
            str(workers),
            "--nthreads",
            "1",
            "--memory-limit",
            memory_limit,
            "--no-dashboard",
            "--local-directory",
            str(home / "dask-worker-space"),
        ],
        home / "workers.log",
        home,
        worker_env,
    )
    import dask.distributed as ddist

    with ddist.Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
        client.wait_for_workers(workers, timeout=180)
    beam_args = ["--runner=DaskRunner", f"--dask_client_address=tcp://127.0.0.1:{port}"]
    return [nanny, scheduler], beam_args, {"scheduler": scheduler.pid, "nanny": nanny.pid}


def _rest_probe(dask_worker) -> dict:
    """On a Dask worker after the run: RSS at rest, after gc.collect() and after glibc's malloc_trim(0) with
    Arrow's unused pages released (the plugin's ``dask_memory.return_freed_memory``); what the worker still
    stores and the DaskRunner's per-process pools (stack_v2.dask_tasks) still hold."""
    import gc

    from stack_v2 import dask_memory, dask_tasks

    proc = psutil.Process()
    out = {"pid": os.getpid(), "rest_mb": round(proc.memory_info().rss / MB)}
    out["stored_results"] = len(dask_worker.data)
    out["returned_by_trims_mb"] = round(dask_memory.RETURNED["bytes"] / MB)
    out["trims"] = dask_memory.RETURNED["trims"]
    out["pooled_steps"] = len(dask_tasks._IDLE) + len(dask_tasks._SPECS)
    gc.collect()
    out["after_gc_mb"] = round(proc.memory_info().rss / MB)
    dask_memory.return_freed_memory()
    out["after_malloc_trim_mb"] = round(proc.memory_info().rss / MB)
    return out


def _live_probe(dask_worker) -> dict:
    """On a Dask worker in mid-run: where its RSS is. glibc's heap (all arenas, ``mallinfo2``: in use and
    free), pymalloc's arenas (``sys._debugmallocstats``: bytes in live blocks, free in arenas), Arrow's memory
    pool, the results Dask stores in memory and on disk, and the live Python objects by type (count and
    ``sys.getsizeof``, the top 12 by size)."""
    import collections
    import ctypes
    import gc
    import re
    import tempfile

    from stack_v2 import dask_memory

    out = {"pid": os.getpid(), "t": round(time.time(), 1), "rss_mb": round(psutil.Process().memory_info().rss / MB)}
    out["returned"] = {"trims": dask_memory.RETURNED["trims"], "mb": round(dask_memory.RETURNED["bytes"] / MB)}

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (n, ctypes.c_size_t)
            for n in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        mi = libc.mallinfo2()
        out["glibc_mb"] = {
            "heap": round(mi.arena / MB),
            "mmapped": round(mi.hblkhd / MB),
            "in_use": round(mi.uordblks / MB),
            "free": round(mi.fordblks / MB),
        }
    except (OSError, AttributeError):
        pass
    # pymalloc writes its statistics to the C stderr: read them through a temporary file on fd 2.
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    stats = {}
    for key, pattern in (
        ("arenas", r"# arenas allocated current\s*=\s*([\d,]+)"),
        ("live", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
        ("free_blocks", r"# bytes in available blocks\s*=\s*([\d,]+)"),
        ("free_pools", r"(\d[\d,]*) unused pools \* \d+ bytes\s*=\s*([\d,]+)"),
    ):
        m = re.search(pattern, text)
        if m:
            stats[key] = int(m.groups()[-1].replace(",", ""))
    out["pymalloc_mb"] = {
        "arenas": stats.get("arenas"),
        **{k: round(v / MB) for k, v in stats.items() if k != "arenas"},
    }
    try:
        import pyarrow as pa

        pool = pa.default_memory_pool()
        out["arrow_mb"] = {
            "backend": pool.backend_name,
            "allocated": round(pool.bytes_allocated() / MB),
            "max": round(pool.max_memory() / MB),
        }
    except Exception as e:  # noqa: BLE001 - a probe
        out["arrow_mb"] = repr(e)
    data = dask_worker.data
    fast = getattr(data, "fast", None)
    out["stored"] = {
        "results": len(data),
        "in_memory_mb": round(getattr(fast, "total_weight", 0) / MB),
        "spilled_mb": round(getattr(getattr(data, "slow", None), "total_weight", 0) / MB)
        if hasattr(getattr(data, "slow", None), "total_weight")
        else None,
    }
    counts: collections.Counter = collections.Counter()
    sizes: collections.Counter = collections.Counter()
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] += 1
        try:
            sizes[name] += sys.getsizeof(obj)
        except TypeError:
            pass
    out["gc_objects"] = sum(counts.values())
    out["top_types"] = [(name, counts[name], round(size / MB, 1)) for name, size in sizes.most_common(12)]
    return out


class LiveProbe(threading.Thread):
    """``_live_probe`` on every worker every ``every`` seconds while the build runs."""

    def __init__(self, beam_args: list[str], every: float):
        super().__init__(daemon=True)
        (self.address,) = [a.split("=", 1)[1] for a in beam_args if a.startswith("--dask_client_address=")]
        self.every, self.samples, self.stopped = every, [], threading.Event()

    def run(self) -> None:
        import dask.distributed as ddist

        with ddist.Client(self.address, timeout=60) as client:
            while not self.stopped.wait(self.every):
                try:
                    self.samples += list(client.run(_live_probe, on_error="return").values())
                except Exception as e:  # noqa: BLE001 - a probe
                    self.samples.append({"error": repr(e)})


def rest_probe(beam_args: list[str]) -> list[dict]:
    """_rest_probe on every worker of the cluster the build ran on."""
    import dask.distributed as ddist

    (address,) = [a.split("=", 1)[1] for a in beam_args if a.startswith("--dask_client_address=")]
    with ddist.Client(address, timeout=60) as client:
        return sorted(client.run(_rest_probe).values(), key=lambda r: r["pid"])


def start_portable(home: Path) -> tuple[list[subprocess.Popen], list[str], dict]:
    job_port, pool_port = free_port(), free_port()
    py = sys.executable
    jobs = server(
        [
            py,
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
        [py, "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(pool_port)],
        home / "worker-pool.log",
        home,
    )
    wait_listening(job_port, jobs, "job service")
    wait_listening(pool_port, pool, "worker pool")
    beam_args = [
        "--runner=PortableRunner",
        f"--job_endpoint=localhost:{job_port}",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{pool_port}",
    ]
    return [pool, jobs], beam_args, {"job_service": jobs.pid, "worker_pool": pool.pid}


def measure(archive: Path, out: Path, home: Path, args) -> dict:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    if args.runner == "dask":
        worker_env = dict(kv.split("=", 1) for kv in args.worker_env)
        servers, beam_args, roots = start_dask(home, args.workers, args.memory_limit, worker_env)
        if args.dask_npartitions:
            beam_args.append(f"--dask_npartitions={args.dask_npartitions}")
        if args.dask_partition_mb:
            beam_args.append(f"--dask_partition_mb={args.dask_partition_mb}")
    else:
        servers, beam_args, roots = start_portable(home)
    cmd = [sys.executable, __file__, "--child", str(archive), str(out), str(args.stages or 0)]
    cmd += [str(args.target_shard_mb or 0), str(home / "launcher.json"), "--", *beam_args]
    failure = None
    try:
        started = time.perf_counter()
        if args.task_memory:
            os.environ["BENCH_TASK_MEMORY"] = str(home)
        launcher = server(cmd, home / "launcher.log", home)
        os.environ.pop("BENCH_TASK_MEMORY", None)
        probe = LiveProbe(beam_args, args.probe_every) if args.probe_every and args.runner == "dask" else None
        if probe:
            probe.start()
        with Sampler({**roots, "launcher": launcher.pid}, role_of) as sampled:
            try:
                launcher.wait(timeout=args.timeout)
            except subprocess.TimeoutExpired:
                failure = f"timeout after {args.timeout} s"
                stop(launcher)
        wall = time.perf_counter() - started
        if probe:
            probe.stopped.set()
            probe.join(timeout=120)
            (home / "live-probe.json").write_text(json.dumps(probe.samples, indent=1))
        rest = rest_probe(beam_args) if args.runner == "dask" and failure is None else None
    finally:
        for proc in servers:
            stop(proc)
    log = (home / "launcher.log").read_text(errors="replace")
    measured = None
    if launcher.returncode == 0:
        measured = json.loads((home / "launcher.json").read_text())
    elif failure is None:
        failure = f"launcher exited with {launcher.returncode}: " + _last_error(log)
    workers = sorted(sampled.of_role("worker"), key=lambda e: e["pid"])
    (launcher_entry,) = sampled.of_role("launcher")
    result = {
        "runner": " ".join(beam_args),
        "ok": failure is None,
        "failure": failure,
        "wall_s": round(wall, 1),
        "cpu_s": round(sampled.cpu_s(), 1),
        "peak_rss_worker_processes_mb": [round(w["peak_rss_mb"]) for w in workers],
        "peak_rss_largest_worker_mb": round(max((w["peak_rss_mb"] for w in workers), default=0)),
        "peak_rss_largest_worker_tree_mb": round(max((w["peak_tree_rss_mb"] for w in workers), default=0)),
        "peak_rss_launcher_mb": round(launcher_entry["peak_rss_mb"]),
        "peak_rss_by_role_mb": sampled.peaks_by_role(),
        "workers": workers,
        "others": [e for e in sampled.of_role(None) if e["role"] != "worker"],
    }
    if args.runner == "dask":
        worker_log = (home / "workers.log").read_text(errors="replace")
        result["memory_limit"] = args.memory_limit
        result["nanny_restarts_for_memory"] = worker_log.count("exceeded 95% memory budget")
        result["workers_paused"] = worker_log.count("Pausing worker")
        result["workers_at_rest_after_run"] = rest
    if args.task_memory:
        import dask_task_memory

        tasks = dask_task_memory.summarise(home)
        (home / "task-memory.json").write_text(json.dumps(tasks, indent=2))
        result["task_memory"] = str(home / "task-memory.json")
        result["task_memory_top_transforms"] = dict(list(tasks["per_transform"].items())[:8])
    if measured:
        mb_in = measured["bytes_in"] / 1e6
        result.update(
            {
                "files_in": measured["files_in"],
                "mb_in": round(mb_in, 2),
                "files_kept": measured["files_kept"],
                "mb_kept": round(measured["bytes_kept"] / 1e6, 2),
                "build_wall_s": round(measured["wall_s"], 1),
                "mb_per_s": round(mb_in / measured["wall_s"], 3),
                "cpu_launcher_s": round(measured["cpu_s"], 1),
                "target_shard_mb": round(measured["target_shard_mb"]),
            }
        )
    return result


def _last_error(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "Killed" in line or "Exception" in line]
    return (errors or lines or ["(no output)"])[-1][:400]


def verdict(sizes: dict) -> dict:
    """Flat: every size built, no worker killed for memory (a killed worker's peak is cut off at the nanny's
    95%), the largest worker process under 2 GB at every size and growing less than FLAT_GROWTH times."""
    done = list(sizes.values())
    if len(done) < 2:
        return {"memory_flat": None, "why": "fewer than two sizes measured"}
    small = min(done, key=lambda s: s["source_mb"])
    large = max(done, key=lambda s: s["source_mb"])
    growth = large["peak_rss_largest_worker_mb"] / max(small["peak_rss_largest_worker_mb"], 1)
    killed = {name: s.get("nanny_restarts_for_memory", 0) for name, s in sizes.items()}
    failed = [name for name, s in sizes.items() if not s["ok"]]
    under = all(s["peak_rss_largest_worker_mb"] < FLAT_LIMIT_MB for s in done) and not any(killed.values())
    flat = under and growth < FLAT_GROWTH and not failed
    return {
        "memory_flat": flat,
        "input_growth": round(large["source_mb"] / small["source_mb"], 2),
        "largest_worker_growth": round(growth, 2),
        "largest_worker_under_2gb_at_every_size": under,
        "nanny_restarts_for_memory": killed,
        "failed_sizes": failed,
    }


def table(sizes: dict) -> str:
    rows = ["size    MB in   workers' peak RSS (MB, per process)      launcher  wall s   CPU s  ok"]
    for name, s in sizes.items():
        mb = s.get("mb_in", s["source_mb"])
        peaks = ", ".join(str(p) for p in s["peak_rss_worker_processes_mb"])
        rows.append(
            f"{name:7} {mb:6.1f}  {peaks:40} {s['peak_rss_launcher_mb']:8} {s['wall_s']:7.1f} {s['cpu_s']:7.1f}"
            f"  {'yes' if s['ok'] else 'NO: ' + str(s['failure'])[:60]}"
        )
    return "\n".join(rows)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        archive, out, stages, shard, measured = (
            sys.argv[2],
            sys.argv[3],
            int(sys.argv[4]),
            int(sys.argv[5]),
            sys.argv[6],
        )
        return child(archive, out, stages, shard, measured, [a for a in sys.argv[7:] if a != "--"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--sizes", nargs="+", default=["tiny", "medium", "large"], choices=list(SIZES))
    parser.add_argument("--runner", choices=("dask", "portable"), default="dask")
    parser.add_argument("--workers", type=int, default=2, help="dask worker processes (--nworkers; 1 thread each)")
    parser.add_argument("--memory-limit", default="2GB", help="dask's per-worker --memory-limit")
    parser.add_argument("--dask-npartitions", type=int, default=None, help="passed as --dask_npartitions")
    parser.add_argument("--dask-partition-mb", type=int, default=None, help="passed as --dask_partition_mb")
    parser.add_argument(
        "--stages", type=int, default=None, help=f"only the first K of {len(STAGES)} stages (bench_scaling.STAGES)"
    )
    parser.add_argument(
        "--target-shard-mb",
        type=int,
        default=None,
        help="override the recipe's output.target_shard_bytes (default: the recipe's 256 MB)",
    )
    parser.add_argument(
        "--task-memory",
        action="store_true",
        help="dask: record every task's RSS and result size per Beam transform (dask_task_memory.py)",
    )
    parser.add_argument(
        "--worker-env",
        nargs="*",
        default=WORKER_ENV,
        metavar="KEY=VALUE",
        help="dask: environment of the worker processes (default: deploy/dask/README.md's spill settings, "
        + " ".join(WORKER_ENV)
        + "; give none for Dask's defaults)",
    )
    parser.add_argument(
        "--probe-every",
        type=float,
        default=None,
        help="dask: every S seconds, where each worker's memory is (glibc, pymalloc, Arrow, stored results, objects "
        "by type); <workdir>/dask-<size>/live-probe.json",
    )
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="give a build up to this many seconds")
    args = parser.parse_args()

    from stack_v2.archive.import_git import import_git

    workdir = Path(args.workdir).resolve()
    variant = "".join(
        [
            f"-shard{args.target_shard_mb}mb" if args.target_shard_mb else "",
            f"-p{args.dask_npartitions}" if args.dask_npartitions and args.runner == "dask" else "",
            f"-pmb{args.dask_partition_mb}" if args.dask_partition_mb and args.runner == "dask" else "",
            f"-stages{args.stages}" if args.stages else "",
            "-tasks" if args.task_memory else "",
            "".join(f"-{kv.replace('=', '_')}" for kv in args.worker_env) if args.worker_env != WORKER_ENV else "",
            f"-w{args.workers}-{args.memory_limit}"
            if args.runner == "dask" and (args.workers, args.memory_limit) != (2, "2GB")
            else "",
        ]
    )
    path = workdir / f"worker-memory-{args.runner}{variant}.json"
    results: dict = json.loads(path.read_text()) if path.exists() else {"sizes": {}}
    results.update(
        {
            "cores": os.cpu_count(),
            "runner": args.runner,
            "stages": list(STAGES[: args.stages] if args.stages else STAGES),
        }
    )
    if args.runner == "dask":
        results["cluster"] = " ".join(
            [*args.worker_env, f"dask worker --nworkers {args.workers} --nthreads 1 --memory-limit {args.memory_limit}"]
        )
    for size in args.sizes:
        repos, source_bytes = make_repos(workdir, SIZES[size])
        archive = workdir / f"archive-{size}"
        if not (archive / "graph").exists():
            import_git([str(r) for r in repos], str(archive))
        load = [round(x, 2) for x in os.getloadavg()]
        run = measure(archive, workdir / f"dataset-{args.runner}-{size}", workdir / f"{args.runner}-{size}", args)
        run = {"source_mb": round(source_bytes / 1e6, 1), "load_avg_at_start": load, **run}
        print(
            f"{size}: {json.dumps({k: v for k, v in run.items() if k not in ('workers', 'others')})}", file=sys.stderr
        )
        results["sizes"][size] = run
        results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda kv: kv[1]["source_mb"]))
        results["verdict"] = verdict(results["sizes"])
        path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(table(results["sizes"]))
    print(json.dumps(results["verdict"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
