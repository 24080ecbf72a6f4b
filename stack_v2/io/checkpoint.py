"""The fetch checkpoint: what fetch_decode fetched and decoded, persisted as it goes, so that a build killed
after fetching resumes without fetching it again (``stack-v2 build --checkpoint DIR [--resume]``).

Layout of DIR (local, ``s3://`` or ``gs://``):

    checkpoint.json          what the rows are valid for (``validity``), written when the checkpoint starts
    parts/<uuid>.parquet     rows blob_id -> decode outcome, one file per batch a worker settled

A row is a blob's outcome as ``stack_v2.decode`` gives it, ``(text, src_encoding)`` or a ``Drop`` (binary,
undecodable, too_large), with the record's ``content_id`` (the sha1_git the fetch verified). Failures are
never written: a resumed build retries them. The outcome is a function of the blob's bytes (named by its
sha1, ``blob_id``), its length and fetch_decode's ``max_length`` only; which records reach fetch_decode
(origins, opt-outs, the stages before it) does not change it, so they are not part of the validity.
Rows may repeat (a retried bundle, two builds resuming at once); they are equal, and a reader takes one.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from stack_v2 import __version__, storage
from stack_v2.errors import StackV2Error
from stack_v2.io.parquet import write_parquet_atomic
from stack_v2.joins import JoinSmallToLarge
from stack_v2.verdicts import Drop, Fail

INFO = "checkpoint.json"
PARTS = "parts"
FORMAT = 1
NS = "checkpoint"  # Beam counters: hits, misses (records looked up on resume), written (rows persisted)
KEPT, DROPPED = "kept", "dropped"
SCHEMA = pa.schema(
    [
        ("blob_id", pa.string()),
        ("content_id", pa.string()),
        ("outcome", pa.string()),  # kept | dropped
        ("content", pa.large_string()),
        ("src_encoding", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


class CheckpointError(StackV2Error):
    """A checkpoint that cannot be used for this build; the message names it and what differs."""


def validity(archive: str, max_length: int) -> dict:
    """What a checkpoint's rows depend on: the archive (its lengths), fetch_decode's ``max_length``, and the
    code that decodes (stack-v2's decoding and statistics, cChardet's detection)."""
    import cchardet

    return {
        "format": FORMAT,
        "archive": archive,
        "fetch_decode.max_length": max_length,
        "stack-v2": __version__,
        "cchardet": cchardet.__version__,
    }


def _differences(stored: dict, wanted: dict) -> str:
    keys = sorted(set(stored) | set(wanted))
    return "; ".join(
        f"{key}: checkpoint {stored.get(key)!r}, this build {wanted.get(key)!r}"
        for key in keys
        if stored.get(key) != wanted.get(key)
    )


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint opened for a build: where it is, whether the build resumes from it, and (to resume) the
    parts it held when opened; parts written during the build are not read by it."""

    uri: str
    resume: bool = False
    parts: tuple[str, ...] = ()  # names under parts/

    def part_uri(self, name: str) -> str:
        return storage.join(self.uri, PARTS, name)


def open_checkpoint(uri: str, valid_for: dict, resume: bool) -> Checkpoint:
    """The checkpoint at ``uri`` for a build whose rows would be ``valid_for`` (``validity``).

    To resume, it must exist and have been made for the same; otherwise it must hold no rows yet (a
    build that does not resume never mixes its rows with another's) and its checkpoint.json is written."""
    uri = storage.absolute(storage.check_uri(uri, "--checkpoint"))
    info_uri = storage.join(uri, INFO)
    parts = tuple(p.rsplit("/", 1)[-1] for p in storage.list_files(storage.join(uri, PARTS), ".parquet"))
    if resume:
        if not storage.exists(info_uri):
            raise CheckpointError(
                f"checkpoint {uri}: nothing to resume (no {INFO}); start one with --checkpoint without --resume"
            )
        stored = json.loads(storage.read_text(info_uri)).get("valid_for", {})
        if differs := _differences(stored, valid_for):
            raise CheckpointError(
                f"checkpoint {uri} was made for another build ({differs}): resume with the same archive and "
                "fetch_decode max_length, or give another --checkpoint directory"
            )
        return Checkpoint(uri, True, parts)
    if parts:
        raise CheckpointError(
            f"checkpoint {uri} already holds {len(parts)} parts of an earlier build: add --resume to continue "
            "from it, or give an empty --checkpoint directory"
        )
    info = {"valid_for": valid_for, "created_at": time.time()}
    storage.write_text(info_uri, json.dumps(info, indent=2) + "\n")
    return Checkpoint(uri, False, ())


# -- rows ----------------------------------------------------------------------------------------


def to_row(record, outcome) -> dict | None:
    """The row persisting ``outcome`` for ``record`` (``(text, src_encoding)`` or Drop); None for a Fail."""
    if isinstance(outcome, Fail) or record.blob_id is None:
        return None
    row = {"blob_id": record.blob_id, "content_id": record.content_id}
    if isinstance(outcome, Drop):
        return {**row, "outcome": DROPPED, "reason": outcome.reason, "detail": outcome.detail}
    text, encoding = outcome
    return {**row, "outcome": KEPT, "content": text, "src_encoding": encoding}


def from_row(row: dict):
    """The outcome a row persisted: ``(text, src_encoding)`` or Drop."""
    if row["outcome"] == KEPT:
        return row["content"], row["src_encoding"]
    return Drop(row["reason"], row["detail"])


def write_part(checkpoint_uri: str, rows: list[dict]) -> str:
    """Rows into a new part (whole or absent, whatever is killed when); returns its name."""
    name = f"{uuid.uuid4().hex}.parquet"
    write_parquet_atomic(storage.join(checkpoint_uri, PARTS, name), rows, SCHEMA)
    return name


def _read_part(checkpoint: Checkpoint, name: str, columns: list[str]) -> pa.Table:
    fs, path = storage.filesystem(checkpoint.part_uri(name))
    with fs.open_input_file(path) as f:
        return pq.read_table(f, columns=columns)


def read_part(checkpoint: Checkpoint, name: str) -> list[dict]:
    """A part's rows, as written."""
    return _read_part(checkpoint, name, SCHEMA.names).to_pylist()


def part_index(checkpoint: Checkpoint, name: str):
    """(blob_id, (part name, content_id)) for each row of a part: what a lookup joins on."""
    table = _read_part(checkpoint, name, ["blob_id", "content_id"])
    for blob_id, content_id in zip(table.column("blob_id").to_pylist(), table.column("content_id").to_pylist()):
        yield blob_id, (name, content_id)


# -- the transforms ------------------------------------------------------------------------------


class _PersistFn(beam.DoFn):
    """(record, outcome) pairs on, each written to the checkpoint before it goes on: a batch of rows per
    part, so a kill loses at most the batches being filled. Failures go on at once, unwritten."""

    def __init__(self, checkpoint_uri: str, max_rows: int, max_bytes: int):
        self._uri, self._max_rows, self._max_bytes = checkpoint_uri, max_rows, max_bytes
        self._written = Metrics.counter(NS, "written")

    def start_bundle(self):
        self._buffer: list = []
        self._bytes = 0

    def process(self, pair, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        # WindowParam makes Beam call process once per window, so each buffered element has exactly one.
        row = to_row(*pair)
        if row is None:
            yield pair
            return
        self._buffer.append((pair, row, timestamp, window))
        self._bytes += len(row.get("content") or "")
        if len(self._buffer) >= self._max_rows or self._bytes >= self._max_bytes:
            yield from self._flush()

    def finish_bundle(self):
        yield from self._flush()

    def _flush(self):
        batch, self._buffer, self._bytes = self._buffer, [], 0
        if batch:
            write_part(self._uri, [row for _, row, _, _ in batch])
            self._written.inc(len(batch))
        for pair, _, ts, w in batch:
            yield WindowedValue(pair, ts, [w])


class Persist(beam.PTransform):
    """(record, outcome) -> the same pairs, once the non-failures among them are in the checkpoint."""

    def __init__(self, checkpoint: Checkpoint, max_rows: int = 1000, max_bytes: int = 64 << 20):
        super().__init__()
        self._fn = _PersistFn(checkpoint.uri, max_rows, max_bytes)

    def expand(self, pairs):
        return pairs | "Write" >> beam.ParDo(self._fn)


_HITS, _MISSES = Metrics.counter(NS, "hits"), Metrics.counter(NS, "misses")


def _match(joined):
    """A record against its blob's rows: (part, record) when one has the record's content_id (the sha1_git
    its fetch would verify), else a miss."""
    _blob_id, entries, record = joined
    parts = sorted(part for part, content_id in entries if content_id == record.content_id)
    if parts:
        _HITS.inc()
        yield parts[0], record
    else:
        _MISSES.inc()
        yield beam.pvalue.TaggedOutput("misses", record)


def _replay(group, checkpoint: Checkpoint):
    """(part, records) -> (record, outcome) for each, from one read of the part."""
    name, records = group
    rows: dict[str, dict] = {}
    for row in read_part(checkpoint, name):
        rows.setdefault(row["blob_id"], row)
    for record in records:
        yield record, from_row(rows[record.blob_id])


class LookUp(beam.PTransform):
    """Records -> {'hits': (record, outcome) from the checkpoint, 'misses': the records it has no row for}.

    The records (no content yet) are joined by blob_id with the parts' index; each part holding hits is
    then read once, so contents are read where they are replayed and never shuffled."""

    def __init__(self, checkpoint: Checkpoint):
        super().__init__()
        self._checkpoint = checkpoint

    def expand(self, records):
        checkpoint = self._checkpoint
        index = (
            records.pipeline
            | "Parts" >> beam.Create(checkpoint.parts)
            | "Index" >> beam.FlatMap(lambda name: part_index(checkpoint, name))
        )
        split = records | "HasBlob" >> beam.Partition(lambda r, n: 0 if r.blob_id is not None else 1, 2)
        keyed = split[0] | "ByBlob" >> beam.Map(lambda r: (r.blob_id, r))
        matched = (
            (index, keyed)
            | "Join" >> JoinSmallToLarge()
            | "Match" >> beam.FlatMap(_match).with_outputs("misses", main="hits")
        )
        hits = matched.hits | "ByPart" >> beam.GroupByKey() | "Replay" >> beam.FlatMap(_replay, checkpoint)
        misses = (matched.misses, split[1]) | "Misses" >> beam.Flatten()
        return {"hits": hits, "misses": misses}
