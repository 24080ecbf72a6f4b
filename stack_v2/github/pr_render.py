"""A kept pull request and its changed files -> its training document, as the paper renders them (§2.3 and
BigCode's ``render.py``: the base file in full with probability 0.2, otherwise the changed ranges with up
to 32 lines around them; each diff hunk with 3 to 10 lines of context), in StarCoder2's pull-request
tokens. Every random choice is drawn from a generator seeded by the run's seed and the pull request, so a
build renders the same text on every runner and every run. Pure.

The layout (our choice where the paper gives the tokens but not their order; docs/sources.md)::

    <pr>Title: {title}\\nusername_0: {description}
    <pr_is_merged>{true|false}
    <pr_base><pr_file>{path}<pr_base_code>{the base file, or its changed ranges joined by "\\n...\\n"}
    ...
    <pr_diff><pr_file>{path}<pr_diff_hunk>{hunk}<pr_diff_hunk>{hunk}
    ...
    <pr_comment>username_1: {comment}
    <pr_review>username_2: {review}<pr_review_state>{APPROVED|CHANGES_REQUESTED|COMMENTED}
    <pr_review_comment>username_1: <pr_file>{path}<pr_diff_hunk>{hunk}\\n{comment}

A document over ``MAX_CHARS`` = 100,000 characters is dropped (``too_long``, the paper's limit), one
under ``MIN_CHARS`` = 200 too (``too_short``, the code's minimum).
"""

from __future__ import annotations

import difflib
import hashlib
import random

from stack_v2.github.pr_events import COMMENT, REVIEW
from stack_v2.github.pr_files import ChangedFile
from stack_v2.github.pull_requests import PullRequest
from stack_v2.github.usernames import replacer, username_map
from stack_v2.verdicts import Drop

MAX_CHARS, MIN_CHARS = 100_000, 200
FULL_BASE_PROBABILITY = 0.2
MAX_RANGE_CONTEXT = 32
HUNK_CONTEXT = (3, 10)
ELISION = "\n...\n"


def rng_for(seed: int, repo_name: str, number: int) -> random.Random:
    digest = hashlib.sha1(f"{seed}\0{repo_name.lower()}\0{number}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def base_excerpt(base: str, head: str, rng: random.Random) -> str:
    """The full base file with probability 0.2, else its changed line ranges, each widened by 0-32 lines."""
    if rng.random() < FULL_BASE_PROBABILITY:
        return base
    base_lines, head_lines = base.split("\n"), head.split("\n")
    ranges = []
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, base_lines, head_lines, autojunk=False).get_opcodes():
        if tag != "equal":
            ranges.append(
                (
                    max(0, i1 - rng.randint(0, MAX_RANGE_CONTEXT)),
                    min(len(base_lines), i2 + rng.randint(0, MAX_RANGE_CONTEXT)),
                )
            )
    merged: list[list[int]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return ELISION.join("\n".join(base_lines[start:end]) for start, end in merged)


def diff_hunks(base: str, head: str, rng: random.Random) -> list[str]:
    """The unified diff's hunks (``@@ ... @@`` and their lines) with 3-10 lines of context."""
    lines = difflib.unified_diff(base.split("\n"), head.split("\n"), n=rng.randint(*HUNK_CONTEXT), lineterm="")
    hunks: list[list[str]] = []
    for line in lines:
        if line.startswith("@@"):
            hunks.append([line])
        elif hunks:  # the ---/+++ header comes before the first hunk
            hunks[-1].append(line)
    return ["\n".join(h) for h in hunks]


def render_pull_request(pr: PullRequest, files: list[ChangedFile], seed: int) -> str | Drop:
    rng = rng_for(seed, pr.repo_name, pr.number)
    names = username_map([pr.author, *(c.author for c in pr.comments)])
    named = replacer(names)
    parts = [f"<pr>Title: {named(pr.title)}\n{names[pr.author]}: {named(pr.description)}"]
    parts.append(f"<pr_is_merged>{'true' if pr.merged else 'false'}")
    for f in files:
        parts.append(f"<pr_base><pr_file>{f.path}<pr_base_code>{base_excerpt(f.base, f.head, rng)}")
    for f in files:
        parts.append(
            f"<pr_diff><pr_file>{f.path}" + "".join(f"<pr_diff_hunk>{h}" for h in diff_hunks(f.base, f.head, rng))
        )
    for c in pr.comments:
        who, text = names[c.author], named(c.text)
        if c.kind == COMMENT:
            parts.append(f"<pr_comment>{who}: {text}")
        elif c.kind == REVIEW:
            parts.append(f"<pr_review>{who}: {text}<pr_review_state>{c.review_state.upper()}")
        else:
            parts.append(f"<pr_review_comment>{who}: <pr_file>{c.path}<pr_diff_hunk>{c.diff_hunk}\n{text}")
    document = "\n".join(parts)
    if len(document) > MAX_CHARS:
        return Drop("too_long", f"{len(document)} chars > {MAX_CHARS}")
    if len(document) < MIN_CHARS:
        return Drop("too_short", f"{len(document)} chars < {MIN_CHARS}")
    return document
