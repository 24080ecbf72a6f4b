"""A key join that keeps memory bounded when one side of a key is huge.

``CoGroupByKey`` hands both sides of a key to one worker as lists. Graph joins are lopsided: one
content row against every occurrence of that blob (the empty file occurs in millions of trees), one
directory listing against every path that reaches it. ``JoinSmallToLarge`` groups tagged values and
makes two passes over the group's iterable: the first keeps only the small side, the second streams
the large side. Runners that page large groups (Dataflow, the portable runners) never hold the large
side in memory.

On Beam's DirectRunner the whole pipeline runs in this process and every PCollection it hands from one
step to the next sits in its memory anyway. There a shuffle join of a large side with a small side that is
small *in total* (near-dedup's verdicts: one entry per removed file) costs more than it saves: the runner
materialises the Flatten of both sides, then groups them, so the large side (near-dedup's records, content
and all) is encoded and decoded twice more. With ``in_process_lookup`` the small side becomes a side input
there, one dict per bundle, and the large side streams past it: the same triples (a key's small values in
the order the runner produced them). near-dedup's signatures (a few hundred bytes per file, against the
edges at both their ends) are such a side too: the records they come from, content and all, are in the
same process. Joins whose small side is a whole table of the export (the traversal's) keep the shuffle:
the export may hold far more rows than the selected origins reach, and a dict of every row would hold
several times the runner's encoded bytes.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner, SwitchingDirectRunner
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

_SMALL, _LARGE = 0, 1
UNMATCHED = None  # the large value passed for keys that have small values only (when asked for)


def _tag_small(kv):
    return kv[0], (_SMALL, kv[1])


def _tag_large(kv):
    return kv[0], (_LARGE, kv[1])


def _join(element, emit_small_only: bool, reduce_small):
    key, tagged = element
    small = [value for tag, value in tagged if tag == _SMALL]
    if reduce_small is not None:
        small = reduce_small(small)
    matched = False
    for tag, value in tagged:
        if tag == _LARGE:
            matched = True
            yield key, small, value
    if emit_small_only and not matched:
        yield key, small, UNMATCHED


class _LookupJoin(beam.DoFn):
    """(k, l) -> (k, [s...], l), the small side a side input: one dict per bundle, kept while the runner
    hands the same side input."""

    def __init__(self, reduce_small):
        self._reduce_small = reduce_small

    def setup(self):
        self._tables = Metrics.counter("joins", "lookup_tables")

    def start_bundle(self):
        self._source, self._table, self._missing = None, {}, []

    def process(self, element, small):
        if small is not self._source:  # a new bundle's side input (the same object within a bundle)
            self._source, self._table, self._missing = small, _by_key(small), []
            self._tables.inc()
            if self._reduce_small is not None:
                self._table = {key: self._reduce_small(values) for key, values in self._table.items()}
                self._missing = self._reduce_small([])
        key, value = element
        yield key, self._table.get(key, self._missing), value


def _by_key(pairs) -> dict:
    table: dict = {}
    for key, value in pairs:
        table.setdefault(key, []).append(value)
    return table


def runs_in_process(pipeline) -> bool:
    """Whether ``pipeline`` runs on Beam's DirectRunner, in this process (or its local worker processes).
    Beam's DaskRunner (and this project's, its subclass) is a BundleBasedDirectRunner that runs on a cluster:
    not. It is told by module, as importing it needs Dask."""
    runner = type(pipeline.runner)
    if any(cls.__module__.startswith("apache_beam.runners.dask.") for cls in runner.__mro__):
        return False
    return issubclass(runner, (SwitchingDirectRunner, BundleBasedDirectRunner, FnApiRunner))


class JoinSmallToLarge(beam.PTransform):
    """(small: (k, s), large: (k, l)) -> (k, [s...], l) for each l; (k, [s...], None) too if asked.

    ``reduce_small``, when given, turns the small side's list into one value once per key (for example
    a snapshot's branches into its resolved default branch) before the large side is streamed.
    ``in_process_lookup``: where the pipeline runs in process, join by looking the small side up in memory
    (see the module docstring); only for a small side that is small in total, and not with
    ``emit_small_only`` (a lookup cannot tell which small keys no large value met).
    """

    def __init__(self, emit_small_only: bool = False, reduce_small=None, *, in_process_lookup: bool = False):
        super().__init__()
        if in_process_lookup and emit_small_only:
            raise ValueError("JoinSmallToLarge: a lookup cannot emit the small keys no large value met")
        self._emit_small_only = emit_small_only
        self._reduce_small = reduce_small
        self._lookup = in_process_lookup

    def expand(self, pcolls):
        small, large = pcolls
        if self._lookup and runs_in_process(large.pipeline):
            return large | "Lookup" >> beam.ParDo(_LookupJoin(self._reduce_small), beam.pvalue.AsIter(small))
        return (
            (small | "TagSmall" >> beam.Map(_tag_small), large | "TagLarge" >> beam.Map(_tag_large))
            | "Flatten" >> beam.Flatten()
            | "Group" >> beam.GroupByKey()
            | "Join" >> beam.FlatMap(_join, self._emit_small_only, self._reduce_small)
        )
