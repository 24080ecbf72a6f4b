"""Parquet shards are written one row group at a time (stack_v2/io/parquet.py): bounded row groups of real
source text, the rows read back in order, and small rows (manifests, dropped tables) written byte for byte
as a single ``pyarrow.parquet.write_table`` call wrote them."""

from __future__ import annotations

import hashlib
import inspect
import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

from stack_v2.io import parquet

SCHEMA = pa.schema([("path", pa.string()), ("content", pa.large_string()), ("length", pa.int64())])


def _source_rows() -> list[dict]:
    """Every module of the json and email packages, as data rows."""
    rows = []
    for package in (json, __import__("email")):
        for path in sorted(pathlib.Path(inspect.getfile(package)).parent.glob("*.py")):
            text = path.read_text(encoding="utf-8")
            rows.append({"path": path.name, "content": text, "length": len(text.encode())})
    return rows


def test_row_groups_hold_at_most_the_byte_and_row_limits(tmp_path, monkeypatch):
    rows = _source_rows()
    monkeypatch.setattr(parquet, "ROW_GROUP_BYTES", 64 << 10)
    groups = parquet.row_groups(rows)
    assert [row for group in groups for row in group] == rows
    assert len(groups) > 3
    for group in groups:
        text = sum(len(r["path"]) + len(r["content"]) for r in group)
        assert text <= 64 << 10 or len(group) == 1  # one larger file is a row group of its own

    path = str(tmp_path / "data" / "part.parquet")
    parquet.write_parquet_atomic(path, rows, SCHEMA)
    written = pq.ParquetFile(path)
    assert written.metadata.num_row_groups == len(groups)
    assert written.read().to_pylist() == rows

    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 5)
    assert max(map(len, parquet.row_groups(rows))) == 5


def _md5(path) -> str:
    return hashlib.md5(pathlib.Path(path).read_bytes()).hexdigest()


def test_small_rows_are_written_as_one_write_table_call_wrote_them(tmp_path):
    # A manifest's rows: 250,000 of them make three row groups of at most 100,000 rows either way.
    schema = pa.schema([("swhid", pa.string()), ("length", pa.int64())])
    names = [p.name for p in pathlib.Path(inspect.getfile(json)).parent.glob("*.py")]
    rows = [{"swhid": f"swh:1:cnt:{i:040x};path={names[i % len(names)]}", "length": i} for i in range(250_000)]
    for label, subset in (("many", rows), ("few", rows[:7]), ("none", [])):
        before, after = tmp_path / f"{label}-before.parquet", tmp_path / f"{label}-after.parquet"
        table = pa.Table.from_pylist(subset, schema=schema)
        pq.write_table(table, before, compression="zstd", row_group_size=100_000, write_statistics=True)
        parquet.write_parquet_atomic(str(after), subset, schema)
        assert _md5(after) == _md5(before), label
    assert pq.ParquetFile(tmp_path / "many-after.parquet").metadata.num_row_groups == 3
    assert pq.read_table(tmp_path / "none-after.parquet").schema == schema
