"""Opt-out requests: JSON lines, one request per line (format: manifests/OPTOUT_FORMAT.md).

``load_requests`` validates every line before returning anything, so a file with one malformed request
yields an error and no requests: nothing is applied from it. Errors are one line that names the file, the
line and the field, e.g. ``optouts.jsonl line 3: field "repos": expected "all" or a list of repository names``.
A key given twice in one JSON object, and a line longer than ``MAX_LINE_BYTES``, are errors too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from stack_v2.errors import StackV2Error

ALL = "all"
REQUIRED_FIELDS = ("owner", "repos", "received")
# A request is a few hundred bytes; a longer line is refused unread (and never echoed in the error).
MAX_LINE_BYTES = 64 * 1024

# GitHub user and organisation names: letters, digits and hyphens, at most 39 characters (underscores exist in
# some enterprise-managed and legacy names, so they are accepted). Repository names: letters, digits, '.', '-',
# '_', at most 100 characters, never '.' or '..'.
_OWNER = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,38})")
_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class OptOutFormatError(StackV2Error):
    """An opt-out file is unreadable or holds malformed requests. ``problems`` lists them all (one line each);
    ``str()`` is the first, with a count of the others."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        message = self.problems[0]
        if len(self.problems) > 1:
            message += f" (and {len(self.problems) - 1} more problem{'s' if len(self.problems) > 2 else ''})"
        super().__init__(message)


@dataclass(frozen=True)
class OptOutRequest:
    """One validated request. ``repos`` is ``"all"`` or a tuple of repository names as written;
    ``extra`` holds the fields this format does not define, kept for the audit log."""

    owner: str
    repos: str | tuple[str, ...]
    received: dt.date
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    line: int = 0
    source: str = ""

    @property
    def all_repos(self) -> bool:
        return self.repos == ALL

    @property
    def owner_key(self) -> str:
        return self.owner.lower()

    def repo_keys(self) -> frozenset[str]:
        """Lower-cased ``owner/repo`` keys (empty when the request covers all of the owner's repositories)."""
        if self.all_repos:
            return frozenset()
        return frozenset(f"{self.owner_key}/{name.lower()}" for name in self.repos)

    def describe(self) -> str:
        """Short text for messages: ``octocat/* (optouts.jsonl line 3, received 2023-11-20)``."""
        target = f"{self.owner}/*" if self.all_repos else ", ".join(f"{self.owner}/{r}" for r in self.repos)
        where = f"{self.source} line {self.line}, " if self.source else ""
        return f"{target} ({where}received {self.received.isoformat()})"

    def to_audit_dict(self) -> dict:
        """The request as written (extra fields included), for the audit log."""
        return {
            "owner": self.owner,
            "repos": ALL if self.all_repos else list(self.repos),
            "received": self.received.isoformat(),
            **self.extra,
        }


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_request(obj: Any, *, line: int = 0, source: str = "") -> OptOutRequest:
    """Validate one decoded JSON value; raises ValueError with ``field "name": ...`` (no file or line)."""
    if not isinstance(obj, dict):
        raise ValueError(f'expected a JSON object with "owner", "repos" and "received", got {_type_name(obj)}')
    for name in REQUIRED_FIELDS:
        if name not in obj:
            raise ValueError(f'field "{name}": missing (required: "owner", "repos", "received")')

    owner = obj["owner"]
    if not isinstance(owner, str):
        raise ValueError(
            f'field "owner": expected a GitHub user or organisation name (a string), got {_type_name(owner)}'
        )
    if not _OWNER.fullmatch(owner):
        raise ValueError(
            f'field "owner": {_short(owner)} is not a GitHub user or organisation name '
            "(letters, digits and '-', at most 39 characters; no URL or '/')"
        )

    repos_value = obj["repos"]
    expected = 'expected "all" or a list of repository names'
    if isinstance(repos_value, str):
        if repos_value != ALL:
            hint = (
                ' (write "all" in lower case)'
                if repos_value.lower() == ALL
                else ' (a single repository is written as a list: ["name"])'
            )
            raise ValueError(f'field "repos": {expected}, got the string {_short(repos_value)}{hint}')
        repos: str | tuple[str, ...] = ALL
    elif isinstance(repos_value, list):
        if not repos_value:
            raise ValueError(f'field "repos": {expected}, got an empty list')
        names = []
        for i, name in enumerate(repos_value):
            if not isinstance(name, str):
                raise ValueError(
                    f'field "repos": item {i + 1}: expected a repository name (a string), got {_type_name(name)}'
                )
            if "/" in name:
                raise ValueError(
                    f'field "repos": item {i + 1}: {_short(name)} is not a repository name: '
                    f'give the name without the owner or URL (the owner is "{owner}")'
                )
            if not _REPO.fullmatch(name) or name in (".", ".."):
                raise ValueError(
                    f'field "repos": item {i + 1}: {_short(name)} is not a GitHub repository name '
                    "(letters, digits, '.', '-' and '_', at most 100 characters)"
                )
            if name.lower().endswith(".git"):
                raise ValueError(f'field "repos": item {i + 1}: {_short(name)}: give the name without ".git"')
            names.append(name)
        repos = tuple(dict.fromkeys(names))  # duplicates once, order kept
    else:
        raise ValueError(f'field "repos": {expected}, got {_type_name(repos_value)}')

    received_value = obj["received"]
    if not isinstance(received_value, str):
        raise ValueError(
            f'field "received": expected an ISO date "YYYY-MM-DD" (a string), got {_type_name(received_value)}'
        )
    try:
        if not _DATE.fullmatch(received_value):
            raise ValueError
        received = dt.date.fromisoformat(received_value)
    except ValueError:
        raise ValueError(f'field "received": expected an ISO date "YYYY-MM-DD", got {_short(received_value)}') from None

    extra = {k: v for k, v in obj.items() if k not in REQUIRED_FIELDS}
    return OptOutRequest(owner=owner, repos=repos, received=received, extra=extra, line=line, source=source)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object's members, refusing a key given twice (json.loads would silently keep the last)."""
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def parse_lines(lines, source: str = "<optouts>") -> list[OptOutRequest]:
    """Validate all lines (an iterable of str); raises OptOutFormatError listing every malformed line."""
    requests: list[OptOutRequest] = []
    problems: list[str] = []
    for number, text in enumerate(lines, start=1):
        if len(text) > MAX_LINE_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
            problems.append(
                f"{source} line {number}: longer than the limit of {MAX_LINE_BYTES:,} bytes "
                f"({MAX_LINE_BYTES // 1024} KiB) per request"
            )
            continue
        if not text.strip():
            continue  # blank lines are allowed (e.g. a trailing newline)
        try:
            obj = json.loads(text, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            problems.append(f"{source} line {number}: not valid JSON: {exc.msg} (column {exc.colno})")
            continue
        except _DuplicateKey as exc:
            problems.append(f"{source} line {number}: key {_short(exc.args[0])} appears twice in one object")
            continue
        except RecursionError:
            problems.append(f"{source} line {number}: not valid JSON: nested too deeply")
            continue
        try:
            requests.append(parse_request(obj, line=number, source=source))
        except ValueError as exc:
            problems.append(f"{source} line {number}: {exc}")
    if problems:
        raise OptOutFormatError(problems)
    return requests


def load_requests(path: str | os.PathLike) -> list[OptOutRequest]:
    """All requests of a JSON-lines file, validated; raises OptOutFormatError (a StackV2Error) and returns
    nothing when any line is malformed."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise OptOutFormatError([f"{source}: cannot read opt-out requests: {exc.strerror or exc}"]) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        if len(chunk) > MAX_LINE_BYTES:  # refused by parse_lines for its length, whatever its bytes
            lines.append(chunk.decode("utf-8", "replace"))
            continue
        try:
            lines.append(chunk.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise OptOutFormatError([f"{source} line {number}: not UTF-8 (byte {exc.start + 1})"]) from None
    return parse_lines(lines, source=source)


def audit_entry(
    request: OptOutRequest, files: int, nbytes: int, repositories: list[str], applied_at: str, dataset: str
) -> dict:
    """One line of optout-audit.jsonl: the request as written, what it removed, when, where."""
    return {
        "request": request.to_audit_dict(),
        "source": request.source,
        "line": request.line,
        "files_removed": files,
        "bytes_removed": nbytes,
        "repositories_removed": repositories,
        "applied_at": applied_at,
        "dataset": dataset,
    }
