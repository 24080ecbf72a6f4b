"""The lookup index of ``stack-v2 serve``: each dataset's current version in an embedded DuckDB database.

At start-up (and whenever a dataset's ``current`` pointer moves, e.g. after ``optout apply``) the manifest
and ``dropped/`` Parquet of the current version are read with pyarrow, in batches and only the columns the
pages show, from a local directory, ``s3://`` or ``gs://`` (stack_v2.storage's file systems). Three tables
per dataset version:

- ``repos``: one row per repository name found in either table: an integer id, the name as written, its
  lower-cased ``owner/repo`` key and owner (``normalized_repo_key``, the opt-out parser's normalisation,
  computed once per repository, not per file) and its counts of included and dropped rows;
- ``files``: per included file, the repository id (int32), path, language, license_type and SWHID (in three
  parts, see ``_load``);
- ``dropped``: per dropped or failed row, the repository id, path, stage, outcome, reason and detail.

The file tables are sorted by repository id (ids are given in key order), so a lookup of one repository or
one owner reads only the row groups holding it: DuckDB's min/max statistics skip the others. Per row the
index holds those strings and a 4-byte id, compressed by DuckDB in a temporary database file that its buffer
manager pages within ``memory_limit``; the SWHID's origin/visit/anchor qualifiers, the same for every file
of a repository, take one dictionary entry per row group. For 1,035,646 files and 114,125 dropped rows the
database takes 72 MiB, and the whole server process about 550 MB RSS at the default 512MB limit
(benchmarks/bench_serve.py).

Rows whose repository name is not a GitHub ``owner/repo`` (another forge, no name) cannot be looked up by
owner and are left out of ``repos``; their files stay out of the lookups.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stack_v2 import storage
from stack_v2.errors import StackV2Error
from stack_v2.io.publish import current_version, version_dir
from stack_v2.optout.match import normalized_repo_key

log = logging.getLogger("stack_v2.serve")

FILE_COLUMNS = ("repo_name", "path", "language", "license_type", "swhid")
DROPPED_COLUMNS = ("repo_name", "path", "stage", "outcome", "reason", "detail")
BATCH_ROWS = 65_536
# Remote pointers cost a request to the store: read at most this often. A local one is a readlink.
REMOTE_RECHECK_SECONDS = 30.0
RETRY_SECONDS = 30  # a version that failed to index is tried again after this


class DatasetIndexError(StackV2Error):
    """A dataset that cannot be read or indexed; the message names it."""


@dataclass(frozen=True)
class Indexed:
    """One dataset version as indexed: its table names and totals."""

    name: str
    version: str
    pointer: str | None  # the ``current`` pointer when indexed (None: a directory that is one dataset itself)
    generation: int
    files: int
    dropped: int
    repositories: int
    seconds: float

    def table(self, kind: str) -> str:
        return f"{kind}_{self.generation}"  # internal names only: no input ever reaches SQL text


class Dataset:
    """A dataset given to ``serve``: where it is, what it is called, its indexed version."""

    def __init__(self, name: str, uri: str):
        self.name, self.uri = name, uri
        self.indexed: Indexed | None = None
        self.checked_at = 0.0
        self.failed: tuple[str | None, int] | None = None  # (pointer, retry slot) of the last failed re-index
        self.lock = threading.Lock()


def dataset_names(uris: list[str]) -> list[str]:
    """Short names for the pages: the last path component, or the last two when two datasets share one."""
    names = [storage.basename(u.rstrip("/")) or u for u in uris]
    for i, name in enumerate(names):
        if names.count(name) > 1:
            names[i] = "/".join(u for u in uris[i].rstrip("/").split("/")[-2:])
    seen = [n for n in names if names.count(n) > 1]
    if seen:
        raise DatasetIndexError(
            f"--dataset: two datasets are both named {seen[0]!r}; give paths that differ in their names"
        )
    return names


def _parquet_files(root: str, table: str) -> tuple[object, list[str]]:
    uri = storage.join(root, table)
    fs, _ = storage.filesystem(uri)
    try:
        files = storage.list_files(uri, ".parquet")
    except OSError as exc:
        raise DatasetIndexError(f"{uri}: cannot list ({exc})") from exc
    return fs, files


def _batches(fs, files: list[str], columns: tuple[str, ...], where: str):
    """pyarrow record batches of ``columns`` from each file; a missing column or unreadable file is an error."""
    for path in files:
        try:
            with fs.open_input_file(path) as f:
                parquet = pq.ParquetFile(f)
                missing = [c for c in columns if c not in parquet.schema_arrow.names]
                if missing:
                    raise DatasetIndexError(
                        f"{where}: {path}: no column {', '.join(missing)} (not a stack-v2 dataset?)"
                    )
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(columns)):
                    yield batch.cast(pa.schema([(c, pa.string()) for c in columns]))
        except (OSError, pa.ArrowException) as exc:
            raise DatasetIndexError(f"{where}: {path}: cannot read ({' '.join(str(exc).split())[:200]})") from exc


class LookupIndex:
    """The DuckDB database of all datasets; ``refresh`` re-indexes a dataset whose pointer moved."""

    def __init__(self, uris: list[str], *, memory_limit: str = "512MB"):
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?\s*(K|M|G|T)i?B", memory_limit, re.I):
            raise DatasetIndexError(f"--memory-limit {memory_limit}: expected a size such as 512MB or 2GB")
        self._tmp = tempfile.mkdtemp(prefix="stack-v2-serve-")
        # A database file rather than :memory:: DuckDB compresses what it writes to it and pages it through a
        # bounded buffer pool, so a large manifest does not have to fit in RAM uncompressed.
        self._db = duckdb.connect(os.path.join(self._tmp, "index.duckdb"))
        self._db.execute(f"SET memory_limit = '{memory_limit}'")
        self._db.execute("SET preserve_insertion_order = false")
        self._generation = 0
        self._gen_lock = threading.Lock()
        self._local = threading.local()
        self._cursor_lock = threading.Lock()
        self._retired: list[Indexed] = []
        self.datasets = [Dataset(n, storage.absolute(u)) for n, u in zip(dataset_names(uris), uris)]

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _new_cursor(self) -> duckdb.DuckDBPyConnection:
        with self._cursor_lock:  # the parent connection is not thread-safe; its cursors are, one thread each
            return self._db.cursor()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of this thread (DuckDB connections are not shared between threads)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._new_cursor()
        return cur

    # --- building ---------------------------------------------------------------------------------

    def build_all(self) -> None:
        """Index every dataset; the first that cannot be read raises (the server does not start)."""
        for ds in self.datasets:
            if not storage.is_dir(storage.check_uri(ds.uri, "--dataset")):
                raise DatasetIndexError(f"--dataset {ds.uri}: no such dataset directory")
            with ds.lock:
                self._index(ds)

    def _next_generation(self) -> int:
        with self._gen_lock:
            self._generation += 1
            return self._generation

    def _index(self, ds: Dataset) -> None:
        started = time.monotonic()
        version = current_version(ds.uri)  # read once: the version named is the version read
        root = version_dir(ds.uri, version) if version is not None else ds.uri
        ds.checked_at = started
        gen = self._next_generation()
        cur = self._new_cursor()
        try:
            try:
                counts = self._load(cur, gen, root, ds.uri)
            except duckdb.Error as exc:
                message = " ".join(str(exc).split())[:300]
                raise DatasetIndexError(f"--dataset {ds.uri}: indexing failed ({message})") from None
        except BaseException:
            for kind in ("names", "repos", "files", "dropped"):
                cur.execute(f"DROP TABLE IF EXISTS {kind}_{gen}")
            raise
        finally:
            cur.close()
        pa.default_memory_pool().release_unused()  # the batches' memory, kept by the allocator otherwise
        previous = ds.indexed
        ds.indexed = Indexed(
            ds.name, version or storage.basename(root), version, gen, *counts, seconds=time.monotonic() - started
        )
        if previous is not None:
            self._retire(previous)
        log.info("indexed %s version %s: %s files, %s dropped", ds.name, ds.indexed.version, counts[0], counts[1])

    def _retire(self, old: Indexed) -> None:
        # A request may still be reading the version just replaced: its tables go one re-index later.
        self._retired.append(old)
        cur = self._new_cursor()
        try:
            while len(self._retired) > 1:
                gone = self._retired.pop(0)
                for kind in ("repos", "files", "dropped"):
                    cur.execute(f"DROP TABLE IF EXISTS {gone.table(kind)}")
        finally:
            cur.close()

    def _load(self, cur, gen: int, root: str, uri: str) -> tuple[int, int, int]:
        where = f"--dataset {uri}"
        sources = {table: _parquet_files(root, table) for table in ("manifest", "dropped")}
        if not sources["manifest"][1]:
            raise DatasetIndexError(f"{where}: no manifest/*.parquet in {root} (not a built dataset?)")
        # Pass 1, the repository names only (one dictionary-encoded column): keyed once per repository, in
        # Python, with the opt-out matcher's own function.
        names: set[str] = set()
        for fs, files in sources.values():
            for batch in _batches(fs, files, ("repo_name",), where):
                names.update(n for n in pc.unique(batch.column(0)).to_pylist() if n is not None)
        keyed = sorted((key, name) for name in names if (key := normalized_repo_key(name)) is not None)
        repo_table = pa.table(
            {
                "repo_id": pa.array(range(len(keyed)), pa.int32()),
                "repo_name": pa.array([n for _, n in keyed], pa.string()),
                "repo_key": pa.array([k for k, _ in keyed], pa.string()),
                "owner_key": pa.array([k.partition("/")[0] for k, _ in keyed], pa.string()),
            }
        )
        cur.register("repo_names", repo_table)
        cur.execute(f"CREATE TABLE names_{gen} AS SELECT * FROM repo_names")
        cur.unregister("repo_names")
        # Pass 2: the rows streamed into one sorting CREATE TABLE each, without a staging copy. The SWHID is
        # kept as three exact parts: the content id, the origin/visit/anchor qualifiers (one per repository:
        # DuckDB's dictionary compression stores them once) and the path qualifier; pages join them again.
        swhid_core = "split_part(f.swhid, ';', 1)"
        swhid_path = "CASE WHEN strpos(f.swhid, ';path=') > 0 THEN f.swhid[strpos(f.swhid, ';path='):] ELSE '' END"
        self._stream(
            cur,
            sources["manifest"],
            FILE_COLUMNS,
            where,
            f"CREATE TABLE files_{gen} AS SELECT n.repo_id, f.path, f.language, f.license_type, "
            f"{swhid_core} AS swhid_core, "
            f"f.swhid[length({swhid_core}) + 1 : length(f.swhid) - length({swhid_path})] AS swhid_context, "
            f"{swhid_path} AS swhid_path "
            f"FROM source f JOIN names_{gen} n USING (repo_name) ORDER BY n.repo_id, f.path",
        )
        self._stream(
            cur,
            sources["dropped"],
            DROPPED_COLUMNS,
            where,
            f"CREATE TABLE dropped_{gen} AS SELECT n.repo_id, f.path, f.stage, f.outcome, f.reason, f.detail "
            f"FROM source f JOIN names_{gen} n USING (repo_name) ORDER BY n.repo_id, f.path NULLS FIRST, f.stage",
        )
        cur.execute(
            f"CREATE TABLE repos_{gen} AS SELECT n.*, coalesce(f.c, 0) AS included, coalesce(d.c, 0) AS dropped "
            f"FROM names_{gen} n "
            f"LEFT JOIN (SELECT repo_id, count(*) AS c FROM files_{gen} GROUP BY repo_id) f USING (repo_id) "
            f"LEFT JOIN (SELECT repo_id, count(*) AS c FROM dropped_{gen} GROUP BY repo_id) d USING (repo_id) "
            f"ORDER BY n.repo_id"
        )
        cur.execute(f"DROP TABLE names_{gen}")
        files = cur.execute(f"SELECT count(*) FROM files_{gen}").fetchone()[0]
        dropped = cur.execute(f"SELECT count(*) FROM dropped_{gen}").fetchone()[0]
        return files, dropped, len(keyed)

    @staticmethod
    def _stream(cur, source, columns: tuple[str, ...], where: str, sql: str) -> None:
        """Run ``sql`` over the Parquet rows as a streamed Arrow source named ``source``. An error of the
        reader surfaces as itself (DuckDB would wrap it in its own)."""
        fs, files = source
        failures: list[BaseException] = []

        def batches():
            try:
                yield from _batches(fs, files, columns, where)
            except BaseException as exc:
                failures.append(exc)
                raise

        schema = pa.schema([(c, pa.string()) for c in columns])
        cur.register("source", pa.RecordBatchReader.from_batches(schema, batches()))
        try:
            cur.execute(sql)
        except duckdb.Error:
            if failures:
                raise failures[0] from None
            raise
        finally:
            cur.unregister("source")

    # --- keeping up with the pointer ---------------------------------------------------------------

    def refresh(self) -> None:
        """Re-index each dataset whose current version changed since it was indexed. Local pointers are read
        on every call (one readlink); remote ones at most every REMOTE_RECHECK_SECONDS. A dataset that fails
        to re-index keeps its previous index (logged) and is tried again after RETRY_SECONDS at most."""
        now = time.monotonic()
        for ds in self.datasets:
            if storage.is_remote(ds.uri) and now - ds.checked_at < REMOTE_RECHECK_SECONDS:
                continue
            try:
                version = current_version(ds.uri)
            except Exception:  # a store that fails for a moment: keep serving what is indexed
                log.exception("serve: reading the current version of %s failed", ds.uri)
                continue
            ds.checked_at = now
            if ds.indexed is not None and version == ds.indexed.pointer:
                continue
            if ds.failed == (version, int(now // RETRY_SECONDS)):
                continue  # this version failed to index moments ago: not again on every request
            with ds.lock:  # one re-index at a time; requests meanwhile wait for it, then see the new version
                if ds.indexed is not None and current_version(ds.uri) == ds.indexed.pointer:
                    continue
                try:
                    self._index(ds)
                except Exception:
                    ds.failed = (version, int(now // RETRY_SECONDS))
                    serving = ds.indexed.version if ds.indexed else None
                    log.exception("serve: re-indexing %s failed; still serving version %s", ds.uri, serving)

    def versions(self) -> list[Indexed]:
        return [ds.indexed for ds in self.datasets if ds.indexed is not None]
