"""LSH buckets moved in batches: band keys cross the shuffle as lists per (batch, partition), not one
element per key.

A document has one key per band (25 by default), and almost every bucket holds one document, so a
shuffle of single keys costs a runner element operation per key for nothing: about 12 microseconds of
CPU each on the DirectRunner, most of near-dedup's cost. Instead the keys of a signed batch are split by
a stable hash into partitions (``partition_of``), one list each, and a partition's lists meet in one
group, where its buckets are formed.

Memory stays bounded as with one group per bucket: the number of partitions grows with the number of
keys (``partition_count``, about ``PAIRS_PER_PARTITION`` each), and a partition's group is read in two
passes (the runner may page it), holding one smallest member per distinct key, never a bucket's members:
a bucket of millions of near-identical files is one dict entry. The edges are those of one group per
bucket: from every member to the bucket's smallest.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

PAIRS_PER_PARTITION = 50_000  # distinct keys held at once by a partition's reader (a few MB)

Pair = tuple[bytes, str]  # (band key, blob_id)


def partition_count(pairs: int) -> int:
    """How many partitions ``pairs`` (band key, blob) pairs are spread over: at least one."""
    return max(1, -(-pairs // PAIRS_PER_PARTITION))


def partition_of(key: bytes, partitions: int) -> int:
    """A key's partition, the same in every process (crc32, not ``hash``: bytes hashes are salted per process)."""
    return zlib.crc32(key) % partitions


def by_partition(pairs: list[Pair], partitions: int) -> Iterator[tuple[int, list[Pair]]]:
    """One batch's pairs as (partition, its pairs), one list per partition that has any."""
    split: dict[int, list[Pair]] = {}
    for pair in pairs:
        split.setdefault(partition_of(pair[0], partitions), []).append(pair)
    yield from split.items()


def star_edges(lists: Iterable[list[Pair]]) -> Iterator[tuple[str, str]]:
    """A partition's lists of pairs -> (member, smallest member) for every member of every bucket but its
    smallest. Two passes over ``lists`` (it may be a runner's paged group), never a bucket's members."""
    smallest: dict[bytes, str] = {}
    for pairs in lists:
        for key, blob in pairs:
            current = smallest.get(key)
            if current is None or blob < current:
                smallest[key] = blob
    for pairs in lists:
        for key, blob in pairs:
            first = smallest[key]
            if blob != first:
                yield blob, first
