"""How the DaskRunner sizes its partitions by data, not by the cluster's threads (see ``stack_v2.dask_runner``).

The graph goes to the cluster in pieces (:class:`Submitter`): the translator sends what it has translated
when it reaches a shuffle (GroupByKey, Reshuffle), waits for the shuffle's input to be computed and asks
for every input partition's size (elements and Dask's ``sizeof`` estimate of its bytes,
``stack_v2.dask_tasks.measure``). From the sizes, :func:`plan_shuffle` picks the number of output partitions
(the input's bytes over a target partition size, ``--dask_partition_mb``; at least one per worker thread)
and groups the non-empty input partitions into splits of about that size, so a partition holds about the
target whatever the input's size, and a shuffle of small or empty partitions (the traversal's deep levels,
near-dedup's late rounds) costs a few tasks. The futures of partitions that later steps still read are
held; the others are released once their readers are sent.
"""

from __future__ import annotations

import dataclasses

DEFAULT_PARTITION_MB = 32  # Dask's sizeof estimate of a partition (Python objects), not bytes of input


@dataclasses.dataclass(frozen=True)
class ShufflePlan:
    groups: list  # [[input key, ...]]: one split task each (empty input partitions left out)
    outputs: int  # output partitions


def plan_shuffle(sizes: dict, keys: list, target_bytes: int, min_outputs: int, fixed: int | None = None):
    """``sizes``: key -> (elements, bytes). Output partitions: ``fixed`` if given, else total bytes over
    ``target_bytes`` (at least ``min_outputs``, at most the number of elements)."""
    groups, group, group_bytes, total, elements = [], [], 0, 0, 0
    for key in keys:
        n, size = sizes[key]
        if not n:
            continue
        total, elements = total + size, elements + n
        if group and group_bytes + size > target_bytes:
            groups.append(group)
            group, group_bytes = [], 0
        group.append(key)
        group_bytes += size
    if group:
        groups.append(group)
    if fixed:
        outputs = fixed
    else:
        outputs = max(min_outputs, -(-total // max(target_bytes, 1)))
        outputs = max(1, min(outputs, elements))
    return ShufflePlan(groups, outputs)


class Submitter:
    """Sends the graph to ``client`` piece by piece. Tasks are Dask tuples ``(function, *arguments)`` whose
    arguments may name other tasks' keys; a key of an earlier piece is passed as its future. ``live()``
    returns the keys later tasks may still read (and the sinks' keys, until the end)."""

    def __init__(self, client, live):
        self.client, self._live = client, live
        self.pending: dict = {}
        self.held: dict = {}  # key -> Future
        self._sent: set = set()
        self.sizes: dict = {}  # key -> (elements, bytes)
        self.pieces = 0

    def __setitem__(self, key, task) -> None:
        self.pending[key] = task

    def __len__(self) -> int:
        return len(self.pending)

    def _resolve(self, arg):
        if isinstance(arg, tuple):
            return tuple(self._resolve(a) for a in arg)
        if isinstance(arg, str) and arg in self._sent:
            if arg not in self.held:
                raise RuntimeError(f"DaskRunner: {arg} was released before a task that reads it was sent")
            return self.held[arg]
        return arg

    def flush(self, also=()) -> None:
        """Send every pending task; hold the futures of the live keys (and ``also``), release the rest."""
        live = self._live() | set(also)
        if self.pending:
            graph = {key: self._resolve(task) for key, task in self.pending.items()}
            keep = [key for key in self.pending if key in live]
            self.held.update(zip(keep, self.client.get(graph, keep, sync=False)))
            self._sent.update(self.pending)
            self.pending = {}
            self.pieces += 1
        for key in [key for key in self.held if key not in live]:
            del self.held[key]  # its readers, if any, are on the scheduler: it lives until they ran

    def measure(self, keys: list, measure_fn) -> dict:
        """key -> (elements, bytes) of each of ``keys`` (computing them, and what they need, first)."""
        todo = list(dict.fromkeys(k for k in keys if k not in self.sizes))
        if todo:
            self.flush()
            graph = {f"size-{key}": (measure_fn, self.held[key]) for key in todo}
            for key, size in zip(todo, self.client.get(graph, list(graph))):
                self.sizes[key] = tuple(size)
        return {key: self.sizes[key] for key in keys}

    def finish(self, key: str):
        """Send the rest and return the future of ``key``; release everything else."""
        self.flush(also=(key,))
        future = self.held.pop(key)
        self.held.clear()
        return future
