"""GHArchive event lines -> the issue events a thread is made of.

GHArchive (https://www.gharchive.org) publishes GitHub's public event stream as hourly files
``YYYY-MM-DD-H.json.gz``, one JSON object per line: ``id``, ``type``, ``actor.login``, ``repo.name``,
``payload``, ``created_at``. The issues source reads two types: ``IssuesEvent`` (the issue was opened,
closed, reopened, edited, labelled, ...) and ``IssueCommentEvent`` (a comment was created, edited or
deleted). Every event of either type carries the whole issue as it stood then (title, body, author), so a
thread whose opening predates the files read still has its description.

``parse_line`` decides one line: an ``IssueEvent``, a ``Skip`` (a line this source does not use, by
reason: another event type, a comment on a pull request, an action that adds no text), or a ``Fail`` (a
line that is not a JSON object, or an issue event without the fields a thread needs). Pure.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from stack_v2.verdicts import Fail

ISSUES_EVENT, ISSUE_COMMENT_EVENT = "IssuesEvent", "IssueCommentEvent"
# The IssuesEvent actions a thread keeps: the opening (its text is the issue's body) and the status
# changes, which count as events of the thread (the paper's "at most 10 events") but add no text.
OPENED, CLOSED, REOPENED = "opened", "closed", "reopened"
STATUS_ACTIONS = frozenset({CLOSED, REOPENED})
COMMENT_CREATED = "created"


class IssueEvent(NamedTuple):
    """One GHArchive event of an issue, flattened to what a thread needs."""

    repo_name: str  # owner/repo as GHArchive names it
    number: int  # the issue's number in its repository
    event_id: str  # GHArchive's id: unique, orders events of the same second
    created_at: str  # ISO 8601 UTC, as GHArchive writes it ("2023-01-02T03:04:05Z")
    kind: str  # "opened", "closed", "reopened" (IssuesEvent) or "comment" (a created IssueCommentEvent)
    actor: str  # who did it: the comment's author for a comment
    text: str  # the comment's body for a comment; "" for the others (the body is issue_body)
    comment_id: int  # 0 unless a comment
    issue_title: str
    issue_body: str
    issue_author: str
    issue_created_at: str


COMMENT = "comment"


class Skip(NamedTuple):
    """A line the issues source reads but does not use (counted by reason, never listed one by one)."""

    reason: str


def parse_line(line: str | bytes) -> IssueEvent | Skip | Fail:
    try:
        event = json.loads(line)
    except ValueError as exc:
        return Fail("malformed_json", str(exc)[:200])
    if not isinstance(event, dict):
        return Fail("malformed_json", f"a JSON {type(event).__name__}, not an object")
    kind = event.get("type")
    if kind not in (ISSUES_EVENT, ISSUE_COMMENT_EVENT):
        return Skip(f"type_{kind}" if isinstance(kind, str) and kind.isidentifier() else "type_unknown")
    try:
        return _issue_event(event, kind)
    except (KeyError, TypeError, ValueError) as exc:
        return Fail("malformed_event", f"{kind} {event.get('id')}: {_what_is_wrong(exc)}")


def _issue_event(event: dict, kind: str) -> IssueEvent | Skip:
    payload = event["payload"]
    issue = payload["issue"]
    if issue.get("pull_request"):  # an issue comment on a pull request: the pull-request source's
        return Skip("pull_request")
    action = payload["action"]
    if kind == ISSUES_EVENT:
        if action != OPENED and action not in STATUS_ACTIONS:
            return Skip(f"issue_{action}" if str(action).isidentifier() else "issue_action_unknown")
        event_kind, text, comment_id = action, "", 0
    else:
        if action != COMMENT_CREATED:  # edits and deletions of a comment are not new text
            return Skip(f"comment_{action}" if str(action).isidentifier() else "comment_action_unknown")
        comment = payload["comment"]
        event_kind, text, comment_id = COMMENT, _text(comment.get("body")), int(comment["id"])
    actor = payload["comment"]["user"]["login"] if event_kind == COMMENT else event["actor"]["login"]
    return IssueEvent(
        repo_name=_required_str(event["repo"]["name"], "repo.name"),
        number=int(issue["number"]),
        event_id=str(event["id"]),
        created_at=_required_str(event["created_at"], "created_at"),
        kind=event_kind,
        actor=_required_str(actor, "actor"),
        text=text,
        comment_id=comment_id,
        issue_title=_text(issue.get("title")),
        issue_body=_text(issue.get("body")),
        issue_author=_required_str(issue["user"]["login"], "issue.user.login"),
        issue_created_at=_text(issue.get("created_at")) or event["created_at"],
    )


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _required_str(value, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is {value!r}, not a non-empty string")
    return value


def _what_is_wrong(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} field"
    return str(exc)[:200]
