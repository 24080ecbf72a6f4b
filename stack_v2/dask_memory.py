"""Dask workers give back the memory the build frees, so that their RSS is the memory they use.

Dask's memory limit counts a worker process's RSS: it spills stored results to disk from 60-70% of the
limit (by default), pauses the worker at 80% and restarts it at 95%. A bundle of the build allocates and
frees hundreds of MB (a partition's records, their content, a Parquet shard's buffers), and the allocators
keep what is freed:

- glibc keeps freed chunks in its heaps. Only the top of a heap goes back by itself
  (``MALLOC_TRIM_THRESHOLD_``, which Dask's nanny sets); free memory below a live chunk stays resident
  until ``malloc_trim(0)``.
- Arrow's memory pool (mimalloc or jemalloc) keeps its freed pages: LZ4 buffers of records' content
  (``stack_v2.packed_text``) and the Parquet writers' buffers come from it.

Measured on a 2 GB worker building 1.66 GB of input: a paused worker held 1.53 GB of RSS with 69 MB of
glibc chunks in use and 922 MB free; ``malloc_trim(0)`` gave back 500 MB in 50 ms. A paused worker runs no
task, so a trim after each task never came: the worker stayed paused until the nanny restarted it.

``ReturnFreedMemory`` is a worker plugin (the DaskRunner registers it for each run, so restarted workers
get it too): every ``every_s`` it reads the worker's RSS and, when it is at or above ``above`` of the
memory limit (every time, without a limit), trims glibc's heaps and releases Arrow's unused pages. It runs
on the worker's event loop, paused or not; the trim itself releases the GIL. What it gave back is counted
in ``RETURNED`` (per process), for benchmarks to read.
"""

from __future__ import annotations

import ctypes

from distributed.diagnostics.plugin import WorkerPlugin

PLUGIN_NAME = "stack-v2-return-freed-memory"
RETURNED = {"trims": 0, "bytes": 0}  # this process: trims done and RSS they gave back


def _libc_trim():
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: its allocator is not this one
        return None
    trim.argtypes = [ctypes.c_size_t]
    return trim


_TRIM = _libc_trim()


def should_return(rss: int, memory_limit: int | None, above: float) -> bool:
    """Trim when the process is at or above ``above`` of its limit; always when it has no limit."""
    return not memory_limit or rss >= above * memory_limit


def return_freed_memory() -> None:
    """Give back what glibc's heaps and Arrow's pool hold free."""
    if _TRIM is not None:
        _TRIM(0)
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):  # no Arrow, or an Arrow without release_unused
        pass


class ReturnFreedMemory(WorkerPlugin):
    """On each worker: ``return_freed_memory`` every ``every_s`` while RSS is at or above ``above`` of the
    worker's memory limit."""

    name = PLUGIN_NAME

    def __init__(self, every_s: float = 0.5, above: float = 0.5):
        self.every_s, self.above = every_s, above

    def setup(self, worker) -> None:
        from tornado.ioloop import PeriodicCallback

        def tick() -> None:
            rss = worker.monitor.get_process_memory()
            if should_return(rss, worker.memory_manager.memory_limit, self.above):
                return_freed_memory()
                after = worker.monitor.get_process_memory()
                RETURNED["trims"] += 1
                RETURNED["bytes"] += max(rss - after, 0)

        self.teardown(worker)
        callback = worker.periodic_callbacks[PLUGIN_NAME] = PeriodicCallback(tick, self.every_s * 1000)
        callback.start()

    def teardown(self, worker) -> None:
        callback = worker.periodic_callbacks.pop(PLUGIN_NAME, None)
        if callback is not None:
            callback.stop()
