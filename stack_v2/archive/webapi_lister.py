"""One Web API listing (``Lister``): from an origin or SWHID to a root directory, then the directory walk.

Every call's failure becomes an ``ApiFailure`` carrying a TraversalProblem reason. The selection rules, the
handling of names and contents, and the problems are described in stack_v2.archive.webapi, the entry point.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from swh.core.utils import decode_with_escape, encode_with_unescape
from swh.web.client.client import WebAPIClient

from stack_v2.archive.selection import Branch, default_branch
from stack_v2.archive.swhid import SelectedSWHID
from stack_v2.records import FileOccurrence, TraversalProblem, decode_path, micros_from_datetime, repo_name_from_origin

_BRANCH_REASONS = {
    "no_default_branch": "no HEAD, refs/heads/main or refs/heads/master branch",
    "alias_cycle": "the default branch is an alias cycle",
    "dangling_alias": "the default branch is an alias to a missing branch",
}
_VISITS_PER_PAGE = 20  # visits are listed newest first; a full one is almost always on the first page


class ApiFailure(Exception):
    """Why a listing (or one subtree of it) stopped: a TraversalProblem reason and a one-line detail."""

    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


@dataclass(slots=True)
class _Provenance:
    """What the records of one listing share, filled in as the walk from origin to root directory goes."""

    origin: str | None = None
    snapshot_id: str | None = None
    branch_name: str | None = None
    revision_id: str | None = None
    revision_date: int | None = None
    committer_date: int | None = None
    visit_date: int | None = None


class Lister:
    """One listing: the client calls, the directory cache, and the files and problems found."""

    def __init__(self, client: WebAPIClient, subject: str, max_depth: int):
        self.client = client
        self.subject = subject
        self.max_depth = max_depth
        self.files: list[FileOccurrence] = []
        self.problems: list[TraversalProblem] = []
        self._directories: dict[str, list[dict]] = {}  # the same subdirectory may occur more than once

    def problem(self, reason: str, detail: str) -> TraversalProblem:
        return TraversalProblem(subject=self.subject, reason=reason, detail=detail)

    # -- from the input to a root directory ------------------------------------------------------

    def list_origin(self, origin: str) -> None:
        visit = self._latest_full_visit(origin)
        prov = _Provenance(origin=origin, snapshot_id=visit["snapshot"], visit_date=_micros(visit.get("date")))
        self._list_snapshot(prov)

    def list_swhid(self, selected: SelectedSWHID) -> None:
        prov = _Provenance(origin=selected.origin, snapshot_id=selected.visit)
        if selected.object_type == "snp":
            prov.snapshot_id = selected.object_id
            self._list_snapshot(prov)
        elif selected.object_type == "rev":
            self._list_revision(prov, selected.object_id)
        else:
            self._walk(prov, selected.object_id)

    def _latest_full_visit(self, origin: str) -> dict:
        path = quote(origin, safe=":/")  # the URL goes in the request path: escape '?', '#', '%', spaces
        latest = self._call(f"latest visit of origin {origin}", dict, self.client.last_visit, path, typify=False)
        if _is_full(latest):
            return latest

        def newest_full():
            for visit in self.client.visits(path, per_page=_VISITS_PER_PAGE, typify=False):
                if _is_full(visit):
                    return visit
            return None

        visit = self._call(f"visits of origin {origin}", (dict, type(None)), newest_full)
        if visit is None:
            raise ApiFailure("no_full_visit", f"origin {origin} has no full visit with a snapshot")
        return visit

    def _list_snapshot(self, prov: _Provenance) -> None:
        resolved = default_branch(_LazyBranches(self, prov.snapshot_id))
        if isinstance(resolved, str):
            raise ApiFailure(resolved, f"snapshot {prov.snapshot_id}: {_BRANCH_REASONS.get(resolved, resolved)}")
        prov.branch_name = decode_path(resolved.name)
        self._list_target(prov, resolved.target_type, resolved.target)

    def branch(self, snapshot: str, name: bytes) -> Branch | None:
        """One branch of a snapshot (None if absent or dangling), in one request whatever the snapshot's size."""
        api_name = decode_with_escape(name)  # how swh-web spells branch names

        def first_page():
            pages = self.client.snapshot(
                f"swh:1:snp:{snapshot}", typify=False, params={"branches_from": api_name, "branches_count": 1}
            )
            try:
                return next(pages, {})
            finally:
                pages.close()

        # branches_from is ">=": the page holds the branch itself, or the next one by name if it is absent.
        page = self._call(f"snapshot swh:1:snp:{snapshot}", dict, first_page)
        branch = page.get(api_name)
        if not (isinstance(branch, dict) and isinstance(branch.get("target"), str)):
            return None
        if branch.get("target_type") == "alias":  # the API gives the target branch's name, the ORC its hex
            return Branch(_unescape(branch["target"]).hex(), "alias")
        return Branch(branch["target"], str(branch.get("target_type")))

    def _list_target(self, prov: _Provenance, target_type: str | None, target: str) -> None:
        releases: set[str] = set()
        while target_type == "release":  # a tag of a tag is followed too
            if target in releases:
                raise ApiFailure("unsupported_target", f"release loop at release {target}")
            releases.add(target)
            swhid = f"swh:1:rel:{target}"
            release = self._call(f"release {swhid}", dict, self.client.release, swhid, typify=False)
            target_type, target = release.get("target_type"), release.get("target")
        if target_type == "revision":
            self._list_revision(prov, target)
        elif target_type == "directory":
            self._walk(prov, target)
        else:
            raise ApiFailure("unsupported_target", f"default branch points to a {target_type} {target}")

    def _list_revision(self, prov: _Provenance, revision_id: str) -> None:
        swhid = f"swh:1:rev:{revision_id}"
        revision = self._call(f"revision {swhid}", dict, self.client.revision, swhid, typify=False)
        if not isinstance(revision.get("directory"), str):
            raise ApiFailure("api_error", f"revision {swhid}: the API gave no root directory")
        prov.revision_id = revision_id
        prov.revision_date = _micros(revision.get("date"))
        prov.committer_date = _micros(revision.get("committer_date"))
        self._walk(prov, revision["directory"])

    # -- the directory walk ------------------------------------------------------------------------

    def _walk(self, prov: _Provenance, root: str) -> None:
        shared = {
            "origin": prov.origin,
            "repo_name": repo_name_from_origin(prov.origin),
            "snapshot_id": prov.snapshot_id,
            "branch_name": prov.branch_name,
            "revision_id": prov.revision_id,
            "revision_date": prov.revision_date,
            "committer_date": prov.committer_date,
            "visit_date": prov.visit_date,
            "directory_id": root,
        }
        stack = [(root, "", 1)]  # (directory id, path prefix, level: the root is level 1)
        while stack:
            directory, prefix, level = stack.pop()
            try:
                entries = self._directory(directory)
            except ApiFailure as failure:
                if failure.reason != "not_found" or level == 1:
                    raise
                detail = f"directory {directory} at /{prefix} is not in the archive; its files are not listed"
                self.problems.append(self.problem("not_found", detail))
                continue
            for entry in entries:
                path = prefix + _entry_name(entry)
                kind = entry.get("type")
                if kind == "file":
                    self.files.append(_occurrence(shared, path, entry))
                elif kind == "dir" and level >= self.max_depth:
                    detail = f"directory {entry['target']} at /{path}/ is deeper than {self.max_depth} levels"
                    self.problems.append(self.problem("depth_limit", detail))
                elif kind == "dir":
                    stack.append((entry["target"], path + "/", level + 1))
                elif kind != "rev":  # rev: a submodule, another repository's commit
                    detail = f"entry {path} of swh:1:dir:{directory} has unknown type {kind!r}; skipped"
                    self.problems.append(self.problem("api_error", detail))

    def _directory(self, directory: str) -> list[dict]:
        if directory not in self._directories:
            swhid = f"swh:1:dir:{directory}"
            entries = self._call(f"directory {swhid}", list, self.client.directory, swhid, typify=False)
            for entry in entries:
                if not (
                    isinstance(entry, dict)
                    and isinstance(entry.get("name"), str)
                    and isinstance(entry.get("target"), str)
                    and isinstance(entry.get("perms"), int)
                ):
                    raise ApiFailure("api_error", f"directory {swhid}: malformed entry {_one_line(entry, 120)}")
            self._directories[directory] = entries
        return self._directories[directory]

    # -- one API call --------------------------------------------------------------------------------

    def _call(self, what: str, expect: type | tuple[type, ...], call: Callable[..., Any], *args, **kwargs) -> Any:
        """``call(*args, **kwargs)``'s JSON, checked to be an ``expect``; else ApiFailure (not_found or api_error)."""
        try:
            value = call(*args, **kwargs)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 404:
                raise ApiFailure("not_found", f"{what}: not found ({_server_reason(exc.response)})") from exc
            raise ApiFailure("api_error", f"{what}: HTTP {status} ({_server_reason(exc.response)})") from exc
        except requests.RequestException as exc:
            raise ApiFailure("api_error", f"{what}: {type(exc).__name__}: {_one_line(exc)}") from exc
        except (KeyError, TypeError, ValueError) as exc:  # a body of the wrong shape
            detail = f"{what}: unexpected response ({type(exc).__name__}: {_one_line(exc)})"
            raise ApiFailure("api_error", detail) from exc
        if isinstance(value, dict) and "exception" in value:  # an error body, e.g. the last 429 when retries ran out
            raise ApiFailure("api_error", f"{what}: {value.get('exception')}: {_one_line(value.get('reason'))}")
        if not isinstance(value, expect):
            raise ApiFailure("api_error", f"{what}: unexpected response of type {type(value).__name__}")
        return value


class _LazyBranches(Mapping):
    """A snapshot's branches as selection.default_branch reads them (bytes names; alias targets as the hex
    of the target's name, as in the ORC export), fetched one by one: a snapshot may hold many thousands of
    branches (pull requests, tags) and the rules look at a few. Iterating gives the branches fetched so far.
    """

    def __init__(self, lister: Lister, snapshot: str):
        self._lister, self._snapshot = lister, snapshot
        self._fetched: dict[bytes, Branch | None] = {}

    def __getitem__(self, name: bytes) -> Branch:
        if name not in self._fetched:
            self._fetched[name] = self._lister.branch(self._snapshot, name)
        branch = self._fetched[name]
        if branch is None:
            raise KeyError(name)
        return branch

    def __iter__(self) -> Iterator[bytes]:
        return (name for name, branch in self._fetched.items() if branch is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _is_full(visit: Any) -> bool:
    return isinstance(visit, dict) and visit.get("status") == "full" and isinstance(visit.get("snapshot"), str)


def _entry_name(entry: dict) -> str:
    """An entry's name as ``decode_path`` gives it from the raw bytes (see the module docstring)."""
    name = entry["name"]
    if "name" in (entry.get("decoding_failures") or ()):
        return decode_path(_unescape(name))
    return name


def _unescape(text: str) -> bytes:
    """The bytes behind a name escaped by swh-web's decode_with_escape (its inverse, from swh.core)."""
    try:
        return encode_with_unescape(text)
    except ValueError:  # not an escaped name after all: take it as it is
        return text.encode("utf-8", errors="surrogateescape")


def _occurrence(shared: dict, path: str, entry: dict) -> FileOccurrence:
    checksums = entry.get("checksums") or {}
    return FileOccurrence(
        **shared,
        path=path,
        blob_id=checksums.get("sha1"),
        content_id=entry["target"],
        length=entry.get("length") if checksums else None,
        perms=int(entry["perms"]),
        content_status=(entry.get("status") or "visible") if checksums else "missing",
    )


def _micros(text: Any) -> int | None:
    """An API date (ISO 8601 with offset) as µs since the epoch UTC; None if absent or unparsable."""
    if not isinstance(text, str):
        return None
    try:
        return micros_from_datetime(dt.datetime.fromisoformat(text))
    except ValueError:
        return None


def _server_reason(response: requests.Response | None) -> str:
    if response is None:
        return "no response"
    try:
        body = response.json()
    except ValueError:
        body = None
    reason = body.get("reason") if isinstance(body, dict) else None
    return _one_line(reason or response.reason or "no reason given")


def _one_line(value: Any, limit: int = 300) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
