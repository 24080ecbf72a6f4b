"""Content stores: where the compressed blob objects are read, a local directory or S3, and S3's retries.

A store only returns the compressed bytes or raises ``ObjectUnavailable(reason, detail)`` (stack_v2.archive.content
verifies them). ``S3ContentStore`` turns botocore's own retries off and retries throttling, 5xx and connection
errors itself with ``RetryPolicy`` (full-jitter exponential backoff), so the policy is explicit and testable
with an injected ``sleep`` and ``rng``.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlparse

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

from stack_v2.archive.content import ACCESS_DENIED, FETCH_ERROR, MISSING, ContentStore, ObjectUnavailable
from stack_v2.archive.location import ArchiveLocation, s3_region
from stack_v2.errors import ArchiveError

__all__ = [
    "LocalContentStore",
    "RetryPolicy",
    "S3ContentStore",
    "is_retryable",
    "open_content_store",
]

T = TypeVar("T")


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


class LocalContentStore(ContentStore):
    """A directory of ``<sha1>`` gzip files, as ``stack-v2 archive import-git`` writes them."""

    concurrent_reads = False  # fetched in the calling thread (ContentStore.concurrent_reads)

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
