"""The pull-request source's cores: GHArchive lines -> pull-request events -> the paper's PR, title,
description and comment rules, and the per-repository subsampling. Events are GitHub's real webhook payloads
(tests/data/gharchive, from @octokit/webhooks-examples); the cases for each rule change the fields it reads."""

from __future__ import annotations

import gzip
import inspect
import json
from collections import Counter
from pathlib import Path

from stack_v2.github import pr_events as pe
from stack_v2.github.pull_requests import (
    PullRequest,
    cut_description,
    decide_pull_request,
    keep_probability,
    sampled,
)
from stack_v2.licenses.classify import load_permissive
from stack_v2.verdicts import Drop

FIXTURE = Path(__file__).parent / "data" / "gharchive" / "octokit-events.json.gz"
PERMISSIVE = load_permissive()
PROSE = " ".join(inspect.getdoc(json).split())


def _parsed() -> list:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        return [pe.parse_pr_line(line) for line in f]


def _events() -> list[pe.PrEvent]:
    return [e for e in _parsed() if isinstance(e, pe.PrEvent)]


def _opened() -> pe.PrEvent:
    return next(e for e in _events() if e.kind == pe.OPENED)._replace(
        license="MIT", body="Fix the spelling of 'commit' in the README, which had two t's in three places."
    )


def _merged(opened: pe.PrEvent) -> pe.PrEvent:
    return opened._replace(kind=pe.CLOSED, merged=True, event_id="z", created_at="2019-05-16T00:00:00Z")


def test_every_line_is_a_pull_request_event_a_skip_or_a_failure():
    outcomes = Counter(type(x).__name__ + ":" + (x.kind if isinstance(x, pe.PrEvent) else x.reason) for x in _parsed())
    assert outcomes["PrEvent:opened"] == 4 and outcomes["PrEvent:closed"] == 2
    assert outcomes["PrEvent:review"] == 3 and outcomes["Skip:review_dismissed"] == 1
    assert outcomes["PrEvent:review_comment"] == 3 and outcomes["Skip:review_comment_edited"] == 1
    assert outcomes["Skip:pull_request_labeled"] == 2 and outcomes["Skip:issue"] == 9  # issue comments on issues
    assert outcomes["Skip:type_IssuesEvent"] == 29
    assert not any(k.startswith("Fail") for k in outcomes)
    (hunk,) = {e.diff_hunk for e in _events() if e.kind == pe.REVIEW_COMMENT}
    assert hunk.startswith("@@ -1 +1 @@")


def test_a_merged_pull_request_with_a_permissive_license_is_kept_with_its_comments():
    opened = _opened()
    review = next(e for e in _events() if e.kind == pe.REVIEW)._replace(actor="octocat", review_state="approved")
    comment = next(e for e in _events() if e.kind == pe.REVIEW_COMMENT)._replace(actor="octocat")
    pr = decide_pull_request([opened, review, comment, _merged(opened)], PERMISSIVE)
    assert isinstance(pr, PullRequest) and pr.merged
    assert (pr.repo_name, pr.number, pr.base_sha[:8], pr.head_sha[:8]) == (
        "Codertocat/Hello-World",
        2,
        "f95f852b",
        "ec26c3e5",
    )
    assert [c.kind for c in pr.comments] == ["review", "review_comment"]  # time order; the review says approved


def test_each_pull_request_rule_drops_with_its_reason():
    opened = _opened()
    merged = _merged(opened)
    assert decide_pull_request([opened._replace(author="dependabot[bot]"), merged], PERMISSIVE).reason == "bot_author"
    assert decide_pull_request([opened._replace(license="GPL-3.0"), merged], PERMISSIVE) == Drop(
        "non_permissive", "GPL-3.0"
    )
    assert decide_pull_request([opened._replace(license=""), merged], PERMISSIVE).reason == "non_permissive"
    retargeted = merged._replace(base_ref="develop")
    assert decide_pull_request([opened, retargeted], PERMISSIVE) == Drop("base_changed", "develop -> master")
    assert decide_pull_request([opened], PERMISSIVE).reason == "not_approved_or_merged"
    closed = merged._replace(merged=False)
    assert decide_pull_request([opened, closed], PERMISSIVE).reason == "not_approved_or_merged"
    for title in ("Fix typo", "Bump lodash dependency to 4.17.21", "Prepare release 2.0"):
        assert decide_pull_request([opened._replace(title=title), merged], PERMISSIVE).reason == "title"
    assert decide_pull_request([opened._replace(body="Fixes #1"), merged], PERMISSIVE).reason == "description"
    qwiet = opened._replace(body="Qwiet AI found a vulnerability in the README rendering code path.")
    assert decide_pull_request([qwiet, merged], PERMISSIVE) == Drop("description", "Qwiet")
    bots = [opened._replace(author="renovate-bot", actor="renovate-bot"), merged._replace(actor="renovate-bot")]
    assert decide_pull_request(bots, PERMISSIVE).reason == "bot_author"
    # a person's pull request that only bots acted on (a bot opened and merged it for them)
    by_bots = [opened._replace(actor="mergify[bot]"), merged._replace(actor="mergify[bot]")]
    assert decide_pull_request(by_bots, PERMISSIVE) == Drop("bot_only", "2 events")


def test_long_titles_and_descriptions_are_cut():
    lines = inspect.getsource(json).split("\n")[:120]
    cut = cut_description("\n".join(lines))
    assert len(cut) <= 1000 and cut.split("\n")[:5] == lines[:5]
    short = "\n".join(line[:5] for line in lines)
    assert cut_description(short).split("\n") == [line[:5] for line in lines[:60] + lines[-20:]]
    opened = _opened()._replace(title="Spelling " + PROSE[:700], body=PROSE)
    pr = decide_pull_request([opened, _merged(opened)], PERMISSIVE)
    assert len(pr.title) == 500 and len(pr.description) == 1000


def test_comment_rules_drop_bots_short_comments_and_huge_hunks():
    opened = _opened()
    comment = next(e for e in _events() if e.kind == pe.REVIEW_COMMENT)
    talk = [
        comment._replace(kind=pe.COMMENT, actor="octocat", text="LGTM", comment_id=1),
        comment._replace(kind=pe.COMMENT, actor="codecov-io", text=PROSE[:300], comment_id=2),
        comment._replace(kind=pe.COMMENT, actor="octocat", text=PROSE[:300], comment_id=3),
        comment._replace(actor="octocat", text="Nit", comment_id=4),  # a short review comment stays
        comment._replace(actor="octocat", text=PROSE[:50], comment_id=5, diff_hunk="@@ -1 +1 @@\n" + "x" * 10_001),
    ]
    pr = decide_pull_request([opened, *talk, _merged(opened)], PERMISSIVE)
    assert [(c.comment_id, c.kind) for c in pr.comments] == [(3, "comment"), (4, "review_comment")]


def test_subsampling_follows_the_papers_curve_and_is_seeded():
    assert keep_probability(1) == 0.8 and abs(keep_probability(1000) - 0.1) < 1e-12
    assert abs(keep_probability(500) - (0.8 - 0.7 * 499 / 999)) < 1e-12 and keep_probability(4000) == 0.025
    kept = sum(sampled(7, "octo-org/big", n, 4000) for n in range(1, 4001))
    assert 70 <= kept <= 130  # about 100 of 4,000
    assert [sampled(7, "o/r", n, 1) for n in range(50)] == [sampled(7, "O/R", n, 1) for n in range(50)]
    assert [sampled(7, "o/r", n, 1) for n in range(50)] != [sampled(8, "o/r", n, 1) for n in range(50)]
