"""Record types that flow through the pipelines, as Beam schemas (NamedTuple + RowCoder).

Where Beam pickles a record instead (inside a tuple: a join's or a writer's key and value), ``FileRecord``
pickles its content compressed (stack_v2/packed_text.py).

Dates are integers, microseconds since the Unix epoch in UTC: every runner encodes them the same
way and no SWH date (some predate 1677 or follow 2262) overflows them. ``iso_utc`` renders them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple, Optional

import apache_beam as beam

from stack_v2.packed_text import reduce_packed

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class FileOccurrence(NamedTuple):
    """One file of one origin's default branch, as listed from the graph export (or the Web API)."""

    origin: Optional[str]
    repo_name: Optional[str]
    snapshot_id: Optional[str]
    branch_name: Optional[str]
    revision_id: Optional[str]
    revision_date: Optional[int]  # author date, µs since epoch UTC (the-stack-v2's revision_date)
    committer_date: Optional[int]
    visit_date: Optional[int]
    directory_id: str  # root directory of the branch
    path: str  # relative, no leading slash; non-UTF-8 bytes as \xNN escapes
    blob_id: Optional[str]  # sha1: the content store key
    content_id: str  # sha1_git: the swh:1:cnt: id
    length: Optional[int]
    perms: int  # git mode: 0o100644, 0o100755, 0o120000 (symlink)
    content_status: str  # visible | hidden | absent (skipped_content) | missing (in no content table)

    def to_json_dict(self) -> dict:
        out = self._asdict()
        for key in ("revision_date", "committer_date", "visit_date"):
            out[key] = iso_utc(out[key])
        return out


beam.coders.registry.register_coder(FileOccurrence, beam.coders.RowCoder)


class TraversalProblem(NamedTuple):
    """Why an origin, SWHID or subtree produced no (or not all) files: nothing is dropped silently."""

    subject: str  # origin URL, SWHID, or directory id
    reason: str  # snake_case, e.g. no_full_visit, no_default_branch, revision_not_in_export
    detail: str


beam.coders.registry.register_coder(TraversalProblem, beam.coders.RowCoder)


def micros_from_datetime(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso_utc(micros: int | None) -> str | None:
    """ISO 8601 in UTC, e.g. '2005-03-18T05:03:40+00:00' (None stays None)."""
    if micros is None:
        return None
    return (_EPOCH + dt.timedelta(microseconds=micros)).isoformat()


# the-stack-v2's regex (https URLs), widened to git://, ssh:// and scp-style SSH (git@github.com:owner/repo).
_GITHUB = re.compile(
    r"^(?:(?:https?|git|ssh|git\+ssh)://(?:[^@/\s]+@)?(?:www\.)?github\.com(?::[0-9]+)?/|(?:[^@/:\s]+@)?github\.com:)"
    r"([^/:@\s]+/[^/\s]+?)(?:\.git)?/*$",
    re.IGNORECASE,
)
_SCP_LIKE = re.compile(r"^[^@/:\s]+@[^/:\s]+:(.*)$")  # user@host:path, git's SSH shorthand


def repo_name_from_origin(origin: str | None) -> str | None:
    """'owner/name' for GitHub URLs and SSH addresses, else the URL's path without slashes or '.git'."""
    if origin is None:
        return None
    match = _GITHUB.match(origin)
    if match:
        return match.group(1)
    scp = _SCP_LIKE.match(origin)
    if scp and "://" not in origin:
        path = scp.group(1).strip("/")
    else:
        path = re.sub(r"^[a-z][a-z0-9+.-]*://[^/]*", "", origin, flags=re.IGNORECASE).strip("/")
    return re.sub(r"\.git$", "", path) or origin


def decode_path(raw: bytes) -> str:
    """A git path as text: UTF-8, with undecodable bytes as \\xNN escapes (unique and reversible)."""
    return raw.decode("utf-8", errors="backslashreplace")


class FileRecord(NamedTuple):
    """The build pipeline's record: the-stack-v2's file-level columns (docs/the-stack-v2.md §11.3), then working fields.

    Dates are µs since epoch UTC (see module docstring); the Parquet writer turns them into timestamps.
    ``content`` is None until the fetch stage fills it.
    """

    blob_id: Optional[str]
    directory_id: str
    path: str
    content_id: str
    detected_licenses: list[str]
    license_type: Optional[str]
    repo_name: Optional[str]
    snapshot_id: Optional[str]
    revision_id: Optional[str]
    branch_name: Optional[str]
    visit_date: Optional[int]
    revision_date: Optional[int]
    committer_date: Optional[int]
    github_id: Optional[int]
    star_events_count: int
    fork_events_count: int
    gha_license_id: Optional[str]
    gha_event_created_at: Optional[int]
    gha_created_at: Optional[int]
    gha_language: Optional[str]
    src_encoding: Optional[str]
    language: Optional[str]
    is_vendor: Optional[bool]
    is_generated: Optional[bool]
    length_bytes: Optional[int]
    extension: str
    # statistics of the train sets (docs/the-stack-v2.md §11.4), set when the content is decoded
    alphanum_fraction: Optional[float]
    alpha_fraction: Optional[float]
    num_lines: Optional[int]
    avg_line_length: Optional[float]
    max_line_length: Optional[int]
    nl_language: Optional[str]  # natural language of documentation files (fastText), else None
    pii_redactions: Optional[str]  # JSON counts per type of what the pii stage redacted, None when nothing
    # working fields
    origin: Optional[str]
    perms: int
    content_status: str
    content: Optional[str]

    def __reduce__(self):  # content pickles compressed: stack_v2/packed_text.py
        return reduce_packed(self, _CONTENT)


_CONTENT = FileRecord._fields.index("content")
beam.coders.registry.register_coder(FileRecord, beam.coders.RowCoder)


class DroppedRow(NamedTuple):
    """One occurrence (or origin) that did not make it, and why: the dropped/ table."""

    blob_id: Optional[str]
    repo_name: Optional[str]
    path: Optional[str]
    stage: str
    outcome: str  # dropped (a decision) | failed (an error: missing object, unreadable, ...)
    reason: str  # snake_case category, e.g. exact_duplicate, binary, undecodable, missing
    detail: str  # the measured value or the specifics, e.g. "keeper=octo/repo:src/a.py"
    length_bytes: Optional[int]


beam.coders.registry.register_coder(DroppedRow, beam.coders.RowCoder)


def extension_of(path: str) -> str:
    """The file extension without the dot ('' when none), as the-stack-v2's ``extension`` column."""
    name = path.rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return ext if dot and stem else ""
