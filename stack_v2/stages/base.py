"""What every stage shares: a pure core's verdict (keep, Drop, Fail), routing, counters and progress.

A stage core is a plain callable ``core(record) -> FileRecord | Drop | Fail``; ``ApplyCore`` runs it
in a DoFn, sends kept records on and turns the rest into ``DroppedRow``s. An exception in a core
fails that record (reason ``error``) and the run goes on: nothing disappears.

Beam counters (what Dataflow's and Spark's UIs show while a job runs; report.json counts the same files
from the PCollections, ``io.report``): namespace = the stage's name in report.json, names ``input``, ``kept``,
``dropped_<reason>``, ``failed_<reason>`` counting files and the same with a ``bytes_`` prefix counting
``length_bytes``. Every record a stage decides on passes through ``routed`` (or ``count_dropped_row``
for rows made without a record verdict), which increments them; ``input`` is counted where report.json
counts a stage's input.
"""

from __future__ import annotations

import logging
import os
import time
import traceback

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from stack_v2 import progress
from stack_v2.counters import count_outcome
from stack_v2.records import DroppedRow, FileRecord
from stack_v2.verdicts import BYTES, INPUT, KEPT, Drop, Fail, counter_name, outcome_of

# What stage modules use, from the ground floor (stack_v2.verdicts, stack_v2.counters) and from here.
__all__ = [
    "BYTES",
    "DROPPED",
    "INPUT",
    "KEPT",
    "ApplyCore",
    "Drop",
    "Fail",
    "count_dropped_row",
    "count_outcome",
    "counter_name",
    "dropped_row",
    "error_detail",
    "outcome_of",
    "routed",
]

DROPPED = "dropped"  # the tagged output of dropped rows


def dropped_row(record: FileRecord, stage: str, verdict: Drop | Fail) -> DroppedRow:
    return DroppedRow(
        blob_id=record.blob_id,
        repo_name=record.repo_name,
        path=record.path,
        stage=stage,
        outcome=outcome_of(verdict),
        reason=verdict.reason,
        detail=verdict.detail,
        length_bytes=record.length_bytes,
    )


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
            DROPPED, main="kept"
        )
        return {"kept": out.kept, "dropped": out[DROPPED]}
