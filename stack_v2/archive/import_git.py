"""Import local git repositories into a local archive laid out as SWH publishes its data.

Every object reachable from the repository's branches (``HEAD``, ``refs/heads/*``, ``refs/tags/*``) is
converted to a swh.model object, whose id swh.model computes. For canonical git objects that id is
git's own object id; where git holds a non-canonical object (odd modes, unusual headers) the id would
differ, and then, as SWH's git loader does, the raw git object is kept as ``raw_manifest`` so the id
still equals git's. Rows go to ``graph/orc/<table>/<table>-<uuid>.orc`` (one uuid per import run,
shared by a table and its sub-tables) and blobs to ``content/<sha1>`` as gzip.

Imports are additive and idempotent: objects already in the archive are skipped, and an origin whose
latest full visit already has the same snapshot gets no new visit.

An import is all or nothing as far as readers can tell: blobs and tables are first written to a staging
folder inside the archive (``.import-git-*``, which readers never look at) and moved in only once every
repository has been converted, so a repository that fails leaves the archive as it was. Files are moved in
children first (contents, then directories, revisions, releases, snapshots, visits), so an object present
in the archive implies everything it references is present too, even if the move itself is interrupted.

Trees git reads are imported as git holds them: an unsorted tree keeps its git id, swh.model's id for its
entries being the id of the sorted tree, so its raw object is kept as ``raw_manifest`` (as SWH's loader
does). A tree entry whose name holds ``/`` has no swh.model representation: the repository is refused.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dulwich.errors import NotGitRepository, ObjectFormatException
from dulwich.objects import Blob, Commit, Tag, Tree, format_timezone
from dulwich.repo import Repo
from swh.model import model
from swh.model.hashutil import hash_to_hex

from stack_v2.archive import orc
from stack_v2.archive.graph_schema import PERMS_DIRECTORY, PERMS_SUBMODULE
from stack_v2.archive.location import ArchiveLocation
from stack_v2.errors import ArchiveError, GitImportError

DEFAULT_ORIGIN_PREFIX = "https://github.com/local/"
# SWH does not archive blobs over 100 MiB: they become skipped_content rows (docs/the-stack-v2.md §12.5).
DEFAULT_MAX_CONTENT_LENGTH = 100 * 1024 * 1024

_RELEASE_TARGET = {
    Commit: model.ReleaseTargetType.REVISION,
    Tree: model.ReleaseTargetType.DIRECTORY,
    Blob: model.ReleaseTargetType.CONTENT,
    Tag: model.ReleaseTargetType.RELEASE,
}
_BRANCH_TARGET = {
    Commit: model.SnapshotTargetType.REVISION,
    Tree: model.SnapshotTargetType.DIRECTORY,
    Blob: model.SnapshotTargetType.CONTENT,
    Tag: model.SnapshotTargetType.RELEASE,
}


@dataclass
class ImportSummary:
    """What an import added (counts of new rows per table, and per origin the visit it made)."""

    new_rows: dict[str, int] = field(default_factory=dict)
    visits: dict[str, int | None] = field(default_factory=dict)  # origin -> new visit number, None if unchanged
    content_bytes: int = 0

    def add(self, table: str, n: int = 1) -> None:
        self.new_rows[table] = self.new_rows.get(table, 0) + n


def origin_url_for(repo_path: str, prefix: str = DEFAULT_ORIGIN_PREFIX) -> str:
    """Origin URL of a local repository: prefix + folder name (a bare ``name.git`` gives ``name``)."""
    name = os.path.basename(os.path.normpath(os.path.abspath(repo_path)))
    if name.endswith(".git") and len(name) > 4:
        name = name[: -len(".git")]
    return prefix + name


class _Existing:
    """Ids already in the archive, so a re-import adds nothing that is there."""

    def __init__(self, archive_dir: str):
        self.contents: set[str] = set()  # sha1_git, from content and skipped_content
        self.directories: set[str] = set()
        self.revisions: set[str] = set()
        self.releases: set[str] = set()
        self.snapshots: set[str] = set()
        self.origins: set[str] = set()
        self.visits: dict[str, list[tuple[int, str, str | None]]] = {}  # origin -> [(visit, status, snapshot)]
        if not os.path.isdir(os.path.join(archive_dir, "graph", "orc")):
            return
        location = ArchiveLocation(archive_dir)
        self._load(location, "content", "sha1_git", self.contents)
        self._load(location, "skipped_content", "sha1_git", self.contents)
        self._load(location, "directory", "id", self.directories)
        self._load(location, "revision", "id", self.revisions)
        self._load(location, "release", "id", self.releases)
        self._load(location, "snapshot", "id", self.snapshots)
        self._load(location, "origin", "url", self.origins)
        for batch in self._batches(location, "origin_visit_status", ["origin", "visit", "status", "snapshot"]):
            for origin, visit, status, snapshot in zip(*(c.to_pylist() for c in batch.columns)):
                self.visits.setdefault(origin, []).append((visit, status, snapshot))

    @staticmethod
    def _batches(location: ArchiveLocation, table: str, columns: list[str]):
        try:
            refs = orc.table_stripes(location, table)
        except ArchiveError:
            return  # table not written yet
        for ref in refs:
            yield orc.read_stripe(location, ref, columns)

    def _load(self, location: ArchiveLocation, table: str, column: str, into: set[str]) -> None:
        for batch in self._batches(location, table, [column]):
            into.update(v for v in batch.column(0).to_pylist() if v is not None)

    def latest_full_snapshot(self, origin: str) -> str | None:
        full = [(visit, snap) for visit, status, snap in self.visits.get(origin, []) if status == "full" and snap]
        return max(full)[1] if full else None

    def next_visit(self, origin: str) -> int:
        return max((v for v, _, _ in self.visits.get(origin, [])), default=0) + 1


class _Rows:
    """Rows gathered for each table during one import run."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict]] = {}

    def add(self, table: str, row: dict) -> None:
        self.tables.setdefault(table, []).append(row)


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
            existing = _Existing(archive_dir)
            rows = _Rows()
            summary = ImportSummary()
            for path, origin in zip(repo_paths, origins):
                if progress:
                    progress(f"importing {path} as {origin}")
                _GitImporter(path, archive_dir, staging, existing, rows, summary, max_content_length).run(
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


def _write_all(archive_dir: str, staging: str, rows: _Rows, summary: ImportSummary, stripe_size: int) -> None:
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


class _GitImporter:
    """Converts one git repository's reachable objects to SWH rows."""

    def __init__(
        self,
        path: str,
        archive_dir: str,
        staging: str,
        existing: _Existing,
        rows: _Rows,
        summary: ImportSummary,
        max_content_length: int,
    ):
        self.path = path
        self.archive_dir = archive_dir
        self.staging = staging
        self.existing = existing
        self.rows = rows
        self.summary = summary
        self.max_content_length = max_content_length
        try:
            self.repo = Repo(path)
        except NotGitRepository as exc:
            raise GitImportError(f"cannot import git repository {path}: not a git repository") from exc
        except OSError as exc:
            raise GitImportError(f"cannot import git repository {path}: {exc}") from exc

    def _object(self, sha: bytes):
        try:
            return self.repo[sha]
        except (KeyError, ValueError, OSError, ObjectFormatException) as exc:
            raise GitImportError(
                f"cannot import git repository {self.path}: object {sha.decode()} is missing or unreadable ({exc!r})"
            ) from exc

    def run(self, origin: str, visit_date: dt.datetime) -> None:
        branches = self._branches()
        for target, target_type in branches.values():
            if target_type != model.SnapshotTargetType.ALIAS:
                self._import_object(target.hex().encode())
        snapshot = model.Snapshot(
            branches={name: model.SnapshotBranch(target=t, target_type=tt) for name, (t, tt) in branches.items()}
        )
        snapshot_id = hash_to_hex(snapshot.id)
        if snapshot_id not in self.existing.snapshots:
            for name, branch in sorted(snapshot.branches.items()):
                self.rows.add(
                    "snapshot_branch",
                    {
                        "snapshot_id": snapshot_id,
                        "name": name,
                        "target": hash_to_hex(branch.target),
                        "target_type": branch.target_type.value,
                    },
                )
            self.rows.add("snapshot", {"id": snapshot_id})
            self.existing.snapshots.add(snapshot_id)
        if origin not in self.existing.origins:
            self.rows.add("origin", {"id": hash_to_hex(model.Origin(url=origin).id), "url": origin})
            self.existing.origins.add(origin)
        if self.existing.latest_full_snapshot(origin) == snapshot_id:
            self.summary.visits[origin] = None  # nothing changed since the last visit
            return
        visit = self.existing.next_visit(origin)
        self.rows.add("origin_visit", {"origin": origin, "visit": visit, "date": visit_date, "type": "git"})
        self.rows.add(
            "origin_visit_status",
            {
                "origin": origin,
                "visit": visit,
                "date": visit_date,
                "status": "full",
                "snapshot": snapshot_id,
                "type": "git",
            },
        )
        self.existing.visits.setdefault(origin, []).append((visit, "full", snapshot_id))
        self.summary.visits[origin] = visit

    def _branches(self) -> dict[bytes, tuple[bytes, model.SnapshotTargetType]]:
        """Branch name -> (target, type): HEAD (an alias unless detached), refs/heads/*, refs/tags/*."""
        refs = self.repo.refs
        branches: dict[bytes, tuple[bytes, model.SnapshotTargetType]] = {}
        for name in sorted(refs.allkeys()):
            if not (name.startswith(b"refs/heads/") or name.startswith(b"refs/tags/")):
                continue
            sha = refs[name]
            branches[name] = (bytes.fromhex(sha.decode()), _BRANCH_TARGET[type(self._object(sha))])
        symrefs = refs.get_symrefs()
        if b"HEAD" in symrefs:
            target = symrefs[b"HEAD"]
            if target in branches:  # an unborn HEAD is a dangling branch: SWH does not record those
                branches[b"HEAD"] = (target, model.SnapshotTargetType.ALIAS)
        elif b"HEAD" in refs:
            sha = refs[b"HEAD"]
            branches[b"HEAD"] = (bytes.fromhex(sha.decode()), _BRANCH_TARGET[type(self._object(sha))])
        return branches

    # -- objects -------------------------------------------------------------------------------------

    def _import_object(self, sha: bytes) -> None:
        obj = self._object(sha)
        if isinstance(obj, Tag):
            self._import_tag(obj)
        elif isinstance(obj, Commit):
            self._import_commits(obj.id)
        elif isinstance(obj, Tree):
            self._import_tree(obj.id)
        elif isinstance(obj, Blob):
            self._import_blob(obj)

    def _import_tag(self, tag: Tag) -> None:
        if tag.id.decode() in self.existing.releases:
            return
        self._import_object(tag.object[1])
        target_cls = tag.object[0]
        release = model.Release(
            name=tag.name,
            message=tag.message + (tag.signature or b"") if tag.message is not None else None,
            target=bytes.fromhex(tag.object[1].decode()),
            target_type=_RELEASE_TARGET[target_cls],
            synthetic=False,
            author=model.Person.from_fullname(tag.tagger) if tag.tagger else None,
            date=_timestamp(tag.tag_time, tag.tag_timezone, tag._tag_timezone_neg_utc) if tag.tagger else None,
        )
        release = self._keep_git_id(release, tag)
        self.rows.add(
            "release",
            {
                "id": hash_to_hex(release.id),
                "name": release.name,
                "message": release.message,
                "target": hash_to_hex(release.target),
                "target_type": release.target_type.value,
                "author": release.author.anonymize().fullname if release.author else None,
                **_date_columns("date", "date_offset", "date_raw_offset_bytes", release.date),
                "raw_manifest": release.raw_manifest,
            },
        )
        self.existing.releases.add(tag.id.decode())

    def _import_commits(self, head: bytes) -> None:
        stack = [head]
        while stack:
            sha = stack.pop()
            if sha.decode() in self.existing.revisions:
                continue
            commit = self._object(sha)
            self._import_tree(commit.tree)
            self._add_revision(commit)
            self.existing.revisions.add(sha.decode())
            stack.extend(commit.parents)

    def _add_revision(self, commit: Commit) -> None:
        extra_headers: list[tuple[bytes, bytes]] = []
        if commit.encoding is not None:
            extra_headers.append((b"encoding", commit.encoding))
        for mergetag in commit.mergetag or ():
            raw = mergetag.as_raw_string()
            extra_headers.append((b"mergetag", raw[:-1] if raw.endswith(b"\n") else raw))
        extra_headers.extend(commit._extra or ())  # unknown headers, in order
        if commit.gpgsig:
            extra_headers.append((b"gpgsig", commit.gpgsig))
        revision = model.Revision(
            message=commit.message,
            author=model.Person.from_fullname(commit.author),
            committer=model.Person.from_fullname(commit.committer),
            date=_timestamp(commit.author_time, commit.author_timezone, commit._author_timezone_neg_utc),
            committer_date=_timestamp(commit.commit_time, commit.commit_timezone, commit._commit_timezone_neg_utc),
            type=model.RevisionType.GIT,
            directory=bytes.fromhex(commit.tree.decode()),
            synthetic=False,
            parents=tuple(bytes.fromhex(p.decode()) for p in commit.parents),
            extra_headers=tuple(extra_headers),
        )
        revision = self._keep_git_id(revision, commit)
        rev_id = hash_to_hex(revision.id)
        for rank, parent in enumerate(revision.parents):
            self.rows.add("revision_history", {"id": rev_id, "parent_id": hash_to_hex(parent), "parent_rank": rank})
        for key, value in revision.extra_headers:
            self.rows.add("revision_extra_headers", {"id": rev_id, "key": key, "value": value})
        self.rows.add(
            "revision",
            {
                "id": rev_id,
                "message": revision.message,
                "author": revision.author.anonymize().fullname if revision.author else None,
                **_date_columns("date", "date_offset", "date_raw_offset_bytes", revision.date),
                "committer": revision.committer.anonymize().fullname if revision.committer else None,
                **_date_columns(
                    "committer_date", "committer_offset", "committer_date_raw_offset_bytes", revision.committer_date
                ),
                "directory": hash_to_hex(revision.directory),
                "type": revision.type.value,
                "raw_manifest": revision.raw_manifest,
            },
        )

    def _import_tree(self, root: bytes) -> None:
        stack = [root]
        while stack:
            sha = stack.pop()
            if sha.decode() in self.existing.directories:
                continue
            tree = self._object(sha)
            entries = []
            for item in tree.iteritems():
                name, mode, child = item.path, item.mode, item.sha
                if b"/" in name:  # git reads it (fsck warns), but no SWH directory entry can hold it
                    raise GitImportError(
                        f"cannot import git repository {self.path}: tree {sha.decode()} has an entry named "
                        f"{name.decode('utf-8', 'backslashreplace')!r}: a name with '/' cannot be a directory entry"
                    )
                if mode == PERMS_SUBMODULE:
                    kind = "rev"  # a submodule: a commit of another repository, not imported
                elif mode & 0o170000 == PERMS_DIRECTORY:
                    kind = "dir"
                    stack.append(child)
                else:
                    kind = "file"
                    self._import_blob(self._object(child))
                entries.append(
                    model.DirectoryEntry(name=name, type=kind, target=bytes.fromhex(child.decode()), perms=mode)
                )
            try:
                directory = model.Directory(entries=tuple(entries))
            except ValueError:  # duplicate names: only a raw manifest can represent it
                _, directory = model.Directory.from_possibly_duplicated_entries(
                    entries=tuple(entries), raw_manifest=_raw_git_object(tree)
                )
            directory = self._keep_git_id(directory, tree)
            dir_id = hash_to_hex(directory.id)
            for entry in directory.entries:
                self.rows.add(
                    "directory_entry",
                    {
                        "directory_id": dir_id,
                        "name": entry.name,
                        "type": entry.type,
                        "target": hash_to_hex(entry.target),
                        "perms": entry.perms,
                    },
                )
            self.rows.add("directory", {"id": dir_id, "raw_manifest": directory.raw_manifest})
            self.existing.directories.add(dir_id)

    def _keep_git_id(self, swh_object, git_object):
        """The swh.model object, carrying git's raw object when swh.model's id differs from git's (as SWH does).

        For a tree whose entries are not in git's order, swh.model's id is that of the sorted tree; the raw
        object makes the id git's again, which swh.model recomputes from ``raw_manifest``."""
        if swh_object.id.hex() == git_object.id.decode():
            return swh_object
        fixed = swh_object.evolve(raw_manifest=_raw_git_object(git_object))  # evolve recomputes the id
        if fixed.id.hex() != git_object.id.decode():
            raise GitImportError(
                f"cannot import git repository {self.path}: git object {git_object.id.decode()} "
                "does not hash to its id (the repository is corrupt)"
            )
        return fixed

    def _import_blob(self, blob: Blob) -> None:
        sha1_git = blob.id.decode()
        if sha1_git in self.existing.contents:
            return
        data = blob.as_raw_string()
        content = model.Content.from_data(data)
        if hash_to_hex(content.sha1_git) != sha1_git:  # cannot happen for a sound repository
            raise GitImportError(f"cannot import git repository {self.path}: blob {sha1_git} is corrupt")
        hashes = {k: hash_to_hex(getattr(content, k)) for k in ("sha1", "sha1_git", "sha256", "blake2s256")}
        if content.length > self.max_content_length:
            self.rows.add(
                "skipped_content",
                {**hashes, "length": content.length, "status": "absent", "reason": "Content too large"},
            )
        else:
            if not os.path.exists(os.path.join(self.archive_dir, "content", hashes["sha1"])):
                staged = os.path.join(self.staging, "content", hashes["sha1"])
                os.makedirs(os.path.dirname(staged), exist_ok=True)
                with open(staged, "wb") as out:
                    out.write(gzip.compress(data, compresslevel=6, mtime=0))
            self.rows.add("content", {**hashes, "length": content.length, "status": "visible", "data": None})
            self.summary.content_bytes += content.length
        self.existing.contents.add(sha1_git)


def _timestamp(seconds: int, offset_seconds: int, negative_utc: bool) -> model.TimestampWithTimezone:
    return model.TimestampWithTimezone(
        timestamp=model.Timestamp(seconds=seconds, microseconds=0),
        offset_bytes=format_timezone(offset_seconds, negative_utc),
    )


def _date_columns(date_col: str, offset_col: str, raw_col: str, value: model.TimestampWithTimezone | None) -> dict:
    if value is None:
        return {date_col: None, offset_col: None, raw_col: None}
    ts = value.timestamp
    utc = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=ts.seconds, microseconds=ts.microseconds)
    return {date_col: utc, offset_col: value.offset_minutes(), raw_col: value.offset_bytes}


def _raw_git_object(obj) -> bytes:
    raw = obj.as_raw_string()
    return obj.type_name + b" " + str(len(raw)).encode() + b"\x00" + raw
