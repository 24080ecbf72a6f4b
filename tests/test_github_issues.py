"""The GitHub issues source's cores: GHArchive lines -> issue events -> threads, by StarCoder's rules.

Events are GitHub's real webhook payloads (tests/data/gharchive/octokit-events.json.gz, from the npm package
@octokit/webhooks-examples; see make_octokit_events.py there). The payloads' own texts are short, so the cases
for the size and truncation rules put real text in them: the docstrings and source of standard-library modules.
"""

from __future__ import annotations

import gzip
import inspect
import json
import json.decoder
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from stack_v2.github import events as ev
from stack_v2.github.bots import is_bot
from stack_v2.github.email_replies import strip_email_reply
from stack_v2.github.issue_threads import (
    ISSUE_CLOSED,
    IssueThread,
    decide_thread,
    truncate,
)
from stack_v2.verdicts import Drop, Fail

FIXTURE = Path(__file__).parent / "data" / "gharchive" / "octokit-events.json.gz"
PROSE = " ".join(textwrap.dedent(inspect.getdoc(json)).split())  # about 2,800 characters of real prose


def _lines() -> list[str]:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def _parsed() -> list:
    return [ev.parse_line(line) for line in _lines()]


def _opened() -> ev.IssueEvent:
    return next(e for e in _parsed() if isinstance(e, ev.IssueEvent) and e.kind == ev.OPENED and e.issue_body)


def _comment() -> ev.IssueEvent:
    return next(e for e in _parsed() if isinstance(e, ev.IssueEvent) and e.kind == ev.COMMENT)


def _comment_by(author: str, text: str, n: int) -> ev.IssueEvent:
    base = _comment()
    return base._replace(
        actor=author, text=text, comment_id=base.comment_id + n, event_id=f"{base.event_id}{n:03d}",
        created_at=f"2019-05-15T16:{n // 60:02d}:{n % 60:02d}Z",
    )  # fmt: skip


def test_every_line_of_the_fixture_is_an_event_a_skip_or_a_failure_with_a_reason():
    outcomes = Counter(
        type(x).__name__ + ":" + (x.kind if isinstance(x, ev.IssueEvent) else x.reason) for x in _parsed()
    )
    # The fixture's issue payloads: 4 "opened", 1 "reopened", 5 created comments; the rest are not new text.
    assert outcomes["IssueEvent:opened"] == 4
    assert outcomes["IssueEvent:reopened"] == 1
    assert outcomes["IssueEvent:comment"] == 5
    assert outcomes["Skip:comment_edited"] == 2 and outcomes["Skip:comment_deleted"] == 2
    assert outcomes["Skip:issue_labeled"] == 2
    assert outcomes["Skip:pull_request"] == 4  # milestone events on issue #2, which is a pull request
    assert outcomes["Skip:type_PullRequestEvent"] == 29
    assert outcomes["Skip:type_PushEvent"] >= 1
    assert not any(key.startswith("Fail") for key in outcomes)
    assert sum(outcomes.values()) == len(_lines())


def test_a_line_that_is_not_an_issue_event_fails_with_a_reason_naming_it():
    assert ev.parse_line("{not json") == Fail("malformed_json", ev.parse_line("{not json").detail)
    assert ev.parse_line("[1, 2]").reason == "malformed_json"
    line = json.loads(_lines()[0])
    assert line["type"] == "IssuesEvent"
    del line["payload"]["issue"]
    failed = ev.parse_line(json.dumps(line))
    assert isinstance(failed, Fail) and failed.reason == "malformed_event"
    assert "no 'issue' field" in failed.detail and line["id"] in failed.detail


def test_an_event_carries_the_issue_so_a_thread_read_without_its_opening_has_its_body():
    comment = _comment()
    assert comment.repo_name == "Codertocat/Hello-World" and comment.number == 1
    assert comment.issue_title == "Spelling error in the README file"
    assert comment.issue_body.startswith("It looks like you accidently spelled")
    thread = decide_thread([comment._replace(text=PROSE)])
    assert isinstance(thread, IssueThread)
    assert thread.content.startswith(
        "<issue_start>Title: Spelling error in the README file\nusername_0: It looks like you accidently"
    )


def test_real_thread_under_200_characters_is_dropped():
    opened, comment = _opened(), _comment()
    size = len(opened.issue_body) + len(comment.text)
    assert size == 114
    assert decide_thread([opened, comment]) == Drop("too_short", "114 chars < 200")


def test_two_users_keep_a_thread_and_render_in_starcoder2_issue_format():
    opened = _opened()
    reply = _comment_by("octocat", PROSE[:400], 1)
    closed = reply._replace(kind=ev.CLOSED, text="", event_id=reply.event_id + "9", created_at="2019-05-16T00:00:00Z")
    thread = decide_thread([closed, reply, opened, reply])  # any order, duplicates
    assert isinstance(thread, IssueThread)
    assert thread.users == 2 and thread.events == 3 and thread.closed
    assert thread.content == (
        f"<issue_start>Title: {opened.issue_title}\nusername_0: {opened.issue_body}"
        f"<issue_comment>username_1: {PROSE[:400]}{ISSUE_CLOSED}"
    )


def test_a_close_followed_by_a_reopen_is_not_closed():
    opened = _opened()
    reply = _comment_by("octocat", PROSE[:400], 1)
    close = reply._replace(kind=ev.CLOSED, text="", event_id="a", created_at="2019-05-16T00:00:00Z")
    reopen = reply._replace(kind=ev.REOPENED, text="", event_id="b", created_at="2019-05-17T00:00:00Z")
    thread = decide_thread([opened, reply, close, reopen])
    assert not thread.closed and not thread.content.endswith(ISSUE_CLOSED) and thread.events == 4


def test_single_user_threads_are_kept_only_when_short_with_few_events():
    opened = _opened()
    author = opened.issue_author
    words = PROSE.split()
    ten = [opened] + [_comment_by(author, " ".join(words[i * 40 : i * 40 + 40]), i) for i in range(9)]
    kept = decide_thread(ten)
    assert isinstance(kept, IssueThread) and kept.users == 1 and kept.events == 10
    eleven = ten + [_comment_by(author, "Closing: the spelling is fixed in the README.", 10)]
    assert decide_thread(eleven).reason == "single_user"
    long_one = [opened, _comment_by(author, (PROSE + "\n") * 3, 1)]
    assert sum(len(e.text) for e in long_one[1:]) + len(opened.issue_body) > 7000
    assert decide_thread(long_one) == Drop("single_user", decide_thread(long_one).detail)
    # the same text from two people is kept whatever its size
    assert isinstance(decide_thread([opened, _comment_by("octocat", (PROSE + "\n") * 3, 1)]), IssueThread)


def test_bots_are_removed_and_a_thread_of_bots_only_is_dropped():
    assert all(is_bot(n) for n in ("dependabot[bot]", "renovate-bot", "k8s-ci-robot", "coveralls", "travis-ci"))
    assert all(is_bot(n) for n in ("kubernetes-TEST-infra", "acme-deployer", "Apache-HBase"))
    assert not any(is_bot(n) for n in ("Codertocat", "octocat", "robotics-lab", "apache-hbase"))
    opened = _opened()
    bot_reply = _comment_by("codecov-commenter", PROSE[:400], 1)
    assert decide_thread([opened, bot_reply]).reason == "too_short"  # the bot's 400 characters do not count
    human = _comment_by("octocat", PROSE[:400], 2)
    thread = decide_thread([opened, bot_reply, human])
    assert thread.events == 2 and "codecov" not in thread.content
    bots_only = [opened._replace(issue_author="dependabot[bot]"), bot_reply]
    assert decide_thread(bots_only) == Drop("bot_thread", "2 events, all by bots")


def test_email_reply_boilerplate_is_stripped():
    reply = (
        "Thanks, that fixed it for me too.\n"
        "\n"
        "On Wed, May 15, 2019 at 3:20 PM Codertocat <notifications@github.com> wrote:\n"
        "\n"
        "> It looks like you accidently spelled 'commit' with two 't's.\n"
        ">\n"
        "\n"
        "\u2014\n"
        "You are receiving this because you commented.\n"
        "Reply to this email directly, view it on GitHub\n"
        "<https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400>, or mute the thread\n"
        "<https://github.com/notifications/unsubscribe-auth/AAAA>.\n"
    )
    assert strip_email_reply(reply) == "Thanks, that fixed it for me too."
    signed = "Applied the fix.\n\nSigned-off-by: Jane Doe <jane@example.org>\n" + "_" * 30 + "\nBye"
    assert strip_email_reply(signed) == "Applied the fix.\n\nBye"
    assert strip_email_reply(PROSE) == PROSE  # prose is left alone


def test_long_comments_keep_the_first_80_and_last_20_lines_as_the_paper_says():
    source = inspect.getsource(json.decoder).split("\n")
    assert len(source) > 150
    text = "\n".join(source[:150])
    lines = truncate(text).split("\n")
    assert lines == source[:80] + ["[Truncated]"] + source[130:150]
    hundred = "\n".join(source[:100])
    assert truncate(hundred) == hundred


def test_usernames_are_anonymised_in_labels_and_texts_as_whole_words():
    opened = _opened()  # by Codertocat
    reply = _comment_by("octo-cat", "@Codertocat, Codertocats everywhere agree with " + PROSE[:300], 1)
    answer = _comment_by(opened.issue_author, "Thanks @octo-cat and octo-cat; " + PROSE[300:600], 2)
    thread = decide_thread([opened, reply, answer])
    assert "Codertocat" not in thread.content.replace("Codertocats", "") and "octo-cat" not in thread.content
    assert "<issue_comment>username_1: @username_0, Codertocats everywhere" in thread.content
    assert "<issue_comment>username_0: Thanks @username_1 and username_1; " in thread.content


@pytest.mark.parametrize("missing", ["repo", "created_at", "actor"])
def test_an_event_without_a_required_field_fails(missing):
    line = json.loads(next(x for x in _lines() if '"IssuesEvent"' in x and '"opened"' in x))
    line[missing] = None
    assert ev.parse_line(json.dumps(line)).reason == "malformed_event"
