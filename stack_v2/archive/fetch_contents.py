"""``FetchContents``: the Beam transform that fetches the blobs of FileOccurrences (or FileRecords), verified.

Each worker opens the archive's content store once and fetches a bundle's elements in batches with
``fetch_many`` (stack_v2.archive.content); every failure goes to the ``failed`` output with its reason.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

from stack_v2.archive.content import MAX_BLOB_LENGTH, MISSING, FetchResult, fetch_many
from stack_v2.archive.content_store import RetryPolicy, open_content_store
from stack_v2.archive.location import ArchiveLocation
from stack_v2.records import FileOccurrence

__all__ = ["FetchContents", "record_item"]

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
        outcome=None,
    ):
        self._location = location
        self._fetch_item = fetch_item or _occurrence_item
        self._outcome = outcome
        self._concurrency = concurrency
        self._max_length = max_length
        self._batch_size = batch_size
        self._retry = retry
        self._bytes = Metrics.counter(NS, "bytes")

    def setup(self) -> None:
        self._store = open_content_store(self._location, retry=self._retry, max_pool_connections=self._concurrency)
        self._executor = (
            ThreadPoolExecutor(self._concurrency, thread_name_prefix="fetch") if self._store.concurrent_reads else None
        )

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
                element = (occ, result.data) if self._outcome is None else self._outcome(occ, result)
                yield WindowedValue(element, ts, [w])
            else:
                yield self._failed(occ, result.reason, result.detail, ts, w)

    def _failed(self, occ: FileOccurrence, reason: str, detail: str, ts, w):
        Metrics.counter(NS, reason).inc()
        if self._outcome is not None:
            return WindowedValue(self._outcome(occ, FetchResult.failure(occ.blob_id, reason, detail)), ts, [w])
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

    With ``outcome(element, FetchResult) -> output``, every element, fetched or failed, gives one output on
    a single PCollection instead: a consumer that treats both alike needs no Flatten, which the portable
    runners turn into a materialised step (every fetched byte encoded and decoded once more).
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
        outcome=None,
    ):
        """``fetch_item(element) -> (blob_id, content_id, length)`` for elements other than FileOccurrence;
        ``outcome``: see the class."""
        super().__init__()
        if concurrency < 1 or batch_size < 1:
            raise ValueError(f"FetchContents: concurrency and batch_size must be >= 1, got {concurrency}, {batch_size}")
        if max_length is not None and max_length < 1:
            raise ValueError(f"FetchContents: max_length must be >= 1 or None, got {max_length}")
        self._fn = _FetchContentsFn(location, concurrency, max_length, batch_size, retry, fetch_item, outcome)
        self._one_output = outcome is not None

    def expand(self, occurrences):
        if self._one_output:
            return occurrences | "Fetch" >> beam.ParDo(self._fn)
        return occurrences | "Fetch" >> beam.ParDo(self._fn).with_outputs(FAILED, main=FETCHED)
