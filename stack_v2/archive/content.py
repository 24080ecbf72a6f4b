"""Fetch blob contents by ``blob_id`` (the plain sha1) from a local or S3 content store, verified.

The store holds one gzip object per blob at ``<archive>/content/<sha1>`` (docs/the-stack-v2.md §12.5). A fetch
is a pure core around one I/O call:

- ``fetch_blob`` checks the id and the length *before* any I/O (The Stack v2 skips blobs of 10 MiB or
  more), asks the store for the compressed object, gunzips it (never more than ``max_length`` bytes),
  and checks that the sha1 of the bytes is the key and, when known, that their sha1_git is
  ``content_id``. Every per-blob problem becomes a ``FetchResult`` with a stable snake_case reason: it
  never raises for them, and never returns empty content in place of a failure.
- A ``ContentStore`` only returns the compressed bytes or raises ``ObjectUnavailable(reason, detail)``.
  ``S3ContentStore`` turns botocore's own retries off and retries throttling, 5xx and connection
  errors itself with ``RetryPolicy`` (full-jitter exponential backoff), so the policy is explicit and
  testable with an injected ``sleep`` and ``rng``.
- ``fetch_many`` overlaps the per-blob latency of S3 with a thread pool, in input order, with a
  bounded number of blobs in flight; ``FetchContents`` is the thin Beam wrapper around it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import re
import threading
import time
import zlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, Optional, TypeVar
from urllib.parse import urlparse

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from stack_v2.archive.location import ArchiveLocation, s3_region
from stack_v2.errors import ArchiveError
from stack_v2.records import FileOccurrence

__all__ = [
    "MAX_BLOB_LENGTH",
    "ContentStore",
    "FetchContents",
    "FetchResult",
    "LocalContentStore",
    "ObjectUnavailable",
    "RetryPolicy",
    "S3ContentStore",
    "fetch_blob",
    "fetch_many",
    "is_retryable",
    "open_content_store",
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
T = TypeVar("T")


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


# -- retries -------------------------------------------------------------------------------------

_THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "429"}
)
# Transient transport failures; the last two happen when a connection drops mid-body.
_TRANSIENT_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ReadTimeoutError,
    ConnectTimeoutError,
    ResponseStreamingError,
    IncompleteReadError,
)


def _error_code(exc: ClientError) -> tuple[str, int]:
    return str(exc.response.get("Error", {}).get("Code", "")), int(
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    )


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed S3 call may succeed if repeated: throttling, 5xx, request timeouts, dropped connections."""
    if isinstance(exc, ClientError):
        code, status = _error_code(exc)
        return code in _THROTTLING_CODES or code == "RequestTimeout" or status == 429 or status >= 500
    return isinstance(exc, _TRANSIENT_ERRORS)


@dataclass(frozen=True)
class RetryPolicy:
    """Up to ``max_attempts`` calls, sleeping ``uniform(0, min(max_delay, base_delay * 2**attempt))`` between
    them ("full jitter", so that many workers throttled at once do not retry in lockstep)."""

    max_attempts: int = 8
    base_delay: float = 0.1  # seconds
    max_delay: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random | None = None  # None: the random module's shared generator

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(f"RetryPolicy delays must be >= 0, got {self.base_delay=} {self.max_delay=}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        cap = min(self.max_delay, self.base_delay * 2 ** min(attempt, 64))  # min(): no float overflow
        return (self.rng or random).uniform(0, cap)

    def call(self, fn: Callable[[], T], retryable: Callable[[BaseException], bool] = is_retryable) -> T:
        """``fn()``, repeated after retryable errors; the last error propagates once attempts run out."""
        for attempt in range(self.max_attempts):
            try:
                return fn()
            except Exception as exc:
                if attempt + 1 >= self.max_attempts or not retryable(exc):
                    raise
                self.sleep(self.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover


# -- stores --------------------------------------------------------------------------------------


class ContentStore(ABC):
    """Compressed blob objects keyed by sha1 hex. Implementations must be safe to call from many threads."""

    @abstractmethod
    def get_compressed(self, blob_id: str) -> bytes:
        """The stored (gzip) bytes of a blob; raises ObjectUnavailable when there is no usable object."""

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for messages."""


class LocalContentStore(ContentStore):
    """A directory of ``<sha1>`` gzip files, as ``stack-v2 archive import-git`` writes them."""

    def __init__(self, root_dir: str):
        self.root_dir = os.path.abspath(root_dir)
        # A wrong path would otherwise fail every blob as "missing": say so once, up front.
        if not os.path.isdir(self.root_dir):
            raise ArchiveError(f"content store {self.root_dir}: no such directory")

    def get_compressed(self, blob_id: str) -> bytes:
        path = os.path.join(self.root_dir, blob_id)
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ObjectUnavailable(MISSING, f"{path}: no such file") from None
        except PermissionError as exc:
            raise ObjectUnavailable(ACCESS_DENIED, f"{path}: {exc.strerror}") from None
        except OSError as exc:
            raise ObjectUnavailable(FETCH_ERROR, f"{path}: {exc}") from None

    def describe(self) -> str:
        return self.root_dir


class S3ContentStore(ContentStore):
    """Objects at ``s3://<bucket>/<prefix>/<sha1>`` (prefix e.g. ``content``), read with boto3.

    Endpoint and credentials follow the AWS conventions (``AWS_ENDPOINT_URL``, the credentials chain);
    ``unsigned`` sends anonymous requests, for the public SWH bucket. The client is built on first use,
    under a lock (boto3 clients are thread-safe, sessions are not), so a store can be built on a worker.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "content",
        unsigned: bool = False,
        retry: RetryPolicy | None = None,
        max_pool_connections: int = 32,
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.unsigned = unsigned
        self.retry = retry or RetryPolicy()
        self.max_pool_connections = max_pool_connections
        self._client = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_client": None, "_lock": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def _get_client(self):
        with self._lock:
            if self._client is None:
                import boto3

                config = Config(
                    region_name=s3_region(),
                    retries={"total_max_attempts": 1, "mode": "standard"},  # RetryPolicy retries instead
                    max_pool_connections=self.max_pool_connections,
                    signature_version=UNSIGNED if self.unsigned else None,
                )
                self._client = boto3.session.Session().client("s3", config=config)
            return self._client

    def key(self, blob_id: str) -> str:
        return f"{self.prefix}/{blob_id}" if self.prefix else blob_id

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def get_compressed(self, blob_id: str) -> bytes:
        client = self._get_client()
        key = self.key(blob_id)
        where = f"s3://{self.bucket}/{key}"

        def get() -> bytes:
            return client.get_object(Bucket=self.bucket, Key=key)["Body"].read()  # the body read is retried too

        try:
            return self.retry.call(get)
        except ClientError as exc:
            code, status = _error_code(exc)
            message = exc.response.get("Error", {}).get("Message", "")
            if code in ("NoSuchKey", "NotFound", "404") or status == 404:
                raise ObjectUnavailable(MISSING, f"{where}: {code or status}") from None
            # S3 answers 403 for a missing key when the caller may not list the bucket: it cannot tell which.
            if code in ("AccessDenied", "403") or status == 403:
                raise ObjectUnavailable(ACCESS_DENIED, f"{where}: {code or status} {message}".rstrip()) from None
            raise ObjectUnavailable(
                FETCH_ERROR, f"{where}: {code} (HTTP {status}) {message}{self._gave_up(exc)}"
            ) from None
        except NoCredentialsError as exc:
            # Not a per-blob problem: every blob would fail the same way.
            raise ArchiveError(
                f"content store {self.describe()}: {exc} (use unsigned access for a public "
                f"bucket such as s3://softwareheritage)"
            ) from exc
        except BotoCoreError as exc:
            raise ObjectUnavailable(FETCH_ERROR, f"{where}: {type(exc).__name__}: {exc}{self._gave_up(exc)}") from None

    def _gave_up(self, exc: BaseException) -> str:
        return f" (gave up after {self.retry.max_attempts} attempts)" if is_retryable(exc) else ""


def open_content_store(
    location: ArchiveLocation, *, retry: RetryPolicy | None = None, max_pool_connections: int = 32
) -> ContentStore:
    """The content store of an archive: ``<uri>/content`` on S3 or on the local file system."""
    uri = location.content_uri()
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        return S3ContentStore(
            parsed.netloc,
            parsed.path,
            unsigned=location.unsigned,
            retry=retry,
            max_pool_connections=max_pool_connections,
        )
    if uri.startswith("file://"):
        uri = urlparse(uri).path
    return LocalContentStore(uri)


# -- the pure core -------------------------------------------------------------------------------


def _gunzip(compressed: bytes, limit: int | None) -> bytes:
    """The decompressed bytes, at most ``limit + 1`` of them (so a huge object cannot exhaust memory)."""
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


# -- Beam ----------------------------------------------------------------------------------------

NS = "fetch"
FETCHED, FAILED = "fetched", "failed"
NOT_IN_CONTENT_TABLE = "not in the content table"


class _FetchContentsFn(beam.DoFn):
    """Buffers FileOccurrences and fetches each batch concurrently; outputs keep their input's window."""

    def __init__(
        self,
        location: ArchiveLocation,
        concurrency: int,
        max_length: int | None,
        batch_size: int,
        retry: RetryPolicy | None,
        fetch_item=None,
    ):
        self._location = location
        self._fetch_item = fetch_item or _occurrence_item
        self._concurrency = concurrency
        self._max_length = max_length
        self._batch_size = batch_size
        self._retry = retry
        self._bytes = Metrics.counter(NS, "bytes")

    def setup(self) -> None:
        self._store = open_content_store(self._location, retry=self._retry, max_pool_connections=self._concurrency)
        self._executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="fetch")

    def start_bundle(self) -> None:
        self._buffer: list[tuple[FileOccurrence, object, object]] = []

    def process(self, occ: FileOccurrence, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        # WindowParam makes Beam call process once per window, so each buffered element has exactly one.
        self._buffer.append((occ, timestamp, window))
        if len(self._buffer) >= self._batch_size:
            yield from self._flush()

    def finish_bundle(self):
        yield from self._flush()

    def teardown(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=True)

    def _flush(self):
        batch, self._buffer = self._buffer, []
        to_fetch = [(occ, ts, w) for occ, ts, w in batch if occ.blob_id is not None]
        for occ, ts, w in batch:
            if occ.blob_id is None:  # content absent from the export (skipped_content or not archived)
                yield self._failed(occ, MISSING, NOT_IN_CONTENT_TABLE, ts, w)
        results = fetch_many(
            self._store,
            (self._fetch_item(o) for o, _, _ in to_fetch),
            self._concurrency,
            max_length=self._max_length,
            executor=self._executor,
        )
        for (occ, ts, w), result in zip(to_fetch, results):
            if result.reason is None:
                Metrics.counter(NS, FETCHED).inc()
                self._bytes.inc(len(result.data))
                yield WindowedValue((occ, result.data), ts, [w])
            else:
                yield self._failed(occ, result.reason, result.detail, ts, w)

    @staticmethod
    def _failed(occ: FileOccurrence, reason: str, detail: str, ts, w) -> TaggedOutput:
        Metrics.counter(NS, reason).inc()
        return TaggedOutput(FAILED, WindowedValue((occ, reason, detail), ts, [w]))


def _occurrence_item(occ: FileOccurrence) -> tuple[str, str | None, int | None]:
    return occ.blob_id, occ.content_id, occ.length


def record_item(record) -> tuple[str, str | None, int | None]:
    """``fetch_item`` for FileRecords (the stages that fetch: license files, then the keepers' content)."""
    return record.blob_id, record.content_id, record.length_bytes


class FetchContents(beam.PTransform):
    """FileOccurrence -> ``.fetched`` (FileOccurrence, bytes) and ``.failed`` (FileOccurrence, reason, detail).

    Reasons are FetchResult's, plus ``missing`` ("not in the content table") for occurrences without a
    blob_id. Metrics (namespace ``fetch``): one counter per reason, ``fetched`` and ``bytes``.
    """

    def __init__(
        self,
        location: ArchiveLocation,
        concurrency: int = 16,
        max_length: int | None = MAX_BLOB_LENGTH,
        *,
        batch_size: int = 64,
        retry: RetryPolicy | None = None,
        fetch_item=None,
    ):
        """``fetch_item(element) -> (blob_id, content_id, length)`` for elements other than FileOccurrence."""
        super().__init__()
        if concurrency < 1 or batch_size < 1:
            raise ValueError(f"FetchContents: concurrency and batch_size must be >= 1, got {concurrency}, {batch_size}")
        if max_length is not None and max_length < 1:
            raise ValueError(f"FetchContents: max_length must be >= 1 or None, got {max_length}")
        self._fn = _FetchContentsFn(location, concurrency, max_length, batch_size, retry, fetch_item)

    def expand(self, occurrences):
        return occurrences | "Fetch" >> beam.ParDo(self._fn).with_outputs(FAILED, main=FETCHED)
