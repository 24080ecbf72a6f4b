"""Counting a stage's outcomes: Beam counters (what Dataflow's and Spark's UIs show while a job runs; the
same numbers as report.json's, which the pipeline counts itself) and the live progress of a local build.

Namespace = the stage's name; names from ``verdicts.counter_name``, counting files, and the same with
the ``bytes_`` prefix counting ``length_bytes``.
"""

from __future__ import annotations

import functools

from apache_beam.metrics import Metrics

from stack_v2 import progress
from stack_v2.verdicts import BYTES, INPUT, counter_name


@functools.lru_cache(maxsize=4096)
def _counters(stage: str, name: str):
    # Beam counters find the running bundle's container when incremented, so they can be shared.
    return Metrics.counter(stage, name), Metrics.counter(stage, BYTES + name)


def count_outcome(stage: str, outcome: str, reason: str = "", nbytes: int | None = 0) -> None:
    """One file (and its bytes) into the stage's ``outcome`` counters (outcome ``input``, ``kept``,
    ``dropped`` or ``failed``; a reason for the last two)."""
    files, size = _counters(stage, counter_name(outcome, reason))
    files.inc()
    if nbytes:
        size.inc(nbytes)
    if outcome != INPUT:
        progress.count(stage, outcome, nbytes)


def add_counts(stage: str, name: str, files: int, nbytes: int = 0) -> None:
    """Add a bundle's tally to a counter (``name``) and its bytes twin: for stages that count per bundle."""
    counter, size = _counters(stage, name)
    counter.inc(files)
    if nbytes:
        size.inc(nbytes)


class BundleSums(dict):
    """``key -> [files, bytes]`` summed over a bundle, for the stages and counts that emit one entry per key
    and bundle at ``finish_bundle`` instead of one per element."""

    def add(self, key, nbytes: int, files: int = 1) -> None:
        pair = self.get(key)
        if pair is None:
            self[key] = [files, nbytes]
        else:
            pair[0] += files
            pair[1] += nbytes
