"""One git repository's reachable objects converted to SWH table rows, its blobs staged as gzip.

Every object reachable from the repository's branches (``HEAD``, ``refs/heads/*``, ``refs/tags/*``) is
converted to a swh.model object, whose id swh.model computes. For canonical git objects that id is
git's own object id; where git holds a non-canonical object (odd modes, unusual headers) the id would
differ, and then, as SWH's git loader does, the raw git object is kept as ``raw_manifest`` so the id
still equals git's.

Trees git reads are imported as git holds them: an unsorted tree keeps its git id, swh.model's id for its
entries being the id of the sorted tree, so its raw object is kept as ``raw_manifest`` (as SWH's loader
does). A tree entry whose name holds ``/`` has no swh.model representation: the repository is refused.

It adds to one run's state (stack_v2.archive.import_state); stack_v2.archive.import_git writes it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os

from dulwich.errors import NotGitRepository, ObjectFormatException
from dulwich.objects import Blob, Commit, Tag, Tree, format_timezone
from dulwich.repo import Repo
from swh.model import model
from swh.model.hashutil import hash_to_hex

from stack_v2.archive.graph_schema import PERMS_DIRECTORY, PERMS_SUBMODULE
from stack_v2.archive.import_state import ExistingIds, ImportSummary, Rows
from stack_v2.errors import GitImportError

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


class GitImporter:
    """Converts one git repository's reachable objects to SWH rows."""

    def __init__(
        self,
        path: str,
        archive_dir: str,
        staging: str,
        existing: ExistingIds,
        rows: Rows,
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
