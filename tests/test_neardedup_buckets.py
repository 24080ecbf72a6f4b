"""Band keys moved in lists per partition give the edges of one group per bucket, for any partition count."""

from __future__ import annotations

import random

from stack_v2.neardedup.buckets import PAIRS_PER_PARTITION, by_partition, partition_count, partition_of, star_edges


def per_bucket_edges(pairs):
    """The reference: group by key, an edge from every member to the bucket's smallest."""
    buckets: dict[bytes, list[str]] = {}
    for key, blob in pairs:
        buckets.setdefault(key, []).append(blob)
    return {(m, min(ms)) for ms in buckets.values() for m in ms if m != min(ms)}


def moved(batches, partitions):
    """The pairs of each batch split by partition, the lists of a partition grouped, edges per partition."""
    groups: dict[int, list] = {}
    for batch in batches:
        for partition, pairs in by_partition(batch, partitions):
            groups.setdefault(partition, []).append(pairs)
    return [edge for lists in groups.values() for edge in star_edges(lists)]


def test_same_edges_as_one_group_per_bucket_whatever_the_partitions():
    rng = random.Random(7)
    keys = [bytes([band]) + rng.randbytes(3) for band in range(4) for _ in range(30)]
    pairs = [(rng.choice(keys), f"{rng.randrange(200):040x}") for _ in range(2000)]
    batches = [pairs[i : i + 256] for i in range(0, len(pairs), 256)]
    expected = per_bucket_edges(pairs)
    for partitions in (1, 2, 7, 1000):
        edges = moved(batches, partitions)
        assert set(edges) == expected
        assert all(member != smallest for member, smallest in edges)


def test_singleton_buckets_give_no_edges():
    assert list(star_edges([[(b"a", "1"), (b"b", "2")], [(b"c", "3")]])) == []


def test_partition_count_grows_with_the_pairs():
    assert partition_count(0) == 1
    assert partition_count(PAIRS_PER_PARTITION) == 1
    assert partition_count(PAIRS_PER_PARTITION + 1) == 2


def test_partition_is_stable_and_in_range():
    assert partition_of(b"Python\0\x01abcdefgh", 13) == partition_of(b"Python\0\x01abcdefgh", 13) < 13
    (partition, pairs), *_ = by_partition([(b"k", "x")], 5)
    assert partition == partition_of(b"k", 5) and pairs == [(b"k", "x")]
