"""Fetch and decode (docs/the-stack-v2.md §3.2), as the paper's download step does it.

Blobs of 10 MiB or more (by SWH length) are skipped before any request; bytes with a NUL are binary;
text is UTF-8, else the charset cChardet detects (recorded as ``src_encoding``); what cannot be decoded
is dropped. Missing, corrupt or mismatched objects are failures with the fetcher's reason.
Decoded text gets the train sets' per-file statistics (``quality.stats``), which the filters read.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import cchardet

from stack_v2.progress import Tracked
from stack_v2.archive.content import MAX_BLOB_LENGTH, TOO_LARGE, FetchContents
from stack_v2.archive.location import ArchiveLocation
from stack_v2.quality.stats import text_stats
from stack_v2.records import FileRecord
from stack_v2.stages.base import Drop, Fail, count_dropped_row, dropped_row, routed

STAGE = "fetch_decode"


def decode_content(data: bytes) -> tuple[str, str] | Drop:
    """(text, src_encoding), or why the bytes are not text."""
    if b"\0" in data:
        return Drop("binary", "contains NUL bytes")
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    detected = cchardet.detect(data)
    encoding, confidence = detected.get("encoding"), detected.get("confidence") or 0.0
    # The paper's code drops what cChardet cannot name, or names UTF-8 (which just failed).
    if not encoding or encoding.replace("-", "").upper() == "UTF8":
        return Drop("undecodable", f"charset={encoding} confidence={confidence:.2f}")
    try:
        return data.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError) as exc:
        return Drop("undecodable", f"charset={encoding}: {type(exc).__name__}")


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


def _fetch_item(record: FileRecord):
    return record.blob_id, record.content_id, record.length_bytes


@dataclasses.dataclass(frozen=True)
class FetchDecodeConfig:
    max_length: int = MAX_BLOB_LENGTH  # the paper's code: raw SWH length >= 10 MiB is skipped
    concurrency: int = 16


class FetchDecode(beam.PTransform):
    """FileRecord (content None) -> {'kept': FileRecord with content and src_encoding, 'dropped': DroppedRow}."""

    def __init__(self, location: ArchiveLocation, config: FetchDecodeConfig = FetchDecodeConfig()):
        super().__init__()
        self._location, self._config = location, config

    def expand(self, records):
        fetched = records | "Fetch" >> FetchContents(self._location, self._config.concurrency,
                                                     self._config.max_length, fetch_item=_fetch_item)  # fmt: skip
        decoded = fetched.fetched | "Decode" >> beam.FlatMap(Tracked(_decode)).with_outputs("dropped", main="kept")
        failed = fetched.failed | "FetchFailed" >> beam.Map(Tracked(_fetch_failure))
        return {"kept": decoded.kept, "dropped": (decoded.dropped, failed) | "AllDropped" >> beam.Flatten()}
