"""List a repository's default-branch files through the SWH Web API, for a remote archive without a graph export.

The selection rules are the graph traversal's (docs/the-stack-v2.md §12.3):

- origin: its latest visit with status ``full`` and a snapshot (``visit/latest/`` first, the cheap call;
  when that visit is not full, ``visits/`` newest first until a full one);
- snapshot: the default branch as ``stack_v2.archive.selection.default_branch`` chooses it, the very
  function the graph traversal uses (HEAD through aliases, with a cycle guard, else ``refs/heads/main``,
  else ``refs/heads/master``), fed with branches fetched one by one (``branches_from=<name>``,
  ``branches_count=1``: a few requests however many branches the snapshot has). ``branch_name`` is the
  branch finally reached (e.g. ``refs/heads/main``);
- a release is followed (through releases of releases) to its revision or directory; a revision gives
  its root directory and dates;
- directories are walked from the root: ``file`` entries become records, ``rev`` entries (submodules)
  are skipped, and a directory deeper than ``max_depth`` levels (the root is level 1) is not listed but
  reported as a ``depth_limit`` problem with its path.

A SWHID input (``swh:1:snp|rev|dir:<hex>``, see stack_v2.archive.swhid) starts at that object; its
``origin=`` and ``visit=`` qualifiers fill in ``origin``/``repo_name`` and ``snapshot_id``. The visit
date is not looked up for a SWHID input (it stays None).

Requests go through swh-web-client's WebAPIClient with the bearer token from ``$SWH_API_TOKEN``: it paces
requests from the X-RateLimit-* headers and retries HTTP 429 with exponential backoff. Each request
spends one unit of the API budget (120/h anonymous, 1,200/h with a token, docs/the-stack-v2.md §12.6): about
three to five for the visit, branches and revision, then one per distinct directory (file checksums and
lengths come with the directory listing, never one request per blob). This is for samples; bulk work
uses the graph export (docs/the-stack-v2.md §12.6).

File names. The API sends names as text: valid UTF-8 names as they are; others escaped by swh-web's
``decode_with_escape`` (invalid bytes as ``\\xNN``, and then backslashes doubled), flagged by
``"name"`` in the entry's ``decoding_failures``. Such names are unescaped back to their exact bytes and
then decoded with ``records.decode_path`` (UTF-8, invalid bytes as ``\\xNN``), so ``path`` is the same
string the graph traversal gives. Branch names are always escaped that way by the API and are unescaped
likewise.

Content status. The directory listing joins the content table only: a file whose content is archived has
``checksums`` (sha1, sha1_git, sha256), ``length`` and ``status`` ("visible", or "absent", which is how
the API reports a hidden content); a file whose content was skipped (too large) or never archived has no
checksums and no length. The record then has ``content_status="missing"``, ``blob_id=None`` and
``length=None``: unlike the graph export, the API does not tell skipped contents apart.

Problems (TraversalProblem; subject = the origin URL, else the SWHID's origin qualifier, else the core
SWHID, as the graph traversal names them). Reasons shared with the graph traversal: ``no_full_visit``,
``no_default_branch`` / ``alias_cycle`` / ``dangling_alias`` (from selection.default_branch),
``unsupported_target`` (the branch or release points to a content or snapshot) and ``depth_limit`` (one
per directory not listed, detail ``directory <id> at /<path>/ is deeper than N levels``). Reasons of the
API: ``not_found`` (HTTP 404 for the origin, visit, snapshot, revision, release or root directory: no
files; for a subdirectory: that subtree only) and ``api_error`` (any other HTTP or network failure, or a
response of the wrong shape, e.g. the last 429 once the client's retries ran out). An ``api_error`` ends
the listing and returns no files, as a listing with holes would look complete downstream.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from swh.core.utils import decode_with_escape, encode_with_unescape
from swh.web.client.client import WebAPIClient

from stack_v2.archive.selection import Branch, default_branch
from stack_v2.archive.swhid import SelectedSWHID, parse_swhid_input
from stack_v2.records import FileOccurrence, TraversalProblem, decode_path, micros_from_datetime, repo_name_from_origin

DEFAULT_API_URL = "https://archive.softwareheritage.org/api/1"
TOKEN_ENV = "SWH_API_TOKEN"
DEFAULT_MAX_DEPTH = 64  # directory levels, as the-stack-v2's traversal (docs/the-stack-v2.md §3.1)
_BRANCH_REASONS = {
    "no_default_branch": "no HEAD, refs/heads/main or refs/heads/master branch",
    "alias_cycle": "the default branch is an alias cycle",
    "dangling_alias": "the default branch is an alias to a missing branch",
}
_VISITS_PER_PAGE = 20  # visits are listed newest first; a full one is almost always on the first page


def make_client(api_url: str = DEFAULT_API_URL, token: str | None = None) -> WebAPIClient:
    """A Web API client; ``token`` defaults to ``$SWH_API_TOKEN`` (unset or empty: anonymous).

    Share one client between listings: the rate-limit pacing is per client.
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    return WebAPIClient(api_url=api_url, bearer_token=token)


def list_files_via_api(
    *,
    origin: str | None = None,
    swhid: str | None = None,
    api_url: str = DEFAULT_API_URL,
    token: str | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    client: WebAPIClient | None = None,
) -> tuple[list[FileOccurrence], list[TraversalProblem]]:
    """The default-branch files of an origin, or the files under a snp/rev/dir SWHID, sorted by path,
    and the problems met (see the module docstring). SWHIDError for an invalid or unsupported SWHID.

    ``api_url`` and ``token`` are used only when no ``client`` is given.
    """
    if (origin is None) == (swhid is None):
        raise ValueError("list_files_via_api: give exactly one of origin= or swhid=")
    if max_depth < 1:
        raise ValueError(f"list_files_via_api: max_depth must be at least 1, got {max_depth}")
    selected = parse_swhid_input(swhid) if swhid is not None else None  # bad input fails before any request
    # As the graph traversal names them: the origin, else the SWHID's origin qualifier, else the core SWHID.
    subject = origin if selected is None else (selected.origin or selected.core)
    lister = _Lister(client if client is not None else make_client(api_url, token), subject, max_depth)
    try:
        if selected is None:
            lister.list_origin(origin)
        else:
            lister.list_swhid(selected)
    except _ApiFailure as failure:
        return [], [*lister.problems, lister.problem(failure.reason, failure.detail)]
    return sorted(lister.files, key=lambda f: f.path), lister.problems


class _ApiFailure(Exception):
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


class _Lister:
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
            raise _ApiFailure("no_full_visit", f"origin {origin} has no full visit with a snapshot")
        return visit

    def _list_snapshot(self, prov: _Provenance) -> None:
        resolved = default_branch(_LazyBranches(self, prov.snapshot_id))
        if isinstance(resolved, str):
            raise _ApiFailure(resolved, f"snapshot {prov.snapshot_id}: {_BRANCH_REASONS.get(resolved, resolved)}")
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
                raise _ApiFailure("unsupported_target", f"release loop at release {target}")
            releases.add(target)
            swhid = f"swh:1:rel:{target}"
            release = self._call(f"release {swhid}", dict, self.client.release, swhid, typify=False)
            target_type, target = release.get("target_type"), release.get("target")
        if target_type == "revision":
            self._list_revision(prov, target)
        elif target_type == "directory":
            self._walk(prov, target)
        else:
            raise _ApiFailure("unsupported_target", f"default branch points to a {target_type} {target}")

    def _list_revision(self, prov: _Provenance, revision_id: str) -> None:
        swhid = f"swh:1:rev:{revision_id}"
        revision = self._call(f"revision {swhid}", dict, self.client.revision, swhid, typify=False)
        if not isinstance(revision.get("directory"), str):
            raise _ApiFailure("api_error", f"revision {swhid}: the API gave no root directory")
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
            except _ApiFailure as failure:
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
                    raise _ApiFailure("api_error", f"directory {swhid}: malformed entry {_one_line(entry, 120)}")
            self._directories[directory] = entries
        return self._directories[directory]

    # -- one API call --------------------------------------------------------------------------------

    def _call(self, what: str, expect: type | tuple[type, ...], call: Callable[..., Any], *args, **kwargs) -> Any:
        """``call(*args, **kwargs)``'s JSON, checked to be an ``expect``; else _ApiFailure (not_found or api_error)."""
        try:
            value = call(*args, **kwargs)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 404:
                raise _ApiFailure("not_found", f"{what}: not found ({_server_reason(exc.response)})") from exc
            raise _ApiFailure("api_error", f"{what}: HTTP {status} ({_server_reason(exc.response)})") from exc
        except requests.RequestException as exc:
            raise _ApiFailure("api_error", f"{what}: {type(exc).__name__}: {_one_line(exc)}") from exc
        except (KeyError, TypeError, ValueError) as exc:  # a body of the wrong shape
            detail = f"{what}: unexpected response ({type(exc).__name__}: {_one_line(exc)})"
            raise _ApiFailure("api_error", detail) from exc
        if isinstance(value, dict) and "exception" in value:  # an error body, e.g. the last 429 when retries ran out
            raise _ApiFailure("api_error", f"{what}: {value.get('exception')}: {_one_line(value.get('reason'))}")
        if not isinstance(value, expect):
            raise _ApiFailure("api_error", f"{what}: unexpected response of type {type(value).__name__}")
        return value


class _LazyBranches(Mapping):
    """A snapshot's branches as selection.default_branch reads them (bytes names; alias targets as the hex
    of the target's name, as in the ORC export), fetched one by one: a snapshot may hold many thousands of
    branches (pull requests, tags) and the rules look at a few. Iterating gives the branches fetched so far.
    """

    def __init__(self, lister: _Lister, snapshot: str):
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
