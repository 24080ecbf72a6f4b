"""The directory listings as bucket files: the traversal's one copy of ``directory_entry``, keyed for lookups.

The traversal (stack_v2.archive.traverse) shuffles ``directory_entry`` once, by bucket (a stable hash of the
directory id, modulo the bucket count), and writes each bucket as one Parquet file sorted by directory id, with
min/max statistics on that column per row group. A level then moves only its frontier, keyed by bucket, and
reads from the bucket's file just the row groups whose range holds a wanted directory. Levels need the same
row groups again and again (a small archive is one bucket), so a process keeps the last ones it read, bounded.

The files live in a scratch directory every worker can read (local, ``s3://`` or ``gs://``: stack_v2.storage);
whoever hands it to the traversal deletes it afterwards (a build: stack_v2.finish).
"""

from __future__ import annotations

import threading
import zlib
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable
from itertools import islice

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from stack_v2 import storage
from stack_v2.archive.location import ArchiveLocation

TABLE = "directory_entry"
COLUMNS = ["directory_id", "name", "type", "target", "perms"]
SCHEMA = pa.schema(
    [("directory_id", pa.string()), ("name", pa.binary()), ("type", pa.string()), ("target", pa.string())]
    + [("perms", pa.int32())]
)
# ORC bytes of directory_entry per bucket. One worker sorts a whole bucket in memory (Arrow: about 8 times this),
# and every level's worker holds the side input of bucket paths (about 250 bytes each): 64 MB makes both modest at
# SWH's scale (tens of TB of ORC: a few hundred thousand buckets).
BUCKET_BYTES = 64 << 20
MAX_BUCKETS = 1 << 20
# A lookup reads whole row groups: small ones cost little when a level wants a few directories of a bucket.
ROW_GROUP_ROWS = 4096
# Entries of the row groups a process keeps (about 200 bytes each as Python objects: some 50 MB).
CACHE_ROWS = 1 << 18
_CHUNK_ROWS = 1 << 16
NS = "traverse"

Entry = tuple  # (name: bytes, type: str, target: str, perms: int), as directory_entry holds it


def bucket_of(directory_id: str, buckets: int) -> int:
    """The bucket of a directory: stable across processes and runs (unlike Python's salted ``hash``)."""
    return zlib.crc32(directory_id.encode()) % buckets


def bucket_count(location: ArchiveLocation) -> int:
    """Buckets for this archive: about BUCKET_BYTES of the table's ORC files each (one for a small archive)."""
    fs, root = location.filesystem(location.table_dir(TABLE))
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    size = sum(i.size or 0 for i in infos if i.type == pafs.FileType.File and i.path.endswith(".orc"))
    return max(1, min(MAX_BUCKETS, -(-size // BUCKET_BYTES)))


def bucket_path(directory: str, bucket: int) -> str:
    # not named like a dataset's shards (name-NNNNN-of-MMMMM): stack_v2.finish checks those sets are whole
    return storage.join(directory, f"bucket-{bucket:07d}.parquet")


def write_bucket(path: str, rows: Iterable[tuple]) -> int:
    """Write rows ``(directory_id, name, type, target, perms)`` to ``path`` sorted by (directory_id, name); returns
    their number. Rows become Arrow in chunks, so the bucket is held compactly while it is sorted."""
    rows = iter(rows)
    chunks = []
    while chunk := list(islice(rows, _CHUNK_ROWS)):
        chunks.append(pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(zip(*chunk), SCHEMA)], schema=SCHEMA))
    table = pa.concat_tables(chunks) if chunks else SCHEMA.empty_table()
    table = table.sort_by([("directory_id", "ascending"), ("name", "ascending")])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS, compression="zstd", write_statistics=["directory_id"])
    storage.write_bytes(path, sink.getvalue())  # whole or not at all: a retried bundle rewrites the same bytes
    return table.num_rows


def read_listings(path: str, wanted: Iterable[str]) -> dict[str, tuple[Entry, ...]]:
    """{directory id: its entries, by name} for each ``wanted`` id the bucket file at ``path`` holds."""
    footer = _footer(path)
    groups: dict[int, list[str]] = {}
    for directory in sorted(set(wanted)):
        for group in footer.groups_holding(directory):
            groups.setdefault(group, []).append(directory)
    listings: dict[str, tuple[Entry, ...]] = {}
    for group in sorted(groups):  # ascending, so a directory cut between two groups keeps its name order
        entries = _row_group(path, footer, group)
        for directory in groups[group]:
            if directory in entries:
                listings[directory] = listings.get(directory, ()) + entries[directory]
    return listings


class _Footer:
    """A bucket file's metadata and each row group's (min, max) directory id."""

    def __init__(self, metadata: pq.FileMetaData):
        self.metadata = metadata
        stats = [metadata.row_group(i).column(0).statistics for i in range(metadata.num_row_groups)]
        # write_bucket writes them; a file without them is read whole
        self.ranged = all(s is not None and s.has_min_max for s in stats)
        self.mins = [s.min for s in stats] if self.ranged else []
        self.maxs = [s.max for s in stats] if self.ranged else []

    def groups_holding(self, directory: str) -> list[int]:
        """The row groups whose range holds ``directory``: the last one starting at or before it, and the ones
        before that it spills back into (rows are sorted, so they are contiguous)."""
        if not self.ranged:
            return list(range(self.metadata.num_row_groups))
        group = bisect_right(self.mins, directory) - 1
        held = []
        while group >= 0 and self.maxs[group] >= directory:
            held.append(group)
            group -= 1
        return held


class _LRU:
    """Least recently used first out, bounded by a total weight; safe across a worker's bundle threads."""

    def __init__(self, capacity: int):
        self._capacity, self._weight, self._items = capacity, 0, OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return None if item is None else item[0]

    def put(self, key, value, weight: int = 1) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (value, weight)
            self._weight += weight
            while self._weight > self._capacity and len(self._items) > 1:
                _, (_, old) = self._items.popitem(last=False)
                self._weight -= old


_FOOTERS = _LRU(128)  # a footer holds each row group's range: tens of kB for a full bucket
_ROW_GROUPS = _LRU(CACHE_ROWS)


def _footer(path: str) -> _Footer:
    footer = _FOOTERS.get(path)
    if footer is None:
        fs, inner = storage.filesystem(path)
        with fs.open_input_file(inner) as f:
            footer = _Footer(pq.ParquetFile(f).metadata)
        _FOOTERS.put(path, footer)
    return footer


def _row_group(path: str, footer: _Footer, group: int) -> dict[str, tuple[Entry, ...]]:
    entries = _ROW_GROUPS.get((path, group))
    if entries is None:
        fs, inner = storage.filesystem(path)
        with fs.open_input_file(inner) as f:
            table = pq.ParquetFile(f, metadata=footer.metadata).read_row_group(group)
        Metrics.counter(NS, "bucket_row_groups_read").inc()
        Metrics.counter(NS, "bucket_rows_read").inc(table.num_rows)
        lists: dict[str, list[Entry]] = {}
        for directory, *entry in zip(*(table.column(name).to_pylist() for name in COLUMNS)):
            lists.setdefault(directory, []).append(tuple(entry))
        entries = {directory: tuple(listing) for directory, listing in lists.items()}
        _ROW_GROUPS.put((path, group), entries, table.num_rows)
    return entries
