"""Import local git repositories into a local archive laid out as SWH publishes its data.

Every object reachable from the repository's branches is converted to SWH rows, with the ids SWH gives
them (stack_v2.archive.git_objects). Rows go to ``graph/orc/<table>/<table>-<uuid>.orc`` (one uuid per
import run, shared by a table and its sub-tables) and blobs to ``content/<sha1>`` as gzip.

Imports are additive and idempotent: objects already in the archive are skipped, and an origin whose
latest full visit already has the same snapshot gets no new visit.

An import is all or nothing as far as readers can tell: blobs and tables are first written to a staging
folder inside the archive (``.import-git-*``, which readers never look at) and moved in only once every
repository has been converted, so a repository that fails leaves the archive as it was. Files are moved in
children first (contents, then directories, revisions, releases, snapshots, visits), so an object present
in the archive implies everything it references is present too, even if the move itself is interrupted.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable

from stack_v2.archive import orc
from stack_v2.archive.git_objects import GitImporter
from stack_v2.archive.import_state import ExistingIds, ImportSummary, Rows
from stack_v2.errors import ArchiveError, GitImportError

DEFAULT_ORIGIN_PREFIX = "https://github.com/local/"
# SWH does not archive blobs over 100 MiB: they become skipped_content rows (docs/the-stack-v2.md §12.5).
DEFAULT_MAX_CONTENT_LENGTH = 100 * 1024 * 1024


def origin_url_for(repo_path: str, prefix: str = DEFAULT_ORIGIN_PREFIX) -> str:
    """Origin URL of a local repository: prefix + folder name (a bare ``name.git`` gives ``name``)."""
    name = os.path.basename(os.path.normpath(os.path.abspath(repo_path)))
    if name.endswith(".git") and len(name) > 4:
        name = name[: -len(".git")]
    return prefix + name


def import_git(
    repo_paths: Iterable[str],
    archive_dir: str,
    *,
    origin_prefix: str = DEFAULT_ORIGIN_PREFIX,
    visit_date: dt.datetime | None = None,
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH,
    stripe_size: int = 64 * 1024 * 1024,
    progress: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Import repositories into ``archive_dir`` (created if needed); returns what was added."""
    if archive_dir.startswith("s3://"):
        raise ArchiveError(f"archive {archive_dir!r}: import-git writes a local archive; upload it to S3 afterwards")
    repo_paths = list(repo_paths)
    origins = [origin_url_for(p, origin_prefix) for p in repo_paths]
    seen: dict[str, str] = {}
    for path, origin in zip(repo_paths, origins):
        if origin in seen:
            raise GitImportError(f"git repositories {seen[origin]} and {path} would both be origin {origin}")
        seen[origin] = path
    visit_date = visit_date or dt.datetime.now(dt.UTC)
    if visit_date.tzinfo is None:
        raise ValueError("visit_date must be timezone-aware")
    created = _missing_dirs(archive_dir)
    try:
        os.makedirs(archive_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".import-git-", dir=archive_dir)
    except OSError as exc:
        raise ArchiveError(f"archive {archive_dir}: cannot write there ({exc.strerror or exc})") from exc
    try:
        try:
            existing = ExistingIds(archive_dir)
            rows = Rows()
            summary = ImportSummary()
            for path, origin in zip(repo_paths, origins):
                if progress:
                    progress(f"importing {path} as {origin}")
                GitImporter(path, archive_dir, staging, existing, rows, summary, max_content_length).run(
                    origin, visit_date
                )
            _write_all(archive_dir, staging, rows, summary, stripe_size)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            for directory in reversed(created):  # folders this run made, innermost first
                try:
                    os.rmdir(directory)
                except OSError:
                    break
            raise
        _move_in(staging, archive_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


# Children before parents: a present parent id then implies its children are present.
_TABLE_ORDER = [
    "content",
    "skipped_content",
    "directory_entry",
    "directory",
    "revision_history",
    "revision_extra_headers",
    "revision",
    "release",
    "snapshot_branch",
    "snapshot",
    "origin",
    "origin_visit",
    "origin_visit_status",
]


def _missing_dirs(path: str) -> list[str]:
    """The folders, outermost first, that creating ``path`` would make."""
    missing: list[str] = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing.insert(0, path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _write_all(archive_dir: str, staging: str, rows: Rows, summary: ImportSummary, stripe_size: int) -> None:
    """Write the tables' ORC files into ``staging`` (laid out as the archive)."""
    file_uuid = orc.new_uuid()
    versions = {"model_version": _version("swh.model"), "export_version": "stack-v2 import-git"}
    for table in _TABLE_ORDER:
        table_rows = rows.tables.get(table, [])
        # Every table of the export exists from the first import on, even with no rows (as in SWH's).
        first = not os.path.isdir(os.path.join(archive_dir, "graph", "orc", table))
        if table_rows or first:
            orc.write_table(
                staging, table, table_rows, file_uuid, stripe_size=stripe_size, allow_empty=True, **versions
            )
            summary.add(table, len(table_rows))


def _move_in(staging: str, archive_dir: str) -> None:
    """Move the staged blobs, then the staged tables children first, into the archive."""
    content = os.path.join(archive_dir, "content")
    os.makedirs(content, exist_ok=True)
    staged_content = os.path.join(staging, "content")
    if os.path.isdir(staged_content):
        for name in sorted(os.listdir(staged_content)):
            os.replace(os.path.join(staged_content, name), os.path.join(content, name))
    for table in _TABLE_ORDER:
        staged_table = os.path.join(staging, "graph", "orc", table)
        if not os.path.isdir(staged_table):
            continue
        target = os.path.join(archive_dir, "graph", "orc", table)
        os.makedirs(target, exist_ok=True)
        for name in sorted(os.listdir(staged_table)):
            os.replace(os.path.join(staged_table, name), os.path.join(target, name))


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:  # pragma: no cover
        return ""
