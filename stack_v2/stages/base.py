"""What every stage shares: a pure core's verdict (keep, Drop, Fail), routing, counters and progress.

A stage core is a plain callable ``core(record) -> FileRecord | Drop | Fail``; ``ApplyCore`` runs it
in a DoFn, sends kept records on and turns the rest into ``DroppedRow``s. An exception in a core
fails that record (reason ``error``) and the run goes on: nothing disappears.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

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
        outcome="failed" if isinstance(verdict, Fail) else "dropped", reason=verdict.reason, detail=verdict.detail,
        length_bytes=record.length_bytes,
    )  # fmt: skip


def routed(stage: str, record: FileRecord, verdict):
    """The kept record on the main output, or its DroppedRow on ``dropped``; counted for progress."""
    Progress.add(stage, record.length_bytes or 0)
    if isinstance(verdict, (Drop, Fail)):
        yield pvalue.TaggedOutput(DROPPED, dropped_row(record, stage, verdict))
    else:
        yield verdict


class Progress:
    """Per-process progress lines on stderr (files and bytes seen per stage), at most every few seconds.

    Enabled by the CLI; on the DirectRunner the workers are this process, so a person sees it live.
    """

    enabled = False
    interval = 5.0
    _lock = threading.Lock()
    _counts: dict[str, list[int]] = {}
    _last = 0.0

    @classmethod
    def add(cls, stage: str, nbytes: int) -> None:
        if not cls.enabled:
            return
        with cls._lock:
            count = cls._counts.setdefault(stage, [0, 0])
            count[0] += 1
            count[1] += nbytes
            now = time.monotonic()
            if now - cls._last >= cls.interval:
                cls._last = now
                parts = ", ".join(f"{s} {n:,} files {b / 1e6:,.1f} MB" for s, (n, b) in cls._counts.items())
                print(f"[stack-v2] progress: {parts}", file=sys.stderr, flush=True)

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls._counts.clear()
            cls._last = 0.0


class _ApplyCoreFn(beam.DoFn):
    def __init__(self, stage: str, make_core):
        self._stage, self._make_core = stage, make_core

    def setup(self):
        self._core = self._make_core()  # heavy resources load once per worker
        self._kept = Metrics.counter(self._stage, "kept")
        self._micros = Metrics.counter("stage_time_us", self._stage)

    def process(self, record: FileRecord):
        started = time.perf_counter()
        try:
            verdict = self._core(record)
        except Exception as exc:  # keep the bundle alive; the record is accounted as failed
            verdict = Fail("error", f"{type(exc).__name__}: {exc}")
        self._micros.inc(int((time.perf_counter() - started) * 1e6))
        if isinstance(verdict, (Drop, Fail)):
            Metrics.counter(self._stage, f"{type(verdict).__name__.lower()}_{verdict.reason}").inc()
        else:
            self._kept.inc()
        yield from routed(self._stage, record, verdict)


class ApplyCore(beam.PTransform):
    """FileRecord -> {'kept': FileRecord, 'dropped': DroppedRow}, running ``make_core()``'s callable."""

    def __init__(self, stage: str, make_core):
        super().__init__()
        self._stage, self._make_core = stage, make_core

    def expand(self, records):
        out = records | "Core" >> beam.ParDo(_ApplyCoreFn(self._stage, self._make_core)).with_outputs(
            DROPPED, main="kept")  # fmt: skip
        return {"kept": out.kept, "dropped": out[DROPPED]}
