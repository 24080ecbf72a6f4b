"""Records as output rows: data shards (with content), the manifest (with a SWHID), dropped rows."""

from __future__ import annotations

import re

from stack_v2.io.parquet import micros_to_ns
from stack_v2.io.schema import FILE_SCHEMA, REPO_FILE_FIELDS
from stack_v2.records import DroppedRow, FileRecord
from stack_v2.swhids import render_file_swhid, swhid_origin

_DATES = ("visit_date", "revision_date", "committer_date", "gha_event_created_at", "gha_created_at")
_FILE_COLUMNS = FILE_SCHEMA.names
_ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")


def file_row(record: FileRecord) -> dict:
    row = {name: getattr(record, name) for name in _FILE_COLUMNS}
    for name in _DATES:
        row[name] = micros_to_ns(row[name])
    return row


def data_row(record: FileRecord) -> dict:
    return {**file_row(record), "content": record.content}


def path_bytes(path: str) -> bytes:
    """The path as the archive's raw bytes: UTF-8, with decode_path's \\xNN escapes turned back into bytes."""
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), path.encode("utf-8"))


def file_swhid(record: FileRecord) -> str:
    """swh:1:cnt:<content_id>;origin=...;visit=swh:1:snp:...;anchor=swh:1:rev:...;path=/<path> (stack_v2.swhids)."""
    return render_file_swhid(
        record.content_id,
        record.origin,
        record.snapshot_id,
        record.revision_id,
        record.directory_id,
        b"/" + path_bytes(record.path),
    )


def manifest_row(record: FileRecord) -> dict:
    return {**file_row(record), "swhid": file_swhid(record)}


def dropped_dict(row: DroppedRow) -> dict:
    return row._asdict()


def dropped_key(row: dict) -> str:
    return "\0".join(str(row[k]) for k in ("stage", "repo_name", "path", "blob_id", "reason", "detail"))


def file_key(row: dict) -> str:
    return f"{row['blob_id']}\0{row['repo_name']}\0{row['path']}"


def language_dir(language: str) -> str:
    """A directory name for a language (Linguist names may hold '/' or spaces; '/' is replaced)."""
    return language.replace("/", "_")


_REPO_FIELDS = (
    "repo_name",
    "snapshot_id",
    "revision_id",
    "directory_id",
    "branch_name",
    "visit_date",
    "revision_date",
    "committer_date",
    "github_id",
    "star_events_count",
    "fork_events_count",
    "gha_license_id",
    "gha_created_at",
    "gha_language",
)


def repo_row(manifest_rows: list[dict]) -> dict:
    """One repository's manifest rows as a row of the repository-grouped manifest (files sorted by path).

    ``repo_url`` is the origin of the files' SWHIDs; ``gha_updated_at`` and ``gha_pushed_at`` are not in
    the file-level metadata and stay null.
    """
    rows = sorted(manifest_rows, key=lambda r: r["path"])
    first = rows[0]
    return {
        **{name: first.get(name) for name in _REPO_FIELDS},
        "repo_url": swhid_origin(first.get("swhid")),
        "gha_updated_at": None,
        "gha_pushed_at": None,
        "num_files": len(rows),
        "files": [{name: r.get(name) for name in REPO_FILE_FIELDS} for r in rows],
    }
