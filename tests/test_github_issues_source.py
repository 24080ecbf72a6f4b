"""The issues source on Beam's DirectRunner: GHArchive files (real payloads, tests/data/gharchive) -> thread
documents, dropped rows and the per-line accounting, including lines and files that cannot be read."""

from __future__ import annotations

import gzip
import inspect
import json
import shutil
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest

from stack_v2.documents import Document
from stack_v2.input_files import NoInputFiles, match_files
from stack_v2.stages.github_issues import EVENTS_STAGE, THREADS_STAGE, ReadIssueThreads

FIXTURE = Path(__file__).parent / "data" / "gharchive" / "octokit-events.json.gz"
PROSE = " ".join(inspect.getdoc(json).split())


def _conversation(template: dict) -> list[dict]:
    """Issue #1 of the fixture answered by a second person at length (real prose: the json module's docs)."""
    lines = []
    for i, (author, text) in enumerate([("octocat", PROSE[:900]), ("Codertocat", PROSE[900:1300])]):
        event = json.loads(json.dumps(template))
        event["id"] = f"99000000{i}"
        event["payload"]["comment"]["id"] = 77000 + i
        event["payload"]["comment"]["user"]["login"] = author
        event["payload"]["comment"]["body"] = text
        event["created_at"] = f"2019-05-15T16:00:0{i}Z"
        lines.append(event)
    return lines


@pytest.fixture()
def gharchive(tmp_path) -> Path:
    hours = tmp_path / "gharchive"
    hours.mkdir()
    shutil.copy(FIXTURE, hours / "2019-05-15-15.json.gz")
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        events = [json.loads(line) for line in f]
    comment = next(e for e in events if e["type"] == "IssueCommentEvent" and e["payload"]["action"] == "created")
    with gzip.open(hours / "2019-05-15-16.json.gz", "wt", encoding="utf-8") as f:
        for event in _conversation(comment):
            f.write(json.dumps(event) + "\n")
        f.write('{"id": "1", "type": "IssuesEvent", "payload": \n')  # cut short, as a truncated download
    (hours / "2019-05-15-17.json.gz").write_bytes(gzip.compress(b'{"id": "2"}\n')[:20])  # a corrupt file
    return hours


def _run(files, tmp_path) -> dict:
    """The transform's three outputs, written out as JSON lines and read back."""
    with beam.Pipeline("DirectRunner") as p:
        result = p | ReadIssueThreads(files)
        for name in ("kept", "dropped", "stats"):
            as_json = (lambda x: json.dumps(x)) if name == "stats" else (lambda x: json.dumps(x._asdict()))
            (
                result[name]
                | f"Json{name}" >> beam.Map(as_json)
                | f"Write{name}" >> beam.io.WriteToText(str(tmp_path / "out" / name))
            )
    return {
        name: [
            json.loads(line) for f in sorted((tmp_path / "out").glob(f"{name}*")) for line in f.read_text().splitlines()
        ]
        for name in ("kept", "dropped", "stats")
    }


def test_threads_are_built_from_every_file_and_every_line_is_accounted_for(gharchive, tmp_path):
    files = match_files(str(gharchive / "*.json.gz"))
    assert [Path(f).name for f in files] == ["2019-05-15-15.json.gz", "2019-05-15-16.json.gz", "2019-05-15-17.json.gz"]
    out = _run(files, tmp_path)
    (doc,) = [Document(**d) for d in out["kept"]]
    assert doc.repo_name == "Codertocat/Hello-World" and doc.path == "issues/1"
    assert doc.content_id == "github-issue:Codertocat/Hello-World#1"
    assert doc.content.startswith("<issue_start>Title: Spelling error in the README file\nusername_0: ")
    assert "<issue_comment>username_1: " + PROSE[:100] in doc.content
    meta = json.loads(doc.meta)
    assert meta["users"] == 2 and meta["issue_number"] == 1

    dropped = Counter((r["stage"], r["outcome"], r["reason"]) for r in out["dropped"])
    assert dropped == {
        (THREADS_STAGE, "failed", "malformed_json"): 1,
        (THREADS_STAGE, "failed", "unreadable_file"): 1,
    }
    failed = {r["reason"]: r["path"] for r in out["dropped"]}
    assert failed == {"malformed_json": "2019-05-15-16.json.gz:3", "unreadable_file": "2019-05-15-17.json.gz"}

    stats = Counter()
    for key, (n, _) in out["stats"]:
        stats[tuple(key)] += n
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        fixture_lines = sum(1 for _ in f)
    lines = stats[(f"@{EVENTS_STAGE}", "lines", "")]
    assert lines == fixture_lines + 3
    used = stats[(f"@{EVENTS_STAGE}", "used", "")]
    skipped = sum(n for (section, kind, _), n in stats.items() if kind == "skipped")
    failed_lines = stats[(f"@{EVENTS_STAGE}", "failed", "malformed_json")]
    assert used + skipped + failed_lines == lines and used == 10 + 2
    # one thread (every issue event here is issue #1's), the malformed line and the corrupt file
    assert stats[(THREADS_STAGE, "input", "")] == 1 + 2


def test_an_input_that_matches_nothing_is_a_one_line_error_naming_it(tmp_path):
    with pytest.raises(NoInputFiles, match=r"input .*/2023-01-\*\.json\.gz: no file matches"):
        match_files(str(tmp_path / "2023-01-*.json.gz"))
    with pytest.raises(NoInputFiles, match="no such file or directory"):
        match_files(str(tmp_path / "missing.json.gz"))
