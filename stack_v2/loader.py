"""The trainer's side of a dataset: stream manifest rows, fetch each blob, decode it, yield the shard rows.

A dataset built by ``stack-v2 build`` ships the SWHID manifest (``manifest/part-*.parquet``: the file-level
columns and ``swhid``, no ``content``), and the contents stay in the content store, one gzip object per
blob at ``<content_uri>/<blob_id>`` (``s3://softwareheritage/content`` for SWH's bucket, ``<archive>/content``
for a local archive). ``load_files`` puts the two back together, as The Stack v2's own instructions do:

- ``iter_manifest`` streams the manifest's rows from local or S3 Parquet, file by file (sorted) and
  batch by batch, so memory is bounded by one batch, not by the manifest. S3 goes through pyarrow's
  S3FileSystem with the same conventions as the archive (``AWS_ENDPOINT_URL``, the credentials chain,
  ``unsigned`` for a public bucket).
- Each row's blob is fetched by ``stack_v2.archive.content.fetch_many``, the build's own fetcher: sha1
  (and sha1_git, from ``content_id``) verified, throttling and 5xx retried with ``RetryPolicy``,
  ``concurrency`` requests in flight, rows kept in manifest order.
- The bytes are decoded with the row's ``src_encoding`` (what the build decoded them with), and the
  ``redact`` hook re-applies the build's redaction (by default ``build_redaction``: the PII stage's
  ``redact`` on the rows whose ``pii_redactions`` column records that the build redacted them), so each
  yielded row equals the data shard's row: the manifest's columns plus ``content``.

``ShardStream`` (``stack_v2.shard_stream``) streams the data shards themselves (``content`` included), split
across data-parallel ranks and workers, with a resumable position; ``stack_v2.torch_data`` wraps it for
PyTorch.

Nothing here is specific to stack-v2's own store: the objects are plain gzip, so ``boto3``'s
``get_object`` + ``gzip.decompress`` or ``smart_open`` read them as well (docs/loading.md).
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from typing import Literal
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from stack_v2.archive.content import MAX_BLOB_LENGTH, MISSING, ContentStore, fetch_many
from stack_v2.archive.content_store import LocalContentStore, RetryPolicy, S3ContentStore
from stack_v2.archive.location import ArchiveLocation
from stack_v2.errors import ArchiveError, StackV2Error
from stack_v2.io.publish import POINTER_OBJECT, VERSIONS
from stack_v2.shard_stream import ShardStream, ShardStreamError, shard_files  # the split, resumable shard reader

__all__ = [
    "BlobUnavailable",
    "RedactHook",
    "RedactionMismatch",
    "ShardStream",
    "ShardStreamError",
    "build_redaction",
    "iter_manifest",
    "iter_manifest_batches",
    "load_files",
    "manifest_files",
    "open_store",
    "pii_redaction",
    "shard_files",
]

_log = logging.getLogger(__name__)

RedactHook = Callable[[str, dict], str]
"""``redact(text, row) -> text``: called with the decoded content and its manifest row (all columns read,
including ``blob_id`` and, when the manifest has it, ``pii_redactions``); returns the text to yield."""

# Columns load_files reads whatever the caller asks for; the optional ones where the manifest has them
# (src_encoding: without it, the bytes are decoded as the build decides, UTF-8 else cChardet; content_id:
# sha1_git verification; length_bytes: the size check before any request; pii_redactions and path: for the
# redaction, whose rules depend on the file's extension; repo_name and path: for messages).
_REQUIRED = ("blob_id",)
_OPTIONAL = ("src_encoding", "content_id", "length_bytes", "pii_redactions", "repo_name", "path")
_DEFAULT_BATCH_ROWS = 1024


class BlobUnavailable(ArchiveError):
    """A manifest row's blob could not be loaded. ``reason`` is the fetcher's (``missing``, ``sha1_mismatch``,
    ``corrupt_gzip``, ``access_denied``, ``fetch_error``, ``too_large``, ``invalid_blob_id``) or ``undecodable``."""

    def __init__(self, blob_id: str, store: str, reason: str, detail: str, where: str = ""):
        self.blob_id, self.store, self.reason, self.detail, self.where = blob_id, store, reason, detail, where
        what = "not found in" if reason == MISSING else f"{reason} from"
        message = f"blob_id {blob_id} {what} content store {store}{where}: {detail}"
        super().__init__(" ".join(message.split()))  # one line, whatever the detail holds

    def __reduce__(self):
        return type(self), (self.blob_id, self.store, self.reason, self.detail, self.where)


# -- the manifest --------------------------------------------------------------------------------


def _location(uri: str, unsigned: bool, what: str) -> ArchiveLocation:
    # ArchiveLocation validates the scheme and builds (and caches) the S3 file system from the AWS environment.
    try:
        return ArchiveLocation(uri, unsigned=unsigned)
    except ArchiveError as exc:
        raise ArchiveError(str(exc).replace("archive ", f"{what} ", 1)) from exc


def _filesystem(uri: str, unsigned: bool) -> tuple[pafs.FileSystem, str]:
    return _location(uri, unsigned, "manifest").filesystem(uri)


def _is_data_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    # Hidden and underscore files are temporaries and markers (write_parquet_atomic's ".<name>.<uuid>.tmp").
    return name.endswith(".parquet") and not name.startswith((".", "_"))


def manifest_files(manifest_uri: str, *, unsigned: bool = False) -> tuple[pafs.FileSystem, list[str]]:
    """(file system, sorted Parquet paths) of a manifest: one file, a directory of them (searched
    recursively), or a dataset root that holds ``manifest/`` (on object stores, its current version's,
    named by the ``CURRENT`` pointer: ``stack_v2.io.publish``)."""
    fs, path = _filesystem(manifest_uri, unsigned)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return fs, [path]
    if info.type != pafs.FileType.Directory:
        raise ArchiveError(f"manifest {manifest_uri}: no such file or directory")
    if fs.get_file_info(f"{path}/{POINTER_OBJECT}").type == pafs.FileType.File:  # a versioned dataset's root
        with fs.open_input_stream(f"{path}/{POINTER_OBJECT}") as f:
            path = f"{path}/{VERSIONS}/{f.read().decode().strip()}"
    if fs.get_file_info(f"{path}/manifest").type == pafs.FileType.Directory:
        path = f"{path}/manifest"  # the dataset root was given
    found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    files = sorted(f.path for f in found if f.type == pafs.FileType.File and _is_data_file(f.path))
    if not files:
        raise ArchiveError(f"manifest {manifest_uri}: no Parquet files under {path}")
    return fs, files


def iter_manifest_batches(
    manifest_uri: str,
    columns: Sequence[str] | None = None,
    *,
    languages: Iterable[str] | None = None,
    optional_columns: Sequence[str] = (),
    batch_size: int = _DEFAULT_BATCH_ROWS,
    unsigned: bool = False,
) -> Iterator[pa.RecordBatch]:
    """The manifest as Arrow record batches of at most ``batch_size`` rows, file by file in path order.

    ``columns`` selects columns (all by default); a requested column a file lacks is an error naming the
    file, while ``optional_columns`` are added where a file has them. ``languages`` keeps the rows whose
    ``language`` is one of them. The manifest's files are listed when this is called (so a wrong URI fails
    here), and read as the batches are consumed.
    """
    if batch_size < 1:
        raise ValueError(f"iter_manifest: batch_size must be >= 1, got {batch_size}")
    if isinstance(columns, str) or isinstance(languages, str):
        raise TypeError("iter_manifest: columns and languages are lists of names, not a string")
    wanted = None if languages is None else pa.array(sorted(set(languages)), pa.string())
    fs, files = manifest_files(manifest_uri, unsigned=unsigned)
    return _read_batches(fs, files, columns, wanted, optional_columns, batch_size)


def _read_batches(
    fs: pafs.FileSystem,
    files: list[str],
    columns: Sequence[str] | None,
    wanted: pa.Array | None,
    optional_columns: Sequence[str],
    batch_size: int,
) -> Iterator[pa.RecordBatch]:
    for path in files:
        where = f"s3://{path}" if isinstance(fs, pafs.S3FileSystem) else path
        try:
            with fs.open_input_file(path) as f:
                parquet = pq.ParquetFile(f)
                names = parquet.schema_arrow.names
                if columns is None:
                    out = list(names)
                else:
                    lacking = [c for c in columns if c not in names]
                    if lacking:
                        raise ArchiveError(f"manifest {where}: no column(s) {', '.join(lacking)}")
                    out = list(dict.fromkeys([*columns, *(c for c in optional_columns if c in names)]))
                if wanted is not None and "language" not in names:
                    raise ArchiveError(f"manifest {where}: no column language to select languages by")
                read = out if wanted is None or "language" in out else [*out, "language"]
                for batch in parquet.iter_batches(batch_size=batch_size, columns=read, use_threads=True):
                    if wanted is not None:
                        batch = batch.filter(pc.is_in(batch.column("language"), value_set=wanted))
                        if read is not out:
                            batch = batch.select(out)
                    if batch.num_rows:
                        yield batch
        except (OSError, pa.ArrowInvalid) as exc:
            raise ArchiveError(f"manifest {where}: {' '.join(str(exc).split())}") from exc


def iter_manifest(
    manifest_uri: str,
    columns: Sequence[str] | None = None,
    *,
    languages: Iterable[str] | None = None,
    batch_size: int = _DEFAULT_BATCH_ROWS,
    unsigned: bool = False,
) -> Iterator[dict]:
    """Manifest rows as dicts (column name -> Python value), streamed from a local or ``s3://`` Parquet
    manifest (a file, a directory of parts, or a dataset root holding ``manifest/``), in path order.
    Arguments and the file list are checked when this is called."""
    batches = iter_manifest_batches(
        manifest_uri, columns, languages=languages, batch_size=batch_size, unsigned=unsigned
    )
    return (row for batch in batches for row in batch.to_pylist())


# -- the content store ---------------------------------------------------------------------------


def open_store(
    content_uri: str, *, unsigned: bool = False, retry: RetryPolicy | None = None, max_pool_connections: int = 32
) -> ContentStore:
    """The content store whose objects are ``<content_uri>/<blob_id>``: ``s3://bucket/prefix`` (e.g.
    ``s3://softwareheritage/content``) or a local directory (e.g. ``<archive>/content``)."""
    if _location(content_uri, unsigned, "content store").is_s3:
        parsed = urlparse(content_uri)
        return S3ContentStore(
            parsed.netloc, parsed.path, unsigned=unsigned, retry=retry, max_pool_connections=max_pool_connections
        )
    path = urlparse(content_uri).path if content_uri.startswith("file://") else content_uri
    return LocalContentStore(os.path.expanduser(path))


# -- redaction -----------------------------------------------------------------------------------


class RedactionMismatch(StackV2Error):
    """Redacting a blob again did not replace what the manifest records the build replaced."""


def pii_redaction(*, name_detector=None, check: bool = True) -> RedactHook:
    """The build's PII redaction as a ``load_files`` hook.

    A row whose ``pii_redactions`` is non-null (the build replaced PII in it; the value is the JSON count of
    replaced spans per type, ``stack_v2.pii.counts_json``) gets ``stack_v2.pii.redact(text,
    seed_key=blob_id, path=path)``, which is deterministic, so the text equals the shard's. Other rows, and
    manifests without the column, are left as they are. ``name_detector`` is the NER plugin, for datasets
    built with one. With ``check``, the counts must equal the manifest's: a difference means this
    redactor (``stack_v2.pii.REDACTOR_VERSION``, detect-secrets, the name detector) is not the build's, and
    the hook raises ``RedactionMismatch`` rather than yield content that differs from the shard.
    """

    def hook(text: str, row: dict) -> str:
        recorded = row.get("pii_redactions")
        if recorded is None:
            return text
        from stack_v2.pii.redact import REDACTOR_VERSION, counts_json, redact  # only for redacted datasets

        seed_key = row.get("blob_id") or row.get("content_id")  # as stack_v2.stages.pii.seed_key_of
        result, counts = redact(text, seed_key=seed_key, path=row.get("path") or "", name_detector=name_detector)
        if check and counts != json.loads(recorded):
            raise RedactionMismatch(
                f"blob_id {row['blob_id']}{_where(row)}: redaction replaced {counts_json(counts) or '{}'}, the "
                f"manifest records {recorded}; this stack_v2.pii (REDACTOR_VERSION {REDACTOR_VERSION}) or its name "
                f"detector is not the build's, so the content would differ from the shard's"
            )
        return result

    return hook


build_redaction: RedactHook = pii_redaction()
"""``load_files``' default ``redact``: the PII stage's redaction where the manifest says the build applied it."""


# -- loading -------------------------------------------------------------------------------------


def _decode(data: bytes, src_encoding: str | None) -> str:
    if src_encoding is None:  # a manifest that does not record it: decide as the build does
        from stack_v2.decode import decode_content

        decoded = decode_content(data)
        if not isinstance(decoded, tuple):
            raise UnicodeError(f"{decoded.reason}: {decoded.detail}")
        return decoded[0]
    return data.decode(src_encoding)


def _where(row: dict) -> str:
    if row.get("repo_name") is None and row.get("path") is None:
        return ""
    return f" (manifest row {row.get('repo_name')!s}:{row.get('path')!r})"


def load_files(
    manifest_uri: str,
    content_uri: str,
    *,
    redact: RedactHook | None = build_redaction,
    concurrency: int = 16,
    languages: Iterable[str] | None = None,
    columns: Sequence[str] | None = None,
    on_missing: Literal["raise", "skip"] = "raise",
    unsigned: bool = False,
    retry: RetryPolicy | None = None,
    max_length: int | None = MAX_BLOB_LENGTH,
    batch_size: int = _DEFAULT_BATCH_ROWS,
) -> Iterator[dict]:
    """Each manifest row (in manifest order) with ``content``: the blob fetched from the content store,
    verified, decoded with the row's ``src_encoding`` and passed through ``redact``.

    - ``manifest_uri``: a manifest Parquet file, a directory of them, or a dataset root; local or ``s3://``.
    - ``content_uri``: where ``<blob_id>`` objects are, local or ``s3://`` (``s3://softwareheritage/content``).
    - ``redact``: ``redact(text, row) -> text``, applied to every row's decoded text (the row holds every
      column read, including ``blob_id``, ``path`` and, when the manifest has it, ``pii_redactions``), so
      that datasets whose shards were redacted load equal to their shards. The default, ``build_redaction``,
      re-applies the PII stage's redaction to the rows the build redacted (see ``pii_redaction``; pass
      ``pii_redaction(name_detector=...)`` for a dataset built with names redacted); ``None`` yields the
      archive's text as is.
    - ``languages``: keep only rows whose ``language`` is one of these.
    - ``columns``: the manifest columns to yield (all by default), ``content`` is always added.
    - ``on_missing``: a blob absent from the store raises ``BlobUnavailable`` (``"raise"``, one line naming
      the blob_id and the store) or is logged and skipped (``"skip"``). Any other failure (checksum
      mismatch, corrupt object, access denied, errors left after ``retry``'s attempts) always raises.
    - ``concurrency``: blobs fetched at once (at most ``2 * concurrency`` rows held); ``retry``: the S3
      RetryPolicy (full-jitter exponential backoff, 8 attempts by default); ``unsigned``: anonymous S3
      requests (SWH's public bucket); ``max_length``: blobs this large or larger (by ``length_bytes``, then
      by their bytes) fail as ``too_large`` without being read whole (None: no limit).

    Arguments, the content store and the manifest's file list are checked when this is called; rows are
    read, fetched and decoded as the iterator is consumed. Stopping early cancels the pending fetches.
    """
    if on_missing not in ("raise", "skip"):
        raise ValueError(f"load_files: on_missing must be 'raise' or 'skip', got {on_missing!r}")
    if concurrency < 1:
        raise ValueError(f"load_files: concurrency must be >= 1, got {concurrency}")
    if redact is not None and not callable(redact):
        raise TypeError(f"load_files: redact must be callable(text, row) -> text or None, got {redact!r}")
    store = open_store(content_uri, unsigned=unsigned, retry=retry, max_pool_connections=max(concurrency, 10))
    out_columns = None if columns is None else [c for c in dict.fromkeys(columns) if c != "content"]
    read_columns = None if out_columns is None else list(dict.fromkeys([*out_columns, *_REQUIRED]))
    batches = iter_manifest_batches(
        manifest_uri,
        read_columns,
        languages=languages,
        optional_columns=_OPTIONAL,
        batch_size=batch_size,
        unsigned=unsigned,
    )
    rows = (row for batch in batches for row in batch.to_pylist())
    return _load(store, rows, redact, concurrency, on_missing, max_length, out_columns)


def _load(
    store: ContentStore,
    rows: Iterator[dict],
    redact: RedactHook | None,
    concurrency: int,
    on_missing: str,
    max_length: int | None,
    out_columns: list[str] | None,
) -> Iterator[dict]:
    in_flight: deque[dict] = deque()

    def items() -> Iterator[tuple[str, str | None, int | None]]:
        for row in rows:
            in_flight.append(row)
            yield row["blob_id"], row.get("content_id"), row.get("length_bytes")

    with closing(fetch_many(store, items(), concurrency, max_length=max_length)) as results:
        for result in results:
            row = in_flight.popleft()
            if result.reason is not None:
                error = BlobUnavailable(result.blob_id, store.describe(), result.reason, result.detail, _where(row))
                if result.reason == MISSING and on_missing == "skip":
                    _log.warning("skipped: %s", error)
                    continue
                raise error
            try:
                text = _decode(result.data, row.get("src_encoding"))
            except (UnicodeError, LookupError) as exc:
                detail = f"src_encoding {row.get('src_encoding')!r}: {exc}"
                raise BlobUnavailable(result.blob_id, store.describe(), "undecodable", detail, _where(row)) from exc
            if redact is not None:
                text = redact(text, row)
                if not isinstance(text, str):
                    raise TypeError(
                        f"load_files: redact returned {type(text).__name__}, not str, for blob_id {result.blob_id}"
                    )
            if out_columns is not None:
                row = {name: row[name] for name in out_columns}
            yield {**row, "content": text}
