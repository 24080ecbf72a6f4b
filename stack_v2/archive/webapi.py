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

This module is the entry point; the walk itself (one ``Lister`` per listing) is in stack_v2.archive.webapi_lister.
"""

from __future__ import annotations

import os

from swh.web.client.client import WebAPIClient

from stack_v2.archive.swhid import parse_swhid_input
from stack_v2.archive.webapi_lister import ApiFailure, Lister
from stack_v2.records import FileOccurrence, TraversalProblem

DEFAULT_API_URL = "https://archive.softwareheritage.org/api/1"
TOKEN_ENV = "SWH_API_TOKEN"
DEFAULT_MAX_DEPTH = 64  # directory levels, as the-stack-v2's traversal (docs/the-stack-v2.md §3.1)


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
    lister = Lister(client if client is not None else make_client(api_url, token), subject, max_depth)
    try:
        if selected is None:
            lister.list_origin(origin)
        else:
            lister.list_swhid(selected)
    except ApiFailure as failure:
        return [], [*lister.problems, lister.problem(failure.reason, failure.detail)]
    return sorted(lister.files, key=lambda f: f.path), lister.problems
