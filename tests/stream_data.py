"""Parquet shards of real source files (this Python's standard library) for the loader tests, with small row
groups, so that a few hundred rows make many (file, row group) units."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([("path", pa.string()), ("language", pa.string()), ("content", pa.string())])


def stdlib_rows(packages=("json", "email", "http", "urllib", "logging")) -> list[dict]:
    """One row per ``.py`` file of these standard-library packages, in path order."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rows = []
    for package in packages:
        for path in sorted((stdlib / package).rglob("*.py")):
            rows.append(
                {
                    "path": path.relative_to(stdlib).as_posix(),
                    "language": "Python",
                    "content": path.read_text(encoding="utf-8"),
                }
            )
    return rows


def write_shards(directory: Path, rows: list[dict], files: int, row_group_size: int) -> list[Path]:
    """``rows`` split into ``files`` Parquet files ``part-NNNNN.parquet`` (consecutive runs) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    per = -(-len(rows) // files)
    written = []
    for i in range(files):
        path = directory / f"part-{i:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows[i * per : (i + 1) * per], SCHEMA), path, row_group_size=row_group_size)
        written.append(path)
    return written
