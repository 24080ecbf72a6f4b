"""Fetch and decode (docs/the-stack-v2.md §3.2), as the paper's download step does it.

Blobs of 10 MiB or more (by SWH length) are skipped before any request; bytes with a NUL are binary;
text is UTF-8, else the charset cChardet detects (recorded as ``src_encoding``); what cannot be decoded
is dropped. Missing, corrupt or mismatched objects are failures with the fetcher's reason.
Decoded text gets the train sets' per-file statistics (``quality.stats``), which the filters read.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam

from stack_v2.archive.content import MAX_BLOB_LENGTH, TOO_LARGE
from stack_v2.archive.fetch_contents import FetchContents, record_item
from stack_v2.archive.location import ArchiveLocation
from stack_v2.decode import decode_content
from stack_v2.params import Int, param
from stack_v2.progress import Tracked
from stack_v2.quality.stats import text_stats
from stack_v2.records import FileRecord
from stack_v2.stages.base import Drop, Fail, count_dropped_row, dropped_row, routed
from stack_v2.stages.stage import Stage

STAGE = "fetch_decode"


def decode_verdict(record: FileRecord, data: bytes) -> FileRecord | Drop:
    decoded = decode_content(data)
    if isinstance(decoded, Drop):
        return decoded
    text, encoding = decoded
    return record._replace(content=text, src_encoding=encoding, **text_stats(text)._asdict())


def _decode(element):
    record, data = element
    yield from routed(STAGE, record, decode_verdict(record, data))


def _fetch_failure(element):
    record, reason, detail = element
    verdict = Drop(reason, detail) if reason == TOO_LARGE else Fail(reason, detail)  # too large: a rule, not an error
    return count_dropped_row(dropped_row(record, STAGE, verdict))


@dataclasses.dataclass(frozen=True)
class FetchDecodeConfig:
    max_length: int = param(MAX_BLOB_LENGTH, Int(1))  # the paper's code: raw SWH length >= 10 MiB is skipped
    concurrency: int = param(16, Int(1))  # fetches in flight per worker


class FetchDecode(beam.PTransform):
    """FileRecord (content None) -> {'kept': FileRecord with content and src_encoding, 'dropped': DroppedRow}."""

    def __init__(self, location: ArchiveLocation, config: FetchDecodeConfig = FetchDecodeConfig()):
        super().__init__()
        self._location, self._config = location, config

    def expand(self, records):
        fetched = records | "Fetch" >> FetchContents(
            self._location, self._config.concurrency, self._config.max_length, fetch_item=record_item
        )
        decoded = fetched.fetched | "Decode" >> beam.FlatMap(Tracked(_decode)).with_outputs("dropped", main="kept")
        failed = fetched.failed | "FetchFailed" >> beam.Map(Tracked(_fetch_failure))
        return {"kept": decoded.kept, "dropped": (decoded.dropped, failed) | "AllDropped" >> beam.Flatten()}


# only the keepers of exact dedup are fetched, with their licenses decided
DEFINITION = Stage(
    STAGE,
    lambda config, context: FetchDecode(context.location, config),
    FetchDecodeConfig,
    after=("license", "exact_dedup"),
)
