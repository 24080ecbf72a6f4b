"""A GitHub issue's events -> one training document, by StarCoder's rules (The Stack v2 reused them).

``decide_thread(events)`` takes every event read of one issue (``events.IssueEvent``, in any order,
duplicates allowed) and returns an ``IssueThread`` or a ``Drop`` with the rule that removed it:

1. **Thread.** The opening (the issue's title and body, by its author), then the comments in time order,
   then the status changes (closed, reopened), which count as events but add no text. The body and title
   are those of the ``opened`` event when it was read, else of the earliest event (each event carries the
   issue).
2. **Email replies.** GitHub's email boilerplate is stripped from every text (``email_replies``).
3. **Long comments** are truncated in the middle. The paper says 100 lines, keeping the last 20;
   BigCode's code says 80 lines (first 60, last 20). We follow the paper: a text of more than
   ``MAX_LINES`` = 100 lines keeps its first 80 lines, a ``[Truncated]`` line and its last 20.
4. **Bots.** Events by bot accounts (``bots.is_bot``) are removed; a thread left with none is dropped
   (``bot_thread``).
5. **Size.** A thread whose remaining text (the sum of its events' texts) is under ``MIN_CHARS`` = 200
   characters is dropped (``too_short``).
6. **Users.** A thread with at least 2 distinct authors is kept; one with a single author only when its
   text is at most ``SINGLE_USER_MAX_CHARS`` = 7,000 characters and it has at most ``SINGLE_USER_MAX_EVENTS``
   = 10 events (``single_user``).
7. **Anonymisation.** Authors become ``username_0``, ``username_1``, ... in order of first appearance,
   in the speaker labels and wherever the texts name them (as a whole word, with or without ``@``).
8. **Rendering**, StarCoder2's issue format::

       <issue_start>Title: {title}\\nusername_0: {body}<issue_comment>username_1: {comment}...<issue_closed>

   ``<issue_closed>`` ends a thread whose last status change is a close. Events without text (status
   changes, empty comments) are not rendered. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from stack_v2.github.bots import is_bot
from stack_v2.github.email_replies import strip_email_reply
from stack_v2.github.events import CLOSED, COMMENT, OPENED, STATUS_ACTIONS, IssueEvent
from stack_v2.github.usernames import replacer, username_map
from stack_v2.verdicts import Drop

MAX_LINES, KEEP_HEAD, KEEP_TAIL = 100, 80, 20
TRUNCATED = "[Truncated]"
MIN_CHARS = 200
SINGLE_USER_MAX_CHARS, SINGLE_USER_MAX_EVENTS = 7000, 10
ISSUE_START, ISSUE_COMMENT, ISSUE_CLOSED = "<issue_start>", "<issue_comment>", "<issue_closed>"


class Post(NamedTuple):
    author: str
    text: str
    kind: str  # "opened", "comment", "closed" or "reopened"


class IssueThread(NamedTuple):
    """A kept thread: the rendered document and what the card and report count."""

    repo_name: str
    number: int
    title: str
    content: str  # the rendered, anonymised document
    events: int  # after the bot filter
    users: int
    text_chars: int  # the sum of the events' texts, after stripping, truncation and the bot filter
    closed: bool
    created_at: str  # the issue's creation time (ISO 8601 UTC)
    first_event_id: str  # the earliest event read: a stable id for the thread's row


def decide_thread(events: Iterable[IssueEvent]) -> IssueThread | Drop:
    ordered = sorted(set(events), key=lambda e: (e.created_at, e.event_id, e))  # total: the same order anywhere
    if not ordered:
        raise ValueError("a thread needs at least one event")
    posts, title, closed = _posts(ordered)
    posts = [p._replace(text=truncate(strip_email_reply(p.text))) for p in posts]
    humans = [p for p in posts if not is_bot(p.author)]
    if not humans:
        return Drop("bot_thread", f"{len(posts)} events, all by bots")
    size = sum(len(p.text) for p in humans)
    if size < MIN_CHARS:
        return Drop("too_short", f"{size} chars < {MIN_CHARS}")
    users = len({p.author for p in humans})
    if users < 2 and (size > SINGLE_USER_MAX_CHARS or len(humans) > SINGLE_USER_MAX_EVENTS):
        return Drop("single_user", f"1 user, {size} chars, {len(humans)} events")
    first = ordered[0]
    return IssueThread(
        repo_name=first.repo_name,
        number=first.number,
        title=title,
        content=render(title, anonymise(humans), closed),
        events=len(humans),
        users=users,
        text_chars=size,
        closed=closed,
        created_at=first.issue_created_at,
        first_event_id=first.event_id,
    )


def _posts(ordered: list[IssueEvent]) -> tuple[list[Post], str, bool]:
    """The thread's posts in order (opening, comments, status changes by time), its title, whether closed."""
    opening = next((e for e in ordered if e.kind == OPENED), ordered[0])
    posts = [Post(opening.issue_author, opening.issue_body, OPENED)]
    seen_comments: set[int] = set()
    closed = False
    for event in ordered:
        if event.kind == COMMENT and event.comment_id not in seen_comments:
            seen_comments.add(event.comment_id)
            posts.append(Post(event.actor, event.text, COMMENT))
        elif event.kind in STATUS_ACTIONS:
            posts.append(Post(event.actor, "", event.kind))
            closed = event.kind == CLOSED
    return posts, opening.issue_title, closed


def truncate(text: str) -> str:
    lines = text.split("\n")
    if len(lines) <= MAX_LINES:
        return text
    return "\n".join([*lines[:KEEP_HEAD], TRUNCATED, *lines[-KEEP_TAIL:]])


def anonymise(posts: list[Post]) -> list[Post]:
    """Authors -> ``username_<i>`` by first appearance, in the labels and in every text."""
    names = username_map(p.author for p in posts)
    replace = replacer(names)
    return [Post(names[p.author], replace(p.text), p.kind) for p in posts]


def render(title: str, posts: list[Post], closed: bool) -> str:
    parts = [f"{ISSUE_START}Title: {title}\n"]
    texts = [p for p in posts if p.text]
    for i, post in enumerate(texts):
        parts.append(f"{'' if i == 0 else ISSUE_COMMENT}{post.author}: {post.text}")
    if closed:
        parts.append(ISSUE_CLOSED)
    return "".join(parts)
