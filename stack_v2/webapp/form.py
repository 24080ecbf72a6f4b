"""The opt-out form's fields turned into a request, validated by the parser ``optout apply`` uses.

``repos`` is ``all`` (in any case, alone: a repository named "all" is written ``owner/all``) or one
repository per line, as a name (``hello-world``) or in any form the opt-out matcher accepts
(``octocat/hello-world``, ``https://github.com/octocat/hello-world.git``, ...); a line naming another owner's
repository is an error, not silently moved to that owner. The request dict built from the
fields goes through ``parse_request``, so what the form accepts is exactly what ``optout apply`` will.
"""

from __future__ import annotations

import datetime as dt
import re

from stack_v2.optout.match import REPO_KEY_PATTERN
from stack_v2.optout.requests import ALL, OptOutRequest, parse_request

MAX_REPOS = 100
LIMITS = {"owner": 39, "repos": 8192, "contact": 200, "reason": 2000, "csrf_token": 128}
_REPO = re.compile(REPO_KEY_PATTERN, re.I)


class FormError(ValueError):
    """A field that is not valid; the message names it."""


def repo_names(owner: str, text: str) -> str | list[str]:
    """``"all"`` or the names the textarea lists (without owner or URL)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise FormError('repositories: write "all" or at least one repository name')
    if len(lines) == 1 and lines[0].lower() == ALL:
        return ALL
    if len(lines) > MAX_REPOS:
        raise FormError(f"repositories: at most {MAX_REPOS} per request (send several requests, or write all)")
    names = []
    for number, line in enumerate(lines, start=1):
        if line.lower() == ALL:
            raise FormError(f'repositories: line {number}: "all" covers every repository: write it alone')
        if "/" in line or ":" in line:
            m = _REPO.match(line)
            if m is None:
                raise FormError(f"repositories: line {number}: {line[:120]!r} is not a GitHub repository or URL")
            line_owner, _, name = m.group(1).partition("/")
            if line_owner.lower() != owner.lower():
                raise FormError(
                    f"repositories: line {number}: {line_owner}/{name} belongs to {line_owner}, not to {owner}: "
                    "send one request per owner"
                )
            line = name
        names.append(line)
    return names


def request_from_form(fields: dict[str, str], today: dt.date | None = None) -> OptOutRequest:
    """The validated request; FormError (with the parser's message) otherwise."""
    for name, limit in LIMITS.items():
        if len(fields.get(name) or "") > limit:
            raise FormError(f"{name}: longer than {limit:,} characters")
    owner = (fields.get("owner") or "").strip()
    if not owner:
        raise FormError("owner: give the GitHub user or organisation name")
    if m := re.match(r"^(?:https?://)?(?:www\.)?github\.com/([^/\s]+)/*$", owner, re.I):
        owner = m.group(1)  # the owner's GitHub page pasted in
    repos = repo_names(owner, fields.get("repos") or "")
    received = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    try:
        return parse_request({"owner": owner, "repos": repos, "received": received})
    except ValueError as exc:
        raise FormError(str(exc).replace('field "repos": item ', "repositories: line ")) from None
