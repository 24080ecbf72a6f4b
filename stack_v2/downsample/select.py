"""Which files a capped language keeps: the pure parts of the ``downsample`` stage (docs/the-stack-v2.md §7.7).

The order: repositories by a seeded priority (xxhash64 of the repository name), ties by name; files within a
repository by a seeded priority of (repository, path, blob_id). A language keeps the longest prefix of its
files in that order whose ``length_bytes`` fit in its cap. So whole repositories are kept, except the one the
cap falls in, and ``cap - kept bytes`` is smaller than the next file's size.

The stage computes that prefix without holding a language in one place:

1. ``Histogram``: bytes per bucket of repository priority (its top ``bits`` bits), summed in any order;
2. ``boundary``: from the histogram and the cap, the bucket the cap falls in and the bytes left for it;
3. ``cut_key``: the boundary bucket's files, sorted: the order key of the first file that does not fit;
4. ``keeps``: a file is kept if its bucket is before the boundary's, or it is in it and before the cut.

A repository lies in one bucket, so buckets before the boundary hold whole repositories, and the order keys
(bucket first, as it is the priority's top bits) make 1-4 the same prefix as a sort of the whole language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

import xxhash

BUCKET_BITS = 16  # 65,536 buckets: the boundary bucket holds ~1/65,536 of a language's repositories


def _utf8(text: str | None) -> bytes:
    return (text or "").encode("utf-8", "surrogatepass")


def repo_priority(seed: int, repo_name: str | None) -> int:
    return xxhash.xxh64_intdigest(_utf8(repo_name), seed=seed)


def file_priority(seed: int, repo_name: str | None, path: str, blob_id: str | None) -> int:
    # NUL cannot occur in a repository name or path, so the parts cannot run into each other
    return xxhash.xxh64_intdigest(b"\0".join((_utf8(repo_name), _utf8(path), _utf8(blob_id))), seed=seed)


def order_key(seed: int, repo_name: str | None, path: str, blob_id: str | None) -> tuple:
    """A file's place in its language's order: (repository priority, name, file priority, path, blob_id)."""
    return (
        repo_priority(seed, repo_name),
        repo_name or "",
        file_priority(seed, repo_name, path, blob_id),
        path,
        blob_id or "",
    )


def bucket_of(key: tuple, bits: int = BUCKET_BITS) -> int:
    """The bucket of an order key: the top ``bits`` bits of its repository priority (64-bit)."""
    return key[0] >> (64 - bits)


@dataclass
class Histogram:
    """A language's files and bytes, and its bytes per bucket (sparse: only buckets that hold files)."""

    files: int = 0
    bytes: int = 0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, bucket: int, nbytes: int) -> Histogram:
        self.files += 1
        self.bytes += nbytes
        self.buckets[bucket] = self.buckets.get(bucket, 0) + nbytes
        return self

    def merge(self, other: Histogram) -> Histogram:
        self.files += other.files
        self.bytes += other.bytes
        for bucket, nbytes in other.buckets.items():
            self.buckets[bucket] = self.buckets.get(bucket, 0) + nbytes
        return self


@dataclass(frozen=True)
class Boundary:
    """Files in buckets before ``bucket`` are kept, after it dropped; in it, a prefix of ``budget`` bytes."""

    bucket: int
    budget: int


def boundary(histogram: Histogram, cap: int) -> Boundary | None:
    """Where ``cap`` falls in the language's buckets, or None when everything fits (all kept)."""
    if histogram.bytes <= cap:
        return None
    below = 0
    for bucket in sorted(histogram.buckets):
        nbytes = histogram.buckets[bucket]
        if below + nbytes > cap:
            return Boundary(bucket, cap - below)
        below += nbytes
    raise AssertionError("a histogram's buckets sum to its bytes")


def cut_key(files: Iterable[tuple[tuple, int]], budget: int) -> tuple | None:
    """(order key, bytes) of the boundary bucket's files -> the key of the first file that does not fit in
    ``budget`` when taken in order (files before it are kept), or None if all fit. Files with equal keys
    (never two in one build: a key names the repository and path) go together."""
    used = 0
    for key, same in groupby(sorted(files), key=itemgetter(0)):
        nbytes = sum(size for _, size in same)
        if used + nbytes > budget:
            return key
        used += nbytes
    return None


def keeps(key: tuple, bound: Boundary | None, cut: tuple | None, bits: int = BUCKET_BITS) -> bool:
    """Whether the file with order ``key`` is kept, given its language's boundary and cut."""
    if bound is None:
        return True
    bucket = bucket_of(key, bits)
    if bucket != bound.bucket:
        return bucket < bound.bucket
    return cut is None or key < cut
