"""Deterministic, atomic Parquet shards: ``<dir>/<group>/<name>-NNNNN-of-MMMMM.parquet``.

Rows are assigned to a shard by a stable hash of their sort key, so the same input gives the same
shards on every runner; each shard is sorted, written under a temporary name and renamed, so a crashed
run never leaves a file that looks complete. The number of shards of a group comes from its total size
(one Combine), and a shard is written by one worker from one GroupByKey group: memory is bounded by
the target shard size, not by the dataset.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from stack_v2 import storage

_NS_LIMIT = (1 << 63) // 1000  # µs beyond this do not fit timestamp[ns]


def micros_to_ns(micros: int | None) -> int | None:
    """µs -> ns for timestamp[ns] columns; dates outside 1677-2262 become null (they cannot be stored)."""
    if micros is None or not -_NS_LIMIT < micros < _NS_LIMIT:
        return None
    return micros * 1000


def stable_bucket(key: str, buckets: int) -> int:
    return int.from_bytes(hashlib.sha1(key.encode("utf-8", "surrogatepass")).digest()[:8], "big") % buckets


ROW_GROUP_ROWS = 100_000
# A row group's text at most (its str and bytes values): the writer converts one row group to Arrow at a
# time, so a 256 MB data shard costs its rows and one row group's Arrow copy, not a second copy of the
# shard. Rows of a few hundred bytes (manifests, dropped tables) reach ROW_GROUP_ROWS first.
ROW_GROUP_BYTES = 64 << 20


def _text_bytes(row: dict) -> int:
    return sum(len(v) for v in row.values() if isinstance(v, (str, bytes)))


def row_groups(rows: list[dict]) -> list[list[dict]]:
    """Consecutive slices of ``rows``: at most ROW_GROUP_ROWS rows, and ROW_GROUP_BYTES of text unless one
    row alone is more; at least one slice (empty for no rows)."""
    groups, start, size = [], 0, 0
    for i, row in enumerate(rows):
        row_size = _text_bytes(row)
        if i > start and (i - start == ROW_GROUP_ROWS or size + row_size > ROW_GROUP_BYTES):
            groups.append(rows[start:i])
            start, size = i, 0
        size += row_size
    groups.append(rows[start:])
    return groups


def write_parquet_atomic(path: str, rows: list[dict], schema: pa.Schema) -> None:
    """Write rows to ``path`` (local, s3:// or gs://) so that no reader sees a partial file: locally via a
    temporary file in the same directory and a rename, in an object store as one upload. One row group per
    ``row_groups`` slice, each converted to Arrow only when it is written."""
    if storage.is_remote(path):
        # Serialised first, then one upload: a failure while encoding never leaves a partial object.
        buffer = pa.BufferOutputStream()
        _write(buffer, rows, schema)
        storage.write_bytes(path, buffer.getvalue())
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = storage.temporary_path(path)
    _write(tmp, rows, schema)
    os.replace(tmp, path)


def _write(sink, rows: list[dict], schema: pa.Schema) -> None:
    # Fixed writer settings so identical rows give identical bytes.
    with pq.ParquetWriter(sink, schema, compression="zstd", write_statistics=True) as writer:
        for group in row_groups(rows):
            writer.write_table(pa.Table.from_pylist(group, schema=schema), row_group_size=ROW_GROUP_ROWS)


def shard_name(name: str, index: int, count: int) -> str:
    return f"{name}-{index:05d}-of-{count:05d}.parquet"


def _as_is(row: dict) -> dict:
    return row


class _WriteShard(beam.DoFn):
    def __init__(self, out_dir: str, name: str, schema: pa.Schema, sort_key: Callable, to_row: Callable):
        self._out_dir, self._name, self._schema, self._sort_key = out_dir, name, schema, sort_key
        self._to_row = to_row

    def process(self, element):
        (group, index, count), items = element
        rows = sorted(map(self._to_row, items), key=self._sort_key)
        path = storage.join(self._out_dir, *([group] if group else []), shard_name(self._name, index, count))
        write_parquet_atomic(path, rows, self._schema)
        yield group, path, len(rows)


def _shard_count(totals, target_rows: int | None, target_bytes: int | None) -> int:
    rows, nbytes = totals
    by_rows = -(-rows // target_rows) if target_rows else 1
    by_bytes = -(-nbytes // target_bytes) if target_bytes else 1
    return max(1, by_rows, by_bytes)


def sum_pairs(pairs) -> tuple[int, int]:
    """(rows, bytes) pairs summed: a combiner for counts."""
    rows = nbytes = 0
    for r, b in pairs:
        rows += r
        nbytes += b
    return rows, nbytes


class WriteShardedParquet(beam.PTransform):
    """(group, row dict, size) -> Parquet shards under ``out_dir/<group>/``; outputs (group, path, rows).

    ``key`` names a row for shard assignment and sorting (unique per row for determinism). With ``to_row``,
    the items are records, not rows, and ``to_row(record)`` makes each one's row: they move to their shard's
    writer as records, which pickle their content compressed (stack_v2/packed_text.py), and become rows there.
    """

    def __init__(
        self,
        out_dir: str,
        name: str,
        schema: pa.Schema,
        key: Callable[[dict], str],
        *,
        target_rows: int | None = None,
        target_bytes: int | None = None,
        to_row: Callable | None = None,
    ):
        super().__init__()
        self._out_dir, self._name, self._schema, self._key = out_dir, name, schema, key
        self._target_rows, self._target_bytes, self._to_row = target_rows, target_bytes, to_row or _as_is

    def expand(self, items):
        key, target_rows, target_bytes, to_row = self._key, self._target_rows, self._target_bytes, self._to_row
        counts = (
            items
            | "Sizes" >> beam.MapTuple(lambda group, _item, size: (group, (1, size)))
            | "Totals" >> beam.CombinePerKey(sum_pairs)
            | "ShardCount"
            >> beam.MapTuple(lambda group, totals: (group, _shard_count(totals, target_rows, target_bytes)))
        )

        def assign(item, shard_counts):
            group, value, _size = item
            count = shard_counts[group]
            return (group, stable_bucket(key(to_row(value)), count), count), value

        return (
            items
            | "Assign" >> beam.Map(assign, beam.pvalue.AsDict(counts))
            | "Group" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteShard(self._out_dir, self._name, self._schema, key, to_row))
        )
