"""Dask workers give back the memory the build frees (stack_v2/dask_memory.py), on a real
dask.distributed cluster: one worker process started here on 127.0.0.1."""

from __future__ import annotations

import time

import psutil
import pytest
from daskcluster import local_client

from stack_v2.dask_memory import PLUGIN_NAME, RETURNED, ReturnFreedMemory, should_return

MB = 2**20


def test_trims_at_and_above_the_share_of_the_limit_and_always_without_one():
    assert not should_return(900 * MB, 2000 * MB, 0.5)
    assert should_return(1000 * MB, 2000 * MB, 0.5)
    assert should_return(1900 * MB, 2000 * MB, 0.5)
    assert should_return(10 * MB, None, 0.5)
    assert should_return(10 * MB, 0, 0.5)


@pytest.fixture(scope="module")
def one_worker():
    with local_client(n_workers=1, processes=True, host="127.0.0.1", memory_limit="8GB") as client:
        yield client


_HELD: list = []
SIZE = 32 << 10


def _fragment_heap(mb: int) -> int:
    """Fill glibc's heap with 32 kB objects (under its mmap threshold) of real bytes and free every other
    one: the freed half cannot go back by itself, as a live object sits above each free one. Returns the
    RSS after."""
    with open(psutil.__file__, "rb") as f:  # an installed package's source, repeated
        text = f.read()
    chunk = (text * (SIZE // len(text) + 1))[:SIZE]
    objects = [bytes(bytearray(chunk)) for _ in range(mb * MB // SIZE)]
    _HELD[:] = objects[::2]
    del objects
    return psutil.Process().memory_info().rss


def _rss_and_trims() -> tuple[int, int]:
    return psutil.Process().memory_info().rss, RETURNED["trims"]


def test_a_worker_that_runs_no_task_gives_freed_heap_back(one_worker):
    # Without the plugin, the freed half stays in the worker's RSS.
    (held,) = one_worker.run(_fragment_heap, 400).values()
    time.sleep(1.0)
    ((rss_still, trims_before),) = one_worker.run(_rss_and_trims).values()
    assert rss_still > held - 50 * MB

    # With it (trimming at any RSS here, where the real default is half the memory limit), it goes back
    # while no task runs: a paused worker is in this state.
    one_worker.register_plugin(ReturnFreedMemory(every_s=0.1, above=0.0), name=PLUGIN_NAME)
    deadline = time.monotonic() + 10
    while True:
        ((rss, trims),) = one_worker.run(_rss_and_trims).values()
        if rss < held - 100 * MB or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert trims > trims_before
    assert rss < held - 100 * MB  # 200 MB of the 400 were freed, in 32 kB pieces (7 of 8 pages whole)
    assert all(one_worker.run(lambda dask_worker: PLUGIN_NAME in dask_worker.periodic_callbacks).values())

    # Registering again replaces the callback; the worker's teardown of the plugin stops it.
    one_worker.register_plugin(ReturnFreedMemory(every_s=0.1, above=0.0), name=PLUGIN_NAME)
    one_worker.unregister_worker_plugin(PLUGIN_NAME)
    assert not any(one_worker.run(lambda dask_worker: PLUGIN_NAME in dask_worker.periodic_callbacks).values())
