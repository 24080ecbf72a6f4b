"""The pieces the paper's keeper rankings are made of (repository selection, exact and near dedup): tuples
compared smallest-first, with missing dates and ids placed last whichever way a field is ordered. Pure.
"""

from __future__ import annotations

MISSING = 1 << 62  # beyond any date in µs since epoch and any GitHub id: a missing value sorts last


def popularity(record) -> tuple[int, int]:
    """More stars first, then more forks."""
    return -record.star_events_count, -record.fork_events_count


def latest_first(value: int | None) -> int:
    """Later dates (larger values) first; a missing one last."""
    return -value if value is not None else MISSING


def earliest_first(value: int | None) -> int:
    """Earlier dates or older ids (smaller values) first; a missing one last."""
    return value if value is not None else MISSING
