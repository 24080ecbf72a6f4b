"""GHArchive event lines -> the events a pull request is made of (the pull-request source's reader).

Four event types carry a pull request (``payload.pull_request``, or ``payload.issue.pull_request`` for
comments): ``PullRequestEvent`` (opened, closed with its ``merged`` flag, reopened, edited, synchronize:
new commits), ``PullRequestReviewEvent`` (a review submitted, with its state: approved,
changes_requested, commented), ``PullRequestReviewCommentEvent`` (a comment on a diff line, with the
hunk it is on) and ``IssueCommentEvent`` on a pull request (a comment in the conversation). Every
``PullRequestEvent`` and review event carries the pull request as it stood: title, body, author, base
and head commits (whose trees the diff is made from), the base branch, the base repository's license.
Comments in the conversation carry the pull request's number and title only.

``parse_pr_line`` decides one line: a ``PrEvent``, a ``Skip`` (another type, an issue comment on an
issue, an action without new text or state) or a ``Fail``. Pure.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from stack_v2.github.events import Skip
from stack_v2.verdicts import Fail

PR_EVENT, REVIEW_EVENT = "PullRequestEvent", "PullRequestReviewEvent"
REVIEW_COMMENT_EVENT, ISSUE_COMMENT_EVENT = "PullRequestReviewCommentEvent", "IssueCommentEvent"
TYPES = (PR_EVENT, REVIEW_EVENT, REVIEW_COMMENT_EVENT, ISSUE_COMMENT_EVENT)
# The kinds of PrEvent: what happened to the pull request.
OPENED, CLOSED, REOPENED, EDITED, SYNCHRONIZE = "opened", "closed", "reopened", "edited", "synchronize"
REVIEW, REVIEW_COMMENT, COMMENT = "review", "review_comment", "comment"
_PR_ACTIONS = frozenset({OPENED, CLOSED, REOPENED, EDITED, SYNCHRONIZE})


class PrEvent(NamedTuple):
    repo_name: str
    number: int
    event_id: str
    created_at: str
    kind: str  # opened, closed, reopened, edited, synchronize, review, review_comment, comment
    actor: str  # who did it (a comment's or review's author)
    text: str  # a comment's or review's body; "" otherwise
    # the pull request as the event saw it ("" / False where the event does not carry it: comments)
    title: str
    body: str
    author: str
    base_ref: str
    base_sha: str
    head_sha: str
    merged: bool
    license: str  # the base repository's license as GitHub detected it (SPDX id), "" when none
    review_state: str  # a review's state, lower-cased: approved, changes_requested, commented, dismissed
    comment_id: int
    in_reply_to: int  # a review comment answering another, else 0
    diff_hunk: str  # a review comment's hunk
    path: str  # a review comment's file


def parse_pr_line(line: str | bytes) -> PrEvent | Skip | Fail:
    try:
        event = json.loads(line)
    except ValueError as exc:
        return Fail("malformed_json", str(exc)[:200])
    if not isinstance(event, dict):
        return Fail("malformed_json", f"a JSON {type(event).__name__}, not an object")
    kind = event.get("type")
    if kind not in TYPES:
        return Skip(f"type_{kind}" if isinstance(kind, str) and kind.isidentifier() else "type_unknown")
    try:
        return _pr_event(event, kind)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"no {exc.args[0]!r} field" if isinstance(exc, KeyError) else str(exc)[:200]
        return Fail("malformed_event", f"{kind} {event.get('id')}: {what}")


def _pr_event(event: dict, kind: str) -> PrEvent | Skip:
    payload = event["payload"]
    action = payload["action"]
    common = {
        "repo_name": _required(event["repo"]["name"], "repo.name"),
        "event_id": str(event["id"]),
        "created_at": _required(event["created_at"], "created_at"),
    }
    if kind == ISSUE_COMMENT_EVENT:
        issue = payload["issue"]
        if not issue.get("pull_request"):
            return Skip("issue")  # the issues source's
        if action != "created":
            return Skip(f"comment_{action}")
        comment = payload["comment"]
        return PrEvent(
            **common, number=int(issue["number"]), kind=COMMENT, actor=_required(comment["user"]["login"], "actor"),
            text=_text(comment.get("body")), title=_text(issue.get("title")), body="",
            author=_text((issue.get("user") or {}).get("login")), base_ref="", base_sha="", head_sha="",
            merged=False, license="", review_state="", comment_id=int(comment["id"]), in_reply_to=0,
            diff_hunk="", path="",
        )  # fmt: skip
    pr = payload["pull_request"]
    base, head = pr["base"], pr["head"]
    fields = {
        **common,
        "number": int(pr["number"]),
        "title": _text(pr.get("title")),
        "body": _text(pr.get("body")),
        "author": _required(pr["user"]["login"], "pull_request.user.login"),
        "base_ref": _text(base.get("ref")),
        "base_sha": _text(base.get("sha")),
        "head_sha": _text(head.get("sha")),
        "merged": bool(pr.get("merged")),
        "license": _text(((base.get("repo") or {}).get("license") or {}).get("spdx_id")),
    }
    if kind == PR_EVENT:
        if action not in _PR_ACTIONS:
            return Skip(f"pull_request_{action}" if str(action).isidentifier() else "pull_request_action_unknown")
        return PrEvent(
            **fields, kind=action, actor=_required(event["actor"]["login"], "actor"), text="", review_state="",
            comment_id=0, in_reply_to=0, diff_hunk="", path="",
        )  # fmt: skip
    if kind == REVIEW_EVENT:
        if action != "submitted":
            return Skip(f"review_{action}")
        review = payload["review"]
        return PrEvent(
            **fields, kind=REVIEW, actor=_required(review["user"]["login"], "actor"), text=_text(review.get("body")),
            review_state=_text(review.get("state")).lower(), comment_id=int(review["id"]), in_reply_to=0,
            diff_hunk="", path="",
        )  # fmt: skip
    if action != "created":
        return Skip(f"review_comment_{action}")
    comment = payload["comment"]
    return PrEvent(
        **fields, kind=REVIEW_COMMENT, actor=_required(comment["user"]["login"], "actor"),
        text=_text(comment.get("body")), review_state="", comment_id=int(comment["id"]),
        in_reply_to=int(comment.get("in_reply_to_id") or 0), diff_hunk=_text(comment.get("diff_hunk")),
        path=_text(comment.get("path")),
    )  # fmt: skip


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _required(value, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is {value!r}, not a non-empty string")
    return value
