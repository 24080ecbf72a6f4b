"""A key join that keeps memory bounded when one side of a key is huge.

``CoGroupByKey`` hands both sides of a key to one worker as lists. Graph joins are lopsided: one
content row against every occurrence of that blob (the empty file occurs in millions of trees), one
directory listing against every path that reaches it. ``JoinSmallToLarge`` groups tagged values and
makes two passes over the group's iterable: the first keeps only the small side, the second streams
the large side. Runners that page large groups (Dataflow, the portable runners) never hold the large
side in memory.
"""

from __future__ import annotations

import apache_beam as beam

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


class JoinSmallToLarge(beam.PTransform):
    """(small: (k, s), large: (k, l)) -> (k, [s...], l) for each l; (k, [s...], None) too if asked.

    ``reduce_small``, when given, turns the small side's list into one value once per key (for example
    a snapshot's branches into its resolved default branch) before the large side is streamed.
    """

    def __init__(self, emit_small_only: bool = False, reduce_small=None):
        super().__init__()
        self._emit_small_only = emit_small_only
        self._reduce_small = reduce_small

    def expand(self, pcolls):
        small, large = pcolls
        return (
            (small | "TagSmall" >> beam.Map(_tag_small), large | "TagLarge" >> beam.Map(_tag_large))
            | "Flatten" >> beam.Flatten()
            | "Group" >> beam.GroupByKey()
            | "Join" >> beam.FlatMap(_join, self._emit_small_only, self._reduce_small)
        )
