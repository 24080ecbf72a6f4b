"""A pull request's events -> the pull request the rendering works from, or the rule that removed it: the
paper's PR filters that need no file, its title, description and comment rules, and the per-repository
subsampling (The Stack v2 paper §2.3; the thresholds are BigCode's). Pure.

``decide_pull_request(events, permissive)`` applies, in order:

1. **opened by a bot** (``bots.is_bot`` on the author): ``bot_author``;
2. **bots only**: no event by a human at all: ``bot_only``;
3. **non-permissive**: the base repository's license (GitHub's detection, an SPDX id) is not in the
   permissive list, or there is none: ``non_permissive``;
4. **base changed**: the base branch differs between the events (the pull request was retargeted):
   ``base_changed``;
5. **neither approved nor merged**: no review ``approved`` and no ``closed`` event with ``merged``:
   ``not_approved_or_merged``;
6. **title**: under ``MIN_TITLE`` = 10 characters, or naming dependencies or a release
   (``dependencies|dependency|depend|release``, case-insensitive): ``title``;
7. **description**: under ``MIN_DESCRIPTION`` = 20 characters, or mentioning ``Qwiet``: ``description``.

Kept pull requests have their title cut to 500 characters and their description to 80 lines (the first
60 and the last 20) and then 1,000 characters. Their comments lose bots' comments, GitHub's email-reply
boilerplate, comments under 20 characters (review comments excepted) and review comments on a hunk of
more than 10,000 characters. Opt-outs, the initial diff (from the base and head trees) and the base-file
rules come after, with the archive.

``keep_probability(n)`` and ``sampled(seed, repo, number, n)``: the per-repository subsampling, 0.8 for a
repository with one pull request falling linearly to 0.1 at 1,000, and about 100 kept above 1,000.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import NamedTuple

from stack_v2.github.bots import is_bot
from stack_v2.github.email_replies import strip_email_reply
from stack_v2.github.pr_events import CLOSED, COMMENT, OPENED, REVIEW, REVIEW_COMMENT, PrEvent
from stack_v2.verdicts import Drop

MIN_TITLE, MAX_TITLE = 10, 500
MIN_DESCRIPTION, MAX_DESCRIPTION = 20, 1000
DESCRIPTION_HEAD, DESCRIPTION_TAIL = 60, 20
MIN_COMMENT, MAX_HUNK = 20, 10_000
_TITLE_WORDS = re.compile(r"dependencies|dependency|depend|release", re.IGNORECASE)
_DESCRIPTION_WORDS = re.compile(r"Qwiet")


class Comment(NamedTuple):
    author: str
    text: str
    kind: str  # "comment", "review" or "review_comment"
    created_at: str
    comment_id: int
    in_reply_to: int
    review_state: str
    path: str
    diff_hunk: str


class PullRequest(NamedTuple):
    repo_name: str
    number: int
    title: str
    description: str
    author: str
    base_sha: str  # the base commit when it was opened (first event that names one)
    head_sha: str  # the head commit at its last event: what was merged or approved
    merged: bool
    license: str
    comments: tuple[Comment, ...]  # in time order, after the comment rules
    created_at: str


def decide_pull_request(events: Iterable[PrEvent], permissive: frozenset[str]) -> PullRequest | Drop:
    ordered = sorted(set(events), key=lambda e: (e.created_at, e.event_id, e))  # total: the same order anywhere
    if not ordered:
        raise ValueError("a pull request needs at least one event")
    carrying = [e for e in ordered if e.kind != COMMENT]  # events that carry the pull request itself
    opening = next((e for e in carrying if e.kind == OPENED), carrying[0] if carrying else None)
    if opening is None:
        return Drop("no_pull_request_event", f"{len(ordered)} comments, no event with the pull request")
    if is_bot(opening.author):
        return Drop("bot_author", opening.author)
    if all(is_bot(e.actor) for e in ordered):
        return Drop("bot_only", f"{len(ordered)} events")
    if opening.license not in permissive:
        return Drop("non_permissive", opening.license or "no license detected")
    if len(refs := {e.base_ref for e in carrying if e.base_ref}) > 1:
        return Drop("base_changed", " -> ".join(sorted(refs)))
    merged = any(e.kind == CLOSED and e.merged for e in carrying)
    approved = any(e.kind == REVIEW and e.review_state == "approved" for e in ordered)
    if not (merged or approved):
        return Drop("not_approved_or_merged", "")
    title = opening.title
    if len(title) < MIN_TITLE or (word := _TITLE_WORDS.search(title)):
        return Drop("title", f"{len(title)} chars" if len(title) < MIN_TITLE else f"names {word.group(0)!r}")
    description = strip_email_reply(opening.body)
    if len(description) < MIN_DESCRIPTION or _DESCRIPTION_WORDS.search(description):
        return Drop("description", f"{len(description)} chars" if len(description) < MIN_DESCRIPTION else "Qwiet")
    last = carrying[-1]
    return PullRequest(
        repo_name=opening.repo_name,
        number=opening.number,
        title=title[:MAX_TITLE],
        description=cut_description(description),
        author=opening.author,
        base_sha=next((e.base_sha for e in carrying if e.base_sha), ""),
        head_sha=last.head_sha,
        merged=merged,
        license=opening.license,
        comments=tuple(kept_comments(ordered)),
        created_at=opening.created_at,
    )


def cut_description(text: str) -> str:
    lines = text.split("\n")
    if len(lines) > DESCRIPTION_HEAD + DESCRIPTION_TAIL:
        lines = lines[:DESCRIPTION_HEAD] + lines[-DESCRIPTION_TAIL:]
    return "\n".join(lines)[:MAX_DESCRIPTION]


def kept_comments(ordered: list[PrEvent]) -> list[Comment]:
    out, seen = [], set()
    for e in ordered:
        if e.kind not in (COMMENT, REVIEW, REVIEW_COMMENT) or (e.kind, e.comment_id) in seen or is_bot(e.actor):
            continue
        seen.add((e.kind, e.comment_id))
        text = strip_email_reply(e.text)
        if e.kind == REVIEW_COMMENT and len(e.diff_hunk) > MAX_HUNK:
            continue
        if e.kind != REVIEW_COMMENT and len(text) < MIN_COMMENT and not (e.kind == REVIEW and e.review_state):
            continue  # a review without text still says its state (approved, changes requested)
        out.append(
            Comment(
                e.actor, text, e.kind, e.created_at, e.comment_id, e.in_reply_to, e.review_state, e.path, e.diff_hunk
            )
        )
    return out


def keep_probability(pull_requests_in_repo: int) -> float:
    """The paper's per-repository subsampling: 0.8 at 1, linearly down to 0.1 at 1,000, then ~100 kept."""
    n = max(1, pull_requests_in_repo)
    if n > 1000:
        return 100 / n
    return 0.8 - 0.7 * (n - 1) / 999


def sampled(seed: int, repo_name: str, number: int, pull_requests_in_repo: int) -> bool:
    """Whether a pull request is kept by the subsampling: a seeded draw that every runner makes alike."""
    digest = hashlib.sha1(f"{seed}\0{repo_name.lower()}\0{number}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < keep_probability(pull_requests_in_repo)
