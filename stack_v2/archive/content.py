"""Fetch blob contents by ``blob_id`` (the plain sha1), verified: the pure core around one store call.

The store holds one gzip object per blob at ``<archive>/content/<sha1>`` (docs/the-stack-v2.md §12.5). A fetch
is a pure core around one I/O call:

- ``fetch_blob`` checks the id and the length *before* any I/O (The Stack v2 skips blobs of 10 MiB or
  more), asks the store for the compressed object, gunzips it (never more than ``max_length`` bytes),
  and checks that the sha1 of the bytes is the key and, when known, that their sha1_git is
  ``content_id``. Every per-blob problem becomes a ``FetchResult`` with a stable snake_case reason: it
  never raises for them, and never returns empty content in place of a failure.
- A ``ContentStore`` only returns the compressed bytes or raises ``ObjectUnavailable(reason, detail)``.
  The local and S3 stores, and the S3 retries, are in stack_v2.archive.content_store.
- ``fetch_many`` overlaps the per-blob latency of S3 with a thread pool, in input order, with a
  bounded number of blobs in flight; ``FetchContents`` (stack_v2.archive.fetch_contents) is the thin
  Beam wrapper around it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import NamedTuple, Optional

import apache_beam as beam

__all__ = [
    "MAX_BLOB_LENGTH",
    "ContentStore",
    "FetchResult",
    "ObjectUnavailable",
    "fetch_blob",
    "fetch_many",
    "sha1_git_of",
]

# The Stack v2 skips contents whose (raw, uncompressed) SWH length is 10 MiB or more.
MAX_BLOB_LENGTH = 10 * 1024 * 1024

# Reasons a fetch fails (stable: they are metric names and land in the failed output).
TOO_LARGE = "too_large"
MISSING = "missing"
ACCESS_DENIED = "access_denied"
CORRUPT_GZIP = "corrupt_gzip"
SHA1_MISMATCH = "sha1_mismatch"
SHA1_GIT_MISMATCH = "sha1_git_mismatch"
INVALID_BLOB_ID = "invalid_blob_id"
FETCH_ERROR = "fetch_error"

_SHA1_HEX = re.compile(r"[0-9a-f]{40}")


class FetchResult(NamedTuple):
    """The outcome of fetching one blob: exactly one of ``data`` and ``reason`` is set."""

    blob_id: str
    # Optional[...] rather than "| None", as in records.py, for Beam's schema inference.
    data: Optional[bytes]  # noqa: UP045
    reason: Optional[str]  # noqa: UP045 -- one of the reasons above, None on success
    detail: str  # human-readable, names the object; "" on success

    @classmethod
    def ok(cls, blob_id: str, data: bytes) -> FetchResult:
        return cls(blob_id, data, None, "")

    @classmethod
    def failure(cls, blob_id: str, reason: str, detail: str) -> FetchResult:
        return cls(blob_id, None, reason, detail)


beam.coders.registry.register_coder(FetchResult, beam.coders.RowCoder)


class ObjectUnavailable(Exception):
    """Raised by a ContentStore when it has no usable object for a blob; ``reason`` is a FetchResult reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)  # args match __init__, so it survives pickling
        self.reason, self.detail = reason, detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class ContentStore(ABC):
    """Compressed blob objects keyed by sha1 hex. Implementations must be safe to call from many threads."""

    # Whether overlapping calls from threads pays: a network store's latency does; a local directory's
    # reads do not, and 16 threads contending for the GIL doubled the CPU of fetching from one.
    concurrent_reads = True

    @abstractmethod
    def get_compressed(self, blob_id: str) -> bytes:
        """The stored (gzip) bytes of a blob; raises ObjectUnavailable when there is no usable object."""

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for messages."""


# -- the pure core -------------------------------------------------------------------------------


def _gunzip(compressed: bytes, limit: int | None) -> bytes:
    """The decompressed bytes, at most ``limit + 1`` of them (so a huge object cannot exhaust memory).

    zlib reads the gzip member directly (a third of GzipFile's CPU on source files) and, reaching its end,
    checks the CRC and length trailer. Anything after the member (another member, padding, garbage) goes
    to GzipFile, whose rules for it are the reference."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = inflate.decompress(compressed) if limit is None else inflate.decompress(compressed, limit + 1)
    if limit is not None and len(data) > limit:
        return data  # over the limit: the caller fails it, the rest is never inflated
    if not inflate.eof:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    if inflate.unused_data:
        return _gunzip_file(compressed, limit)
    return data


def _gunzip_file(compressed: bytes, limit: int | None) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as f:
        # Reading to EOF is what makes gzip check the CRC and length trailer.
        return f.read() if limit is None else f.read(limit + 1)


def sha1_git_of(data: bytes) -> str:
    """Git's blob id of ``data`` (the swh:1:cnt: id)."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def fetch_blob(
    store: ContentStore,
    blob_id: str,
    content_id: str | None = None,
    length: int | None = None,
    max_length: int | None = MAX_BLOB_LENGTH,
) -> FetchResult:
    """The verified content of one blob, or why there is none. Raises only for problems of the whole store."""
    if not isinstance(blob_id, str) or not _SHA1_HEX.fullmatch(blob_id):
        return FetchResult.failure(str(blob_id), INVALID_BLOB_ID, f"blob_id {blob_id!r} is not 40 lowercase hex digits")
    if max_length is not None and length is not None and length >= max_length:
        return FetchResult.failure(blob_id, TOO_LARGE, f"length={length}")
    try:
        compressed = store.get_compressed(blob_id)
    except ObjectUnavailable as exc:
        return FetchResult.failure(blob_id, exc.reason, exc.detail)
    where = f"{store.describe()}/{blob_id}"
    if not compressed:  # gzip.decompress(b"") is b"": an empty object must not pass for empty content
        return FetchResult.failure(blob_id, CORRUPT_GZIP, f"{where}: empty object")
    try:
        data = _gunzip(compressed, max_length)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        return FetchResult.failure(blob_id, CORRUPT_GZIP, f"{where}: {type(exc).__name__}: {exc}")
    if max_length is not None and len(data) >= max_length:  # the length column was absent or understated
        return FetchResult.failure(blob_id, TOO_LARGE, f"length>={len(data)}")
    actual = hashlib.sha1(data).hexdigest()
    if actual != blob_id:
        return FetchResult.failure(blob_id, SHA1_MISMATCH, f"{where}: data has sha1 {actual}")
    if content_id is not None:
        actual_git = sha1_git_of(data)
        if actual_git != content_id.lower():
            return FetchResult.failure(
                blob_id, SHA1_GIT_MISMATCH, f"{where}: data has sha1_git {actual_git}, expected {content_id}"
            )
    return FetchResult.ok(blob_id, data)


def fetch_many(
    store: ContentStore,
    items: Iterable[tuple[str, str | None, int | None]],
    concurrency: int = 16,
    *,
    max_length: int | None = MAX_BLOB_LENGTH,
    executor: Executor | None = None,
) -> Iterator[FetchResult]:
    """FetchResults for ``(blob_id, content_id, length)`` items, in input order, ``concurrency`` at a time.

    At most ``2 * concurrency`` blobs are in flight or waiting to be consumed, so memory stays bounded
    however long ``items`` is. Pass ``executor`` to reuse a pool across calls.
    """
    if concurrency < 1:
        raise ValueError(f"fetch_many: concurrency must be >= 1, got {concurrency}")
    if concurrency == 1 or not store.concurrent_reads:
        for blob_id, content_id, length in items:
            yield fetch_blob(store, blob_id, content_id, length, max_length)
        return
    pool = executor or ThreadPoolExecutor(concurrency, thread_name_prefix="fetch")
    pending: deque = deque()
    try:
        for blob_id, content_id, length in items:
            pending.append(pool.submit(fetch_blob, store, blob_id, content_id, length, max_length))
            if len(pending) >= 2 * concurrency:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:  # the consumer stopped early
            future.cancel()
        if executor is None:
            pool.shutdown(wait=True)
