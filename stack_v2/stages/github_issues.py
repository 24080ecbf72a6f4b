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

import io
import logging

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows

from stack_v2 import storage
from stack_v2.counters import BundleSums, add_counts, count_outcome
from stack_v2.github.events import IssueEvent, Skip, parse_line
from stack_v2.github.issue_documents import issue_document
from stack_v2.github.issue_threads import IssueThread, decide_thread
from stack_v2.records import DroppedRow
from stack_v2.stages.base import DROPPED, STATS, error_detail
from stack_v2.verdicts import FAILED, INPUT, KEPT, Fail, outcome_of

EVENTS_STAGE, THREADS_STAGE = "gharchive_events", "issue_threads"
EVENTS_SECTION = "@" + EVENTS_STAGE
_READ_CHUNK = 1 << 20


def _failed_line(where: str, verdict: Fail, nbytes: int) -> DroppedRow:
    return DroppedRow(None, None, where, THREADS_STAGE, FAILED, verdict.reason, verdict.detail, nbytes)


class _ReadEvents(beam.DoFn):
    """A file's lines -> ((repo, number), IssueEvent); failed lines and files -> DroppedRows; counts per bundle."""

    def start_bundle(self):
        self._sums = BundleSums()

    def process(self, uri: str):
        name = storage.basename(uri)
        sums = self._sums
        try:
            for number, line in enumerate(_lines(uri), start=1):
                sums.add((EVENTS_SECTION, "lines", ""), len(line))
                event = parse_line(line)
                if isinstance(event, IssueEvent):
                    sums.add((EVENTS_SECTION, "used", ""), len(line))
                    yield (event.repo_name.lower(), event.number), event
                elif isinstance(event, Skip):
                    sums.add((EVENTS_SECTION, "skipped", event.reason), len(line))
                else:
                    sums.add((EVENTS_SECTION, "failed", event.reason), len(line))
                    sums.add((THREADS_STAGE, INPUT, ""), len(line))
                    yield pvalue.TaggedOutput(DROPPED, _failed_line(f"{name}:{number}", event, len(line)))
        except (OSError, EOFError, ValueError) as exc:  # unreadable or corrupt: the file fails, by name
            logging.getLogger("stack_v2").warning("%s: %r", uri, exc)
            sums.add((EVENTS_SECTION, "failed", "unreadable_file"), 0)
            sums.add((THREADS_STAGE, INPUT, ""), 0)
            yield pvalue.TaggedOutput(DROPPED, _failed_line(name, Fail("unreadable_file", error_detail(exc)), 0))

    def finish_bundle(self):
        for key, (n, nbytes) in self._sums.items():
            if key[0] == THREADS_STAGE:
                add_counts(THREADS_STAGE, INPUT, n, nbytes)
            yield pvalue.TaggedOutput(STATS, GlobalWindows.windowed_value((key, (n, nbytes))))


def _lines(uri: str):
    """The file's lines, decompressed as they are read (a GHArchive hour is up to a few hundred MB)."""
    fs, path = storage.filesystem(uri)
    compression = "gzip" if uri.endswith(".gz") else None
    with fs.open_input_stream(path, compression=compression, buffer_size=_READ_CHUNK) as raw:
        for line in io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="\n"):
            if line.strip():
                yield line


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
        read = (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadEvents" >> beam.ParDo(_ReadEvents()).with_outputs(DROPPED, STATS, main="events")
        )
        decided = (
            read.events
            | "ByIssue" >> beam.GroupByKey()
            | "Decide" >> beam.ParDo(_DecideThreads()).with_outputs(DROPPED, STATS, main="kept")
        )
        dropped = (read[DROPPED], decided[DROPPED]) | "Dropped" >> beam.Flatten()
        stats = (read[STATS], decided[STATS]) | "Stats" >> beam.Flatten()
        return {"kept": decided.kept, "dropped": dropped, STATS: stats}
