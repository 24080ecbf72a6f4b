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
from collections import defaultdict
from collections.abc import Sequence

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows

from stack_v2 import beam_tuning, progress
from stack_v2.counters import BundleSums, add_counts, count_outcome
from stack_v2.records import DroppedRow, FileRecord
from stack_v2.verdicts import BYTES, INPUT, KEPT, Drop, Fail, counter_name, outcome_of

# What stage modules use, from the ground floor (stack_v2.verdicts, stack_v2.counters) and from here.
__all__ = [
    "BYTES",
    "DROPPED",
    "INPUT",
    "KEPT",
    "ApplyCore",
    "ApplyCores",
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

beam_tuning.install()  # also on workers, which import this module to run the stages

DROPPED = "dropped"  # the tagged output of dropped rows
STATS = "stats"  # the tagged output of report.json entries


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


class _CoresFn(beam.DoFn):
    """Runs one or more consecutive stages' cores on each record, in order, and counts per bundle.

    Counting per bundle (report entries on ``stats``, Beam counters at ``finish_bundle``) rather than per
    record through Map branches: a record then costs one element operation of the runner for the whole
    run of stages instead of two per stage, which is most of what a per-record stage costs."""

    def __init__(self, steps: tuple, counted_as: tuple):
        self._steps, self._counted_as = steps, counted_as
        self._progress = progress.target()

    def setup(self):
        progress.attach(self._progress)
        # heavy resources load once per worker
        self._cores = [(stage, make_core(), stats) for stage, make_core, stats in self._steps]

    def start_bundle(self):
        self._entries = BundleSums()  # report.json's (stage, outcome, reason) -> [files, bytes]: stats, drops
        self._counts = BundleSums()  # Beam counters: (stage, counter name) -> [files, bytes]: drops
        # Per stage, [files, bytes] that entered it and that it kept (sizes as the record entered it): the
        # input and kept entries and counters are these sums, made once per bundle at finish_bundle.
        self._in = [[0, 0] for _ in self._cores]
        self._kept = [[0, 0] for _ in self._cores]
        self._micros = defaultdict(float)

    def process(self, record: FileRecord):
        entries, counts, entered, kept = self._entries, self._counts, self._in, self._kept
        for index, (stage, core, stats) in enumerate(self._cores):
            size = record.length_bytes or 0
            tally = entered[index]
            tally[0] += 1
            tally[1] += size
            started = time.perf_counter()
            try:
                verdict = core(record)
            except Exception as exc:  # keep the bundle alive; the record is accounted as failed
                verdict = Fail("error", error_detail(exc))
                logging.getLogger("stack_v2").warning("stage %s: blob %s failed: %r", stage, record.blob_id, exc)
            self._micros[stage] += time.perf_counter() - started
            if isinstance(verdict, (Drop, Fail)):
                outcome = outcome_of(verdict)
                counts.add((stage, counter_name(outcome, verdict.reason)), size)
                progress.count(stage, outcome, size)
                yield pvalue.TaggedOutput(DROPPED, dropped_row(record, stage, verdict))
                return
            tally = kept[index]
            tally[0] += 1
            tally[1] += size
            progress.count(stage, KEPT, size)
            record = verdict
            if stats is not None:
                for key, (files, nbytes) in stats(record):
                    entries.add(key, nbytes, files)
        yield record

    def finish_bundle(self):
        entries, counts = self._entries, self._counts
        stages = [stage for stage, _core, _stats in self._cores]
        first = self._in[0]
        if first[0]:
            for stage, outcome in self._counted_as:  # what every record also counts as on entering
                entries.add((stage, outcome, ""), first[1], first[0])
                if outcome == INPUT:
                    counts.add((stage, INPUT), first[1], first[0])
        for index, stage in enumerate(stages):
            files, nbytes = self._kept[index]
            if files:
                counts.add((stage, KEPT), nbytes, files)
            files, nbytes = self._in[index]
            if index and files:  # an inner stage's input is its predecessor's kept output
                entries.add((stages[index - 1], KEPT, ""), nbytes, files)
                entries.add((stage, INPUT, ""), nbytes, files)
                counts.add((stage, INPUT), nbytes, files)
        for (stage, name), (files, nbytes) in counts.items():
            add_counts(stage, name, files, nbytes)
        for stage, seconds in self._micros.items():
            add_counts("stage_time_us", stage, int(seconds * 1e6), 0)
        for key, (files, nbytes) in entries.items():
            yield pvalue.TaggedOutput(STATS, GlobalWindows.windowed_value((key, (files, nbytes))))


class ApplyCores(beam.PTransform):
    """FileRecord -> {'kept': FileRecord, 'dropped': DroppedRow, 'stats': report entries}: the cores of
    consecutive stages (``ApplyCore.steps``) applied in one DoFn. ``counted_as``: what each input record
    also counts as in report.json (the previous stage's kept output, the first stage's input); ``stats``
    holds those, each inner stage's input and its predecessor's kept output, and the stages' own stats.
    The last stage's kept output is left to the caller to count (it is the next stage's input too)."""

    def __init__(self, steps: Sequence[tuple], counted_as: Sequence[tuple[str, str]] = ()):
        super().__init__()
        self._steps, self._counted_as = tuple(steps), tuple(counted_as)

    def expand(self, records):
        return _apply_cores(records, "Cores", self._steps, self._counted_as)


class ApplyCore(beam.PTransform):
    """FileRecord -> {'kept': FileRecord, 'dropped': DroppedRow}, running ``make_core()``'s callable;
    ``stats(kept record)`` -> report.json entries ``((section, key, detail), (n, bytes))`` adds ``stats``.
    A build runs consecutive ``ApplyCore`` stages as one ``ApplyCores`` (``steps``)."""

    def __init__(self, stage: str, make_core, stats=None):
        super().__init__()
        self.steps = ((stage, make_core, stats),)

    def expand(self, records):
        out = _apply_cores(records, "Core", self.steps, ())
        if self.steps[0][2] is None:  # no stats of its own: an empty output is not returned
            del out[STATS]
        return out


def _apply_cores(records, label: str, steps: tuple, counted_as: tuple) -> dict:
    out = records | label >> beam.ParDo(_CoresFn(steps, counted_as)).with_outputs(DROPPED, STATS, main="kept")
    return {"kept": out.kept, "dropped": out[DROPPED], STATS: out[STATS]}
