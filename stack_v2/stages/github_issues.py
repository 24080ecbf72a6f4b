"""The GitHub issues source as Beam transforms: GHArchive files -> issue threads as ``Document``s.

``ReadIssueThreads(files)`` reads every line of the given GHArchive files (gzip by the ``.gz`` suffix;
local or in an object store), keeps the issue events (``stack_v2.github.events``), groups them by issue
(repository, number: the one shuffle, of the issue events only) and decides each thread
(``stack_v2.github.issue_threads``). Outputs:

- ``kept``: a ``Document`` per kept thread (``stack_v2.github.issue_documents``);
- ``dropped``: a ``DroppedRow`` per dropped thread (reason of its rule) and per line or file that could not
  be read (outcome ``failed``: a malformed line, an issue event without its fields, an unreadable or
  corrupt file), all in stage ``issue_threads``;
- ``stats``: report entries, summed per bundle: ``@gharchive_events`` counts lines read, issue events
  used, lines skipped by reason (other event types, comments on pull requests, actions without new
  text) and lines failed by reason; ``issue_threads`` counts its input: the threads formed, and the lines
  and files that failed (a failure is an input that could not become a thread, so the failure budget
  counts it).

A thread is a DroppedRow's ``path`` ``issues/<number>`` with its ``repo_name``; a failed line is
``<file name>:<line number>``.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows

from stack_v2.counters import add_counts, count_outcome
from stack_v2.github.events import parse_line
from stack_v2.github.issue_documents import issue_document
from stack_v2.github.issue_threads import IssueThread, decide_thread
from stack_v2.records import DroppedRow
from stack_v2.stages.base import DROPPED, STATS, error_detail
from stack_v2.stages.gharchive import ReadLines
from stack_v2.verdicts import INPUT, KEPT, Fail, outcome_of

EVENTS_STAGE, THREADS_STAGE = "gharchive_events", "issue_threads"
EVENTS_SECTION = "@" + EVENTS_STAGE


class _DecideThreads(beam.DoFn):
    """(issue, its events) -> a Document, or a DroppedRow with the rule that removed the thread; the threads
    formed are the stage's input (counted per bundle: a kept thread by its document's bytes, a dropped one as 0)."""

    def start_bundle(self):
        self._input = [0, 0]

    def process(self, keyed):
        _, events = keyed
        events = list(events)  # one issue's events: a handful, at most a few thousand
        first = min(events, key=lambda e: (e.created_at, e.event_id))
        try:
            verdict = decide_thread(events)
        except Exception as exc:  # a bug must not lose the thread: it fails, by name
            verdict = Fail("error", error_detail(exc))
        self._input[0] += 1
        if isinstance(verdict, IssueThread):
            document = issue_document(verdict)
            self._input[1] += document.length_bytes
            count_outcome(THREADS_STAGE, KEPT, "", document.length_bytes)
            yield document
            return
        outcome = outcome_of(verdict)
        count_outcome(THREADS_STAGE, outcome, verdict.reason, 0)
        row = DroppedRow(
            None, first.repo_name, f"issues/{first.number}", THREADS_STAGE, outcome, verdict.reason, verdict.detail, 0
        )
        yield pvalue.TaggedOutput(DROPPED, row)

    def finish_bundle(self):
        files, nbytes = self._input
        if files:
            add_counts(THREADS_STAGE, INPUT, files, nbytes)
            yield pvalue.TaggedOutput(
                STATS, GlobalWindows.windowed_value(((THREADS_STAGE, INPUT, ""), (files, nbytes)))
            )


class ReadIssueThreads(beam.PTransform):
    """GHArchive file URIs -> {'kept': Document, 'dropped': DroppedRow, 'stats': report entries}."""

    def __init__(self, files: list[str]):
        super().__init__()
        self._files = list(files)

    def expand(self, pbegin):
        read = pbegin | "ReadEvents" >> ReadLines(self._files, parse_line, EVENTS_SECTION, THREADS_STAGE)
        decided = (
            read["events"]
            | "ByIssue" >> beam.GroupByKey()
            | "Decide" >> beam.ParDo(_DecideThreads()).with_outputs(DROPPED, STATS, main="kept")
        )
        dropped = (read[DROPPED], decided[DROPPED]) | "Dropped" >> beam.Flatten()
        stats = (read[STATS], decided[STATS]) | "Stats" >> beam.Flatten()
        return {"kept": decided.kept, "dropped": dropped, STATS: stats}
