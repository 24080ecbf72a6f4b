"""What each task of the DaskRunner's graph costs in memory: a helper of bench_worker_memory.py ``--task-memory``.

Two halves, joined by task key:

- in the launcher, :func:`record_labels` wraps ``stack_v2.dask_translate.Translator`` at run time (the files
  are not changed) so that every key it makes is written to ``labels.json`` with the Beam transform it was
  made for and its kind (``bundle``, ``split``, ``bucket``, ``shuffled``, ``coalesce``, ``side``,
  ``output``...);
- on each Dask worker process, :class:`TaskMemory` (a WorkerPlugin; the workers need this directory on their
  ``PYTHONPATH``) appends one JSON line per task to ``tasks-<pid>.jsonl``: the process's RSS when the task
  started and ended, its peak while the task ran (sampled every 0.05 s), the number of elements of the
  result, and the worker's stored results (count and Dask's estimate of their bytes) at the end. The lines
  are written as they come, so a worker that its nanny kills leaves what it did until then.

:func:`summarise` joins the two and sums them per Beam transform.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import psutil
from distributed.diagnostics.plugin import WorkerPlugin

MB = 2**20


def record_labels(path: Path) -> None:
    """Make every Translator write its keys' transforms and kinds to ``path`` once the graph is complete."""
    from stack_v2 import dask_translate

    cls = dask_translate.Translator
    visit, make_key, finish = cls.visit_transform, cls._key, cls.finish

    def visit_transform(self, applied):
        self._bench_label = applied.full_label
        return visit(self, applied)

    def _key(self, what):
        key = make_key(self, what)
        self.__dict__.setdefault("_bench_labels", {})[key] = [getattr(self, "_bench_label", ""), what]
        return key

    def finish_(self):
        done = finish(self)
        path.write_text(json.dumps(self._bench_labels))
        return done

    cls.visit_transform, cls._key, cls.finish = visit_transform, _key, finish_


def _length(value) -> int | None:
    if isinstance(value, dict):  # a ParDo bundle with several outputs: {tag: [WindowedValue]}
        return sum(len(v) for v in value.values() if isinstance(v, list))
    if isinstance(value, list):
        return len(value)
    return None


class TaskMemory(WorkerPlugin):
    """Per task on this worker: RSS at start and end, peak while it ran, result's elements (one JSON line)."""

    name = "bench-task-memory"

    def __init__(self, directory: str):
        self.directory = directory

    def setup(self, worker) -> None:
        self._worker = worker
        self._proc = psutil.Process()
        self._out = open(Path(self.directory) / f"tasks-{os.getpid()}.jsonl", "a", buffering=1)  # noqa: SIM115
        self._running: dict = {}
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            rss = self._proc.memory_info().rss
            with self._lock:
                self._peak = max(self._peak, rss)

    def teardown(self, worker) -> None:
        self._stop.set()
        self._out.close()

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish == "executing":
            rss = self._proc.memory_info().rss
            with self._lock:
                self._peak = rss
            self._running[key] = (time.time(), rss)
        elif start == "executing" and key in self._running:
            t0, rss0 = self._running.pop(key)
            rss = self._proc.memory_info().rss
            with self._lock:
                peak = max(self._peak, rss)
            data = self._worker.data
            fast = getattr(data, "fast", data)
            n = _length(fast[key]) if finish == "memory" and key in fast else None
            stored_bytes = sum(ts.nbytes or 0 for ts in self._worker.state.tasks.values() if ts.state == "memory")
            record = {
                "key": str(key),
                "pid": os.getpid(),
                "state": finish,
                "t0": round(t0, 2),
                "s": round(time.time() - t0, 2),
                "rss0_mb": round(rss0 / MB),
                "rss1_mb": round(rss / MB),
                "peak_mb": round(peak / MB),
                "elements": n,
                "stored_results": sum(1 for ts in self._worker.state.tasks.values() if ts.state == "memory"),
                "stored_nbytes_mb": round(stored_bytes / MB),
                "spilled": len(getattr(data, "slow", ())),
            }
            self._out.write(json.dumps(record) + "\n")


def register(address: str, directory: Path) -> None:
    import dask.distributed as ddist

    with ddist.Client(address, timeout=60) as client:
        client.register_plugin(TaskMemory(str(directory)))


def summarise(directory: Path, top: int = 15) -> dict:
    """Per Beam transform: tasks, elements out, the largest RSS step and peak over a task's start; and the
    ``top`` tasks by peak RSS."""
    labels = json.loads((directory / "labels.json").read_text()) if (directory / "labels.json").exists() else {}
    records = [json.loads(line) for f in sorted(directory.glob("tasks-*.jsonl")) for line in f.open()]
    per: dict[str, dict] = {}
    for r in records:
        label, kind = labels.get(r["key"], ["?", r["key"].split("-")[0]])
        r["label"], r["kind"] = label, kind
        s = per.setdefault(label, {"tasks": 0, "elements": 0, "max_peak_mb": 0, "max_growth_mb": 0, "s": 0.0})
        s["tasks"] += 1
        s["elements"] += r["elements"] or 0 if kind in ("bundle", "output", "read", "create") else 0
        s["max_peak_mb"] = max(s["max_peak_mb"], r["peak_mb"])
        s["max_growth_mb"] = max(s["max_growth_mb"], r["peak_mb"] - r["rss0_mb"])
        s["s"] = round(s["s"] + r["s"], 2)
    worst = sorted(records, key=lambda r: r["peak_mb"] - r["rss0_mb"], reverse=True)[:top]
    return {
        "per_transform": dict(sorted(per.items(), key=lambda kv: -kv[1]["max_growth_mb"])),
        "largest_task_growth": worst,
        "largest_peaks": sorted(records, key=lambda r: r["peak_mb"], reverse=True)[:top],
        "last_tasks_per_process": {
            pid: [r for r in records if r["pid"] == pid][-3:] for pid in sorted({r["pid"] for r in records})
        },
    }
