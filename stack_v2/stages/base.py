"""What every stage shares: a pure core's verdict (keep, Drop, Fail), routing, counters and progress.

A stage core is a plain callable ``core(record) -> FileRecord | Drop | Fail``; ``ApplyCore`` runs it
in a DoFn, sends kept records on and turns the rest into ``DroppedRow``s. An exception in a core
fails that record (reason ``error``) and the run goes on: nothing disappears.

Beam counters (what Dataflow's and Spark's UIs show, and what ``io.metrics_report`` turns into the
report.json funnel): namespace = the stage's name in report.json, names ``input``, ``kept``,
``dropped_<reason>``, ``failed_<reason>`` counting files and the same with a ``bytes_`` prefix counting
``length_bytes``. Every record a stage decides on passes through ``routed`` (or ``count_dropped_row``
for rows made without a record verdict), which increments them; ``input`` is counted where report.json
counts a stage's input.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import traceback
from typing import NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from stack_v2 import progress
from stack_v2.records import DroppedRow, FileRecord

DROPPED = "dropped"


class Drop(NamedTuple):
    """A decision: the record is left out (reason snake_case, detail the measured value)."""

    reason: str
    detail: str = ""


class Fail(NamedTuple):
    """An error: the record could not be processed (missing object, unreadable, ...)."""

    reason: str
    detail: str = ""


def dropped_row(record: FileRecord, stage: str, verdict: Drop | Fail) -> DroppedRow:
    return DroppedRow(
        blob_id=record.blob_id, repo_name=record.repo_name, path=record.path, stage=stage,
        outcome=outcome_of(verdict), reason=verdict.reason, detail=verdict.detail,
        length_bytes=record.length_bytes,
    )  # fmt: skip


INPUT, KEPT = "input", "kept"
BYTES = "bytes_"


def outcome_of(verdict: Drop | Fail) -> str:
    """The outcome word of dropped/ and report.json: ``dropped`` or ``failed``."""
    return "failed" if isinstance(verdict, Fail) else "dropped"


def counter_name(outcome: str, reason: str = "") -> str:
    """``input``, ``kept``, ``dropped_<reason>`` or ``failed_<reason>``: a stage's counter for files."""
    return f"{outcome}_{reason}" if outcome not in (INPUT, KEPT) else outcome


@functools.lru_cache(maxsize=4096)
def _counters(stage: str, name: str):
    # Beam counters find the running bundle's container when incremented, so they can be shared.
    return Metrics.counter(stage, name), Metrics.counter(stage, BYTES + name)


def count_outcome(stage: str, outcome: str, reason: str = "", nbytes: int | None = 0) -> None:
    """One file (and its bytes) into the stage's ``outcome`` counters (outcome ``input``, ``kept``,
    ``dropped`` or ``failed``; a reason for the last two)."""
    files, size = _counters(stage, counter_name(outcome, reason))
    files.inc()
    if nbytes:
        size.inc(nbytes)
    if outcome != INPUT:
        progress.count(stage, outcome, nbytes)


def count_dropped_row(row: DroppedRow) -> DroppedRow:
    """Count a DroppedRow made without ``routed`` (fetch failures, traversal problems); returns it."""
    count_outcome(row.stage, row.outcome, row.reason, row.length_bytes)
    return row


def routed(stage: str, record: FileRecord, verdict):
    """The kept record on the main output, or its DroppedRow on ``dropped``; counted (Beam counters, progress)."""
    if isinstance(verdict, (Drop, Fail)):
        count_outcome(stage, outcome_of(verdict), verdict.reason, record.length_bytes)
        yield pvalue.TaggedOutput(DROPPED, dropped_row(record, stage, verdict))
    else:
        count_outcome(stage, KEPT, "", record.length_bytes)
        yield verdict


def error_detail(exc: BaseException) -> str:
    """Where an exception came from, not its message: messages quote their input (``int('...')``), and a
    dropped/ detail must never carry a file's content. The worker's log has the message, for debugging."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno} ({frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}{where}"


class _ApplyCoreFn(beam.DoFn):
    def __init__(self, stage: str, make_core):
        self._stage, self._make_core = stage, make_core
        self._progress = progress.target()

    def setup(self):
        progress.attach(self._progress)
        self._core = self._make_core()  # heavy resources load once per worker
        self._micros = Metrics.counter("stage_time_us", self._stage)

    def process(self, record: FileRecord):
        started = time.perf_counter()
        try:
            verdict = self._core(record)
        except Exception as exc:  # keep the bundle alive; the record is accounted as failed
            verdict = Fail("error", error_detail(exc))
            logging.getLogger("stack_v2").warning("stage %s: blob %s failed: %r", self._stage, record.blob_id, exc)
        self._micros.inc(int((time.perf_counter() - started) * 1e6))
        yield from routed(self._stage, record, verdict)  # counts kept / dropped_<reason> / failed_<reason>


class ApplyCore(beam.PTransform):
    """FileRecord -> {'kept': FileRecord, 'dropped': DroppedRow}, running ``make_core()``'s callable."""

    def __init__(self, stage: str, make_core):
        super().__init__()
        self._stage, self._make_core = stage, make_core

    def expand(self, records):
        out = records | "Core" >> beam.ParDo(_ApplyCoreFn(self._stage, self._make_core)).with_outputs(
            DROPPED, main="kept")  # fmt: skip
        return {"kept": out.kept, "dropped": out[DROPPED]}
