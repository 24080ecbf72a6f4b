"""Read and write the graph export's ORC tables, stripe by stripe and column by column.

Reading never loads a whole table: callers list the (file, stripe) units of a table and read one
stripe at a time, with only the columns they need. Timestamps come back as ``timestamp[us]`` (UTC):
pyarrow reads ORC timestamps as nanoseconds and raises on dates outside 1677-2262, which SWH commit
dates do contain (docs/the-stack-v2.md §12.4), so a stripe that trips that error is re-read with pyorc,
which has no such limit.
"""

from __future__ import annotations

import os
import posixpath
import uuid as uuidlib
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.orc as paorc
import pyorc

from stack_v2.archive.graph_schema import BLOOM_FILTER_COLUMNS, TABLE_SCHEMAS
from stack_v2.archive.location import ArchiveLocation
from stack_v2.errors import ArchiveError

TIMESTAMP = pa.timestamp("us")


@dataclass(frozen=True, order=True)
class StripeRef:
    """One unit of reading: a stripe of one ORC file of a graph table."""

    table: str
    path: str  # path inside the archive's file system
    stripe: int


def table_files(location: ArchiveLocation, table: str) -> list[str]:
    """Sorted paths of a table's ORC files; a clear error when the table is missing."""
    fs, root = location.filesystem(location.table_dir(table))
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True, recursive=False))
    except OSError as exc:
        raise ArchiveError(f"graph table {table!r}: cannot list {location.table_dir(table)}: {exc}") from exc
    paths = sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(".orc"))
    if not paths:
        raise ArchiveError(
            f"graph table {table!r} is missing: no .orc files in {location.table_dir(table)} "
            f"(is {location.describe()} a SWH graph export or an archive made by 'stack-v2 archive import-git'?)"
        )
    return paths


def table_stripes(location: ArchiveLocation, table: str) -> list[StripeRef]:
    """Every stripe of every file of a table (reads only the files' footers)."""
    return [ref for path in table_files(location, table) for ref in file_stripes(location, table, path)]


def file_stripes(location: ArchiveLocation, table: str, path: str) -> list[StripeRef]:
    fs, _ = location.filesystem(location.table_dir(table))
    try:
        with fs.open_input_file(path) as f:
            orc = paorc.ORCFile(f)
            return [StripeRef(table, path, i) for i in range(orc.nstripes)]
    except (OSError, pa.ArrowException) as exc:
        raise ArchiveError(f"graph table {table!r}: cannot read ORC file {path}: {_short(exc)}") from exc


def read_stripe(location: ArchiveLocation, ref: StripeRef, columns: list[str]) -> pa.RecordBatch:
    """One stripe with just ``columns`` (timestamps as timestamp[us]); ArchiveError on a bad file."""
    fs, _ = location.filesystem(location.table_dir(ref.table))
    try:
        with fs.open_input_file(ref.path) as f:
            orc = paorc.ORCFile(f)
            missing = [c for c in columns if c not in orc.schema.names]
            if missing:
                raise ArchiveError(
                    f"graph table {ref.table!r}: ORC file {ref.path} lacks column(s) {missing} "
                    f"(it has {orc.schema.names})"
                )
            try:
                batch = orc.read_stripe(ref.stripe, columns=columns)
            except pa.ArrowInvalid as exc:
                if "out of range for nanosecond" not in str(exc):
                    raise
                f.seek(0)
                return _read_stripe_with_pyorc(f, ref.stripe, columns, orc.schema)
    except ArchiveError:
        raise
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise ArchiveError(
            f"graph table {ref.table!r}: cannot read stripe {ref.stripe} of {ref.path}: {_short(exc)}"
        ) from exc
    # ORC returns columns in file order; callers rely on the order they asked for.
    return _timestamps_to_us(batch.select(columns))


def iter_table(location: ArchiveLocation, table: str, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """All stripes of a table in order, one batch at a time."""
    for ref in table_stripes(location, table):
        yield read_stripe(location, ref, columns)


def _timestamps_to_us(batch: pa.RecordBatch) -> pa.RecordBatch:
    if not any(pa.types.is_timestamp(f.type) for f in batch.schema):
        return batch
    arrays = [a.cast(TIMESTAMP) if pa.types.is_timestamp(a.type) else a for a in batch.columns]
    fields = [pa.field(f.name, TIMESTAMP) if pa.types.is_timestamp(f.type) else f for f in batch.schema]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


class _MicrosSinceEpoch:
    """pyorc converter: ORC (seconds, nanoseconds) -> int microseconds, whatever the year."""

    @staticmethod
    def from_orc(seconds: int, nanoseconds: int, timezone) -> int:
        return seconds * 1_000_000 + nanoseconds // 1_000

    @staticmethod
    def to_orc(*args):  # pragma: no cover - reading only
        raise NotImplementedError


def _read_stripe_with_pyorc(f, stripe: int, columns: list[str], schema: pa.Schema) -> pa.RecordBatch:
    reader = pyorc.Reader(
        f,
        column_names=tuple(columns),
        struct_repr=pyorc.StructRepr.DICT,
        converters={pyorc.TypeKind.TIMESTAMP: _MicrosSinceEpoch},
    )
    rows = list(reader.read_stripe(stripe))
    arrays, fields = [], []
    for name in columns:
        typ = schema.field(name).type
        typ = TIMESTAMP if pa.types.is_timestamp(typ) else typ
        values = [row[name] for row in rows]
        arrays.append(pa.array(values, type=pa.int64()).cast(TIMESTAMP) if typ == TIMESTAMP else pa.array(values, typ))
        fields.append(pa.field(name, typ))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


# ---------------------------------------------------------------------------------------------- writing


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def write_table(
    archive_dir: str,
    table: str,
    rows: Iterable[dict],
    file_uuid: str,
    *,
    stripe_size: int = 64 * 1024 * 1024,
    model_version: str = "",
    export_version: str = "",
    allow_empty: bool = False,
) -> str | None:
    """Write rows (dicts with the table's columns) as ``graph/orc/<table>/<table>-<uuid>.orc``.

    Returns the path, or None when there are no rows and ``allow_empty`` is false.
    Timestamps are given as timezone-aware datetimes.
    """
    rows = list(rows)
    if not rows and not allow_empty:
        return None
    directory = posixpath.join(archive_dir, "graph", "orc", table)
    os.makedirs(directory, exist_ok=True)
    path = posixpath.join(directory, f"{table}-{file_uuid}.orc")
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        writer = pyorc.Writer(
            out,
            TABLE_SCHEMAS[table],
            compression=pyorc.CompressionKind.ZSTD,
            stripe_size=stripe_size,
            bloom_filter_columns=list(BLOOM_FILTER_COLUMNS.get(table, ())),
            struct_repr=pyorc.StructRepr.DICT,
            timezone=zoneinfo.ZoneInfo("UTC"),
        )
        writer.set_user_metadata(
            swh_object_type=table.encode(),
            swh_uuid=file_uuid.encode(),
            swh_model_version=model_version.encode(),
            swh_export_version=export_version.encode(),
        )
        writer.writerows(rows)
        writer.close()
    os.replace(tmp, path)  # readers never see a half-written file
    return path
