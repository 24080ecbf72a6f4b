"""Fetch and decode (docs/the-stack-v2.md §3.2), as the paper's download step does it.

Blobs of 10 MiB or more (by SWH length) are skipped before any request; bytes with a NUL are binary;
text is UTF-8, else the charset cChardet detects (recorded as ``src_encoding``); what cannot be decoded
is dropped. Missing, corrupt or mismatched objects are failures with the fetcher's reason.
Decoded text gets the train sets' per-file statistics (``quality.stats``), which the filters read.

With a checkpoint (``build --checkpoint``), every blob's outcome but a failure is persisted before it goes
on; a resumed build takes the outcomes the checkpoint holds instead of fetching (``stack_v2.io.checkpoint``).
Both paths end in the same routing, so a replayed outcome is counted as its fetch would have been.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam

from stack_v2.archive.content import MAX_BLOB_LENGTH, TOO_LARGE, FetchResult
from stack_v2.archive.fetch_contents import FetchContents, record_item
from stack_v2.archive.location import ArchiveLocation
from stack_v2.decode import decode_content
from stack_v2.io.checkpoint import Checkpoint, LookUp, Persist
from stack_v2.params import Int, param
from stack_v2.progress import Tracked
from stack_v2.quality.stats import text_stats
from stack_v2.records import FileRecord
from stack_v2.stages.base import DROPPED, Drop, Fail, routed
from stack_v2.stages.stage import Stage

STAGE = "fetch_decode"


def with_text(record: FileRecord, decoded) -> FileRecord | Drop | Fail:
    """The stage's verdict from a blob's outcome: the record with its text, encoding and statistics, or the
    Drop or Fail itself."""
    if isinstance(decoded, (Drop, Fail)):
        return decoded
    text, encoding = decoded
    return record._replace(content=text, src_encoding=encoding, **text_stats(text)._asdict())


def decode_verdict(record: FileRecord, data: bytes) -> FileRecord | Drop:
    return with_text(record, decode_content(data))


def fetch_outcome(record: FileRecord, fetched: FetchResult) -> tuple[FileRecord, object]:
    """(record, (text, encoding) or the Drop or Fail): what the fetcher gives for one record, decoded."""
    if fetched.reason is None:
        return record, decode_content(fetched.data)
    reason, detail = fetched.reason, fetched.detail
    return record, Drop(reason, detail) if reason == TOO_LARGE else Fail(reason, detail)  # too large: a rule


def _route(element):
    record, outcome = element
    yield from routed(STAGE, record, with_text(record, outcome))


@dataclasses.dataclass(frozen=True)
class FetchDecodeConfig:
    max_length: int = param(MAX_BLOB_LENGTH, Int(1))  # the paper's code: raw SWH length >= 10 MiB is skipped
    concurrency: int = param(16, Int(1))  # fetches in flight per worker


class FetchDecode(beam.PTransform):
    """FileRecord (content None) -> {'kept': FileRecord with content and src_encoding, 'dropped': DroppedRow}."""

    def __init__(
        self,
        location: ArchiveLocation,
        config: FetchDecodeConfig = FetchDecodeConfig(),
        checkpoint: Checkpoint | None = None,
    ):
        """With ``checkpoint`` each outcome but a failure is persisted before it goes on, and when it resumes,
        records whose blob it holds take their outcome from it instead of a fetch (stack_v2.io.checkpoint)."""
        super().__init__()
        self._location, self._config, self._checkpoint = location, config, checkpoint

    def expand(self, records):
        checkpoint, hits = self._checkpoint, None
        if checkpoint is not None and checkpoint.parts:
            looked_up = records | "LookUp" >> LookUp(checkpoint)
            records, hits = looked_up["misses"], looked_up["hits"]
        # One output for fetched and failed alike: no Flatten, so the fetched bytes go on decoded in place
        outcomes = records | "Fetch" >> FetchContents(
            self._location,
            self._config.concurrency,
            self._config.max_length,
            fetch_item=record_item,
            outcome=fetch_outcome,
        )
        if checkpoint is not None:
            outcomes = outcomes | "Persist" >> Persist(checkpoint)
        if hits is not None:
            outcomes = (outcomes, hits) | "WithHits" >> beam.Flatten()
        out = outcomes | "Route" >> beam.FlatMap(Tracked(_route)).with_outputs(DROPPED, main="kept")
        return {"kept": out.kept, "dropped": out[DROPPED]}


# only the keepers of exact dedup are fetched, with their licenses decided
DEFINITION = Stage(
    STAGE,
    lambda config, context: FetchDecode(context.location, config, context.checkpoint),
    FetchDecodeConfig,
    after=("license", "exact_dedup"),
)
