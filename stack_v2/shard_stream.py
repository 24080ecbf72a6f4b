"""Stream a dataset's Parquet shards to a training job: split across data-parallel replicas, resumable.

``ShardStream(uri, columns, rank=, world_size=, worker=, num_workers=)`` yields the rows (dicts, or Arrow
record batches with ``iter_batches``) that one replica reads, batch by batch: memory is one row group's
column chunks and one batch, whatever the dataset's size. ``uri`` is a Parquet file, a directory of them
(searched recursively), or a dataset root (its current version's ``data/``, or ``table=``'s), local,
``s3://`` or ``gs://``; an export's ``data/`` (column ``text``) reads the same way.

The split (docs/loading.md). Units are the (file, row group) pairs of the sorted files, in order. There
are R = ``world_size * num_workers`` replicas; replica ``rank * num_workers + worker`` takes:

- with at least R units, every R-th unit starting at its own index (round-robin), read whole;
- with fewer units than replicas, every R-th row starting at its own index, counting rows over all units
  in order (row striding), so that no replica is left without rows when a dataset has one shard.

Either way every row goes to exactly one replica, and the assignment depends only on the files' names and
row-group sizes, so every replica computes it alone. Replicas get unequal row counts in general
(``len(stream)`` says how many): a trainer that needs equal steps per rank stops at the smallest.

Resuming: the position is the number of rows this replica has yielded (``state_dict()``, plain JSON). After
``load_state_dict``, iteration skips exactly those rows, seeking to their row group without reading the
ones before it. The state records the split and a fingerprint of the files (relative names, row-group
sizes), and loading a state into a stream over other files or another split is an error, not a silent
re-read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from stack_v2 import storage
from stack_v2.errors import StackV2Error
from stack_v2.io.publish import POINTER_OBJECT, VERSIONS

STATE_FORMAT = "stack-v2-shard-stream"
STATE_VERSION = 1
DEFAULT_BATCH_ROWS = 1024
_FOOTER_THREADS = 16  # footers read at once: one request each on object stores


class ShardStreamError(StackV2Error):
    """Shards that cannot be listed or read, a bad split, or a state that does not fit the stream."""


@dataclass(frozen=True)
class Unit:
    """One row group of one file: the split's unit of work."""

    path: str  # in the stream's file system
    name: str  # relative to the listed root, ``/``-separated: what the fingerprint hashes
    row_group: int
    rows: int


def _pointer(fs: pafs.FileSystem, path: str) -> str:
    """A dataset root's current version: ``current`` (a local symlink) or the ``CURRENT`` object."""
    pointer = f"{path}/{POINTER_OBJECT}"
    if fs.get_file_info(pointer).type == pafs.FileType.File:
        with fs.open_input_stream(pointer) as f:
            return f"{path}/{VERSIONS}/{f.read().decode().strip()}"
    if isinstance(fs, pafs.LocalFileSystem):
        from stack_v2.io.publish import resolve

        return resolve(path)
    return path


def shard_files(uri: str, *, table: str = "data", unsigned: bool = False) -> tuple[pafs.FileSystem, str, list[str]]:
    """(file system, listed root, sorted Parquet paths) for ``uri``: a file; a dataset root, read in its
    current version's ``table``; or a directory, searched recursively."""
    try:
        fs, path = storage.filesystem(uri, unsigned)
    except StackV2Error as exc:
        raise ShardStreamError(f"shards {uri}: {exc}") from exc
    info = fs.get_file_info(path)
    parent, _, name = path.rpartition("/")
    if info.type == pafs.FileType.NotFound and parent and fs.get_file_info(f"{parent}/{POINTER_OBJECT}").is_file:
        path = f"{_pointer(fs, parent)}/{name}"  # DATASET/data on an object store: its current version's
        info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return fs, path.rsplit("/", 1)[0], [path]
    if info.type != pafs.FileType.Directory:
        raise ShardStreamError(f"shards {uri}: no such file or directory")
    version = _pointer(fs, path)
    if fs.get_file_info(f"{version}/{table}").type == pafs.FileType.Directory:
        path = f"{version}/{table}"  # a dataset root was given
    found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    files = sorted(
        f.path
        for f in found
        if f.type == pafs.FileType.File and f.base_name.endswith(".parquet") and not f.base_name.startswith((".", "_"))
    )
    if not files:
        raise ShardStreamError(f"shards {uri}: no Parquet files under {path}")
    return fs, path, files


def _where(fs: pafs.FileSystem, path: str) -> str:
    """A path as the user would write it (object stores with their scheme)."""
    if isinstance(fs, pafs.S3FileSystem):
        return f"s3://{path}"
    return f"gs://{path}" if fs.type_name == "gcs" else path


def plan_units(fs: pafs.FileSystem, root: str, files: Sequence[str]) -> list[Unit]:
    """Every (file, row group) of ``files`` in order, from the files' footers (read a few at a time)."""

    def footer(path: str) -> list[Unit]:
        try:
            with fs.open_input_file(path) as f:
                meta = pq.read_metadata(f)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ShardStreamError(f"shard {_where(fs, path)}: {' '.join(str(exc).split())}") from exc
        name = path[len(root) :].lstrip("/")
        return [Unit(path, name, g, meta.row_group(g).num_rows) for g in range(meta.num_row_groups)]

    with ThreadPoolExecutor(max_workers=min(_FOOTER_THREADS, max(1, len(files)))) as pool:
        return [unit for units in pool.map(footer, files) for unit in units]


def fingerprint(units: Sequence[Unit]) -> str:
    digest = hashlib.sha256()
    for unit in units:
        digest.update(f"{unit.name}\0{unit.row_group}\0{unit.rows}\n".encode())
    return digest.hexdigest()[:32]


class ShardStream:
    """The rows of one data-parallel replica (see the module's docstring). Iterating twice starts again
    from the loaded position (0 unless ``load_state_dict`` was called)."""

    def __init__(
        self,
        uri: str,
        columns: Sequence[str] | None = None,
        *,
        table: str = "data",
        rank: int = 0,
        world_size: int = 1,
        worker: int = 0,
        num_workers: int = 1,
        batch_size: int = DEFAULT_BATCH_ROWS,
        unsigned: bool = False,
    ):
        if isinstance(columns, str):
            raise TypeError("ShardStream: columns is a list of names, not a string")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ShardStreamError(f"ShardStream: rank {rank} is not in [0, world_size={world_size})")
        if num_workers < 1 or not 0 <= worker < num_workers:
            raise ShardStreamError(f"ShardStream: worker {worker} is not in [0, num_workers={num_workers})")
        if batch_size < 1:
            raise ShardStreamError(f"ShardStream: batch_size must be >= 1, got {batch_size}")
        self.uri, self.columns, self.batch_size = uri, None if columns is None else list(columns), batch_size
        self.rank, self.world_size, self.worker, self.num_workers = rank, world_size, worker, num_workers
        self._fs, _root, files = shard_files(uri, table=table, unsigned=unsigned)
        self.all_units = plan_units(self._fs, _root, files)
        self.fingerprint = fingerprint(self.all_units)
        self.replicas = world_size * num_workers
        self.replica = rank * num_workers + worker
        self.mode = "units" if len(self.all_units) >= self.replicas else "rows"
        self.units = self.all_units[self.replica :: self.replicas] if self.mode == "units" else list(self.all_units)
        total = sum(u.rows for u in self.all_units)
        mine = sum(u.rows for u in self.units)
        self._len = mine if self.mode == "units" else len(range(self.replica, total, self.replicas))
        self._start = 0  # rows to skip when iteration starts (a loaded position)
        self.rows = 0  # rows yielded: the position

    def __len__(self) -> int:
        """Rows this replica yields in all."""
        return self._len

    # -- position --------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint,
            "rank": self.rank,
            "world_size": self.world_size,
            "worker": self.worker,
            "num_workers": self.num_workers,
            "rows": self.rows,
        }

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
            raise ShardStreamError(f"{self.uri}: not a {STATE_FORMAT} v{STATE_VERSION} state: {state!r:.200}")
        mine = (self.fingerprint, self.rank, self.world_size, self.worker, self.num_workers)
        theirs = tuple(state.get(k) for k in ("fingerprint", "rank", "world_size", "worker", "num_workers"))
        if mine != theirs:
            raise ShardStreamError(
                f"{self.uri}: the saved position is of another split or other files (saved fingerprint, rank, "
                f"world_size, worker, num_workers {theirs}; this stream {mine})"
            )
        rows = state.get("rows")
        if not isinstance(rows, int) or not 0 <= rows <= self._len:
            raise ShardStreamError(f"{self.uri}: saved position {rows!r} is not in [0, {self._len}]")
        self._start = self.rows = rows

    # -- reading ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict]:
        for batch in self._batches():
            for row in batch.to_pylist():
                self.rows += 1  # before the yield: a row the caller holds is counted
                yield row

    def iter_batches(self) -> Iterator[pa.RecordBatch]:
        """This replica's rows as record batches of at most ``batch_size`` rows."""
        for batch in self._batches():
            self.rows += batch.num_rows
            yield batch

    def _batches(self) -> Iterator[pa.RecordBatch]:
        self.rows = self._start
        if self.mode == "units":
            yield from self._unit_batches(self._start)
        else:
            yield from self._strided_batches(self._start)

    def _unit_batches(self, skip: int) -> Iterator[pa.RecordBatch]:
        for unit in self.units:
            if skip >= unit.rows:  # resuming past this row group: not read at all
                skip -= unit.rows
                continue
            for batch in self._read(unit):
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                if skip:
                    batch, skip = batch.slice(skip), 0
                yield batch

    def _strided_batches(self, skip: int) -> Iterator[pa.RecordBatch]:
        first = self.replica + skip * self.replicas  # global index of the next row this replica yields
        offset = 0  # global index of the current unit's first row
        for unit in self.units:
            if first >= offset + unit.rows:
                offset += unit.rows
                continue
            for batch in self._read(unit):
                start = max(first - offset, 0)
                indices = pa.array(range(start, batch.num_rows, self.replicas), pa.int64())
                if len(indices):
                    yield batch.take(indices)
                    first = offset + start + self.replicas * len(indices)
                offset += batch.num_rows

    def _read(self, unit: Unit) -> Iterator[pa.RecordBatch]:
        try:
            with self._fs.open_input_file(unit.path) as f:
                parquet = pq.ParquetFile(f)
                if self.columns is not None:
                    lacking = [c for c in self.columns if c not in parquet.schema_arrow.names]
                    if lacking:
                        where = _where(self._fs, unit.path)
                        raise ShardStreamError(f"shard {where}: no column(s) {', '.join(lacking)}")
                yield from parquet.iter_batches(
                    batch_size=self.batch_size, row_groups=[unit.row_group], columns=self.columns, use_threads=True
                )
        except (OSError, pa.ArrowInvalid) as exc:
            raise ShardStreamError(f"shard {_where(self._fs, unit.path)}: {' '.join(str(exc).split())}") from exc
