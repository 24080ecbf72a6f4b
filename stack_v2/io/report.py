"""report.json: files and bytes into and out of each stage, per reason, and the accounting check.

Counts come from the PCollections themselves (not runner metrics), so every runner reports the same
numbers, and the funnel is counted once, here. The stages' Beam counters (``stack_v2.counters``) count the
same files under the same names for the runners' UIs while a job runs (tests/test_metrics.py holds them to
these numbers); nothing reconciles the two at run time. The invariant, checked inside
the pipeline: for every stage, input = kept + dropped + failed, and each stage's input is the previous
stage's kept output. A violated invariant fails the run.
"""

from __future__ import annotations

import functools
import json

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from stack_v2 import storage
from stack_v2.counters import BundleSums, count_outcome
from stack_v2.io.parquet import sum_pairs
from stack_v2.records import DroppedRow, FileRecord

INPUT, KEPT, DROPPED, FAILED = "input", "kept", "dropped", "failed"
LANGUAGES = "@languages"
# stages whose removals make the train sets out of the deduplicated set (the card's filter table)


class AccountingError(RuntimeError):
    """Files appeared or vanished between stages: a bug, never a data problem."""


def _record_entries(record: FileRecord, counted_as: tuple[tuple[str, str], ...], languages: bool):
    size = record.length_bytes or 0
    for stage, outcome in counted_as:
        if outcome == INPUT:  # the stage's input as a Beam counter too (its outputs are counted where routed)
            count_outcome(stage, INPUT, "", size)
        yield (stage, outcome, ""), (1, size)
    if languages:
        yield (LANGUAGES, record.language, ""), (1, size)


def _dropped_entry(row: DroppedRow):
    yield (row.stage, row.outcome, row.reason), (1, row.length_bytes or 0)


class _Tally(beam.DoFn):
    """Elements -> their report entries, summed per bundle: a few entries per bundle go on to the report's
    combine instead of one per file and label (each an element the runner moves)."""

    def __init__(self, entries_of):
        self._entries_of = entries_of

    def start_bundle(self):
        self._sums = BundleSums()

    def process(self, element):
        for key, (files, nbytes) in self._entries_of(element):
            self._sums.add(key, nbytes, files)

    def finish_bundle(self):
        for key, (files, nbytes) in self._sums.items():
            yield GlobalWindows.windowed_value((key, (files, nbytes)))


def count_records(records, counted_as: list[tuple[str, str]], languages: bool = False):
    """One pass over ``records`` that counts them as each (stage, outcome) of ``counted_as``: a stage's kept
    output is also the next stage's input; with ``languages``, per language too (the final records)."""
    label = "Count" + "".join(f"{stage}{outcome}" for stage, outcome in counted_as) + ("Languages" if languages else "")
    entries_of = functools.partial(_record_entries, counted_as=tuple(counted_as), languages=languages)
    return records | label >> beam.ParDo(_Tally(entries_of))


def count_dropped(rows, label: str):
    return rows | f"Count{label}" >> beam.ParDo(_Tally(_dropped_entry))


def build_report(entries: list, stages: list[str], filter_stages: tuple[str, ...] = ()) -> dict:
    """Entries ((stage, outcome, reason), (files, bytes)) -> the report dict (not yet checked); the stages in
    ``filter_stages`` make the filter table."""
    totals: dict = {}
    languages = {}
    extras: dict = {}  # other "@name" sections, e.g. @license_detection: {outcome: {reason: files}}
    for (stage, outcome, reason), (files, nbytes) in entries:
        if stage == LANGUAGES:
            languages[outcome] = {"files": files, "bytes": nbytes}
            continue
        if stage.startswith("@"):
            section = extras.setdefault(stage[1:], {}).setdefault(outcome, {})
            section[reason or "all"] = section.get(reason or "all", 0) + files
            continue
        st = totals.setdefault(stage, {k: {"files": 0, "bytes": 0} for k in (INPUT, KEPT, DROPPED, FAILED)})
        st[outcome]["files"] += files
        st[outcome]["bytes"] += nbytes
        if outcome in (DROPPED, FAILED):
            st.setdefault("reasons", {}).setdefault(outcome, {})[reason] = {"files": files, "bytes": nbytes}
    report_stages = []
    for stage in stages:
        st = totals.get(stage, {k: {"files": 0, "bytes": 0} for k in (INPUT, KEPT, DROPPED, FAILED)})
        reasons = st.get("reasons", {})
        report_stages.append(
            {
                "stage": stage,
                **{k: st[k] for k in (INPUT, KEPT, DROPPED, FAILED)},
                "reasons": {o: dict(sorted(reasons.get(o, {}).items())) for o in (DROPPED, FAILED)},
            }
        )
    first, last = (report_stages[0], report_stages[-1]) if report_stages else (None, None)
    filters = filter_table(report_stages, filter_stages)
    return {
        "stages": report_stages,
        "totals": {
            INPUT: first[INPUT] if first else {"files": 0, "bytes": 0},
            KEPT: last[KEPT] if last else {"files": 0, "bytes": 0},
            DROPPED: _add(s[DROPPED] for s in report_stages),
            FAILED: _add(s[FAILED] for s in report_stages),
        },
        "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1]["bytes"], kv[0]))),
        **({"filters": filters} if filters else {}),
        **{name: {k: dict(sorted(v.items())) for k, v in sorted(section.items())} for name, section in extras.items()},
    }


def filter_table(report_stages: list[dict], filter_stages: tuple[str, ...]) -> dict:
    """The training-set filters' removals, shaped like the paper's table: per filter and rule, files and
    bytes removed, and their share of what entered the first filter (select_languages, quality, decontamination)."""
    stages = [st for st in report_stages if st["stage"] in filter_stages]
    if not stages:
        return {}
    base = stages[0][INPUT]
    rows = []
    for st in stages:
        for outcome in (DROPPED, FAILED):
            for reason, c in st["reasons"].get(outcome, {}).items():
                rows.append(
                    {
                        "filter": st["stage"],
                        "outcome": outcome,
                        "reason": reason,
                        **c,
                        "files_pct": _pct(c["files"], base["files"]),
                        "bytes_pct": _pct(c["bytes"], base["bytes"]),
                    }
                )
    removed = _add(st[DROPPED] for st in stages)
    removed_failed = _add(st[FAILED] for st in stages)
    removed = {"files": removed["files"] + removed_failed["files"], "bytes": removed["bytes"] + removed_failed["bytes"]}
    return {
        "input": base,
        "rules": rows,
        "removed": {
            **removed,
            "files_pct": _pct(removed["files"], base["files"]),
            "bytes_pct": _pct(removed["bytes"], base["bytes"]),
        },
    }


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _add(counts) -> dict:
    out = {"files": 0, "bytes": 0}
    for c in counts:
        out["files"] += c["files"]
        out["bytes"] += c["bytes"]
    return out


def accounting_violations(report: dict) -> list[str]:
    """Every way the report breaks input = kept + dropped + failed (empty when it holds)."""
    problems = []
    previous_kept = None
    for st in report["stages"]:
        out = st[KEPT]["files"] + st[DROPPED]["files"] + st[FAILED]["files"]
        if st[INPUT]["files"] != out:
            problems.append(f"stage {st['stage']}: input {st[INPUT]['files']} != kept+dropped+failed {out}")
        if previous_kept is not None and st[INPUT]["files"] != previous_kept:
            problems.append(f"stage {st['stage']}: input {st[INPUT]['files']} != previous stage's kept {previous_kept}")
        previous_kept = st[KEPT]["files"]
    t = report["totals"]
    if t[INPUT]["files"] != t[KEPT]["files"] + t[DROPPED]["files"] + t[FAILED]["files"]:
        problems.append("totals: input != kept + dropped + failed")
    return problems


class _WriteReport(beam.DoFn):
    def __init__(self, path: str, stages: list[str], filter_stages: tuple[str, ...]):
        self._path, self._stages, self._filters = path, stages, filter_stages

    def process(self, entries):
        report = build_report(entries, self._stages, self._filters)
        violations = accounting_violations(report)
        report["accounting"] = "ok" if not violations else violations
        storage.write_text(self._path, json.dumps(report, indent=2, sort_keys=False) + "\n")
        if violations:
            raise AccountingError("; ".join(violations))
        yield self._path


class WriteReport(beam.PTransform):
    """Entries ((stage, outcome, reason), (1, bytes)) -> report.json, checked; fails the run if broken."""

    def __init__(self, path: str, stages: list[str], filter_stages: tuple[str, ...] = ()):
        super().__init__()
        self._path, self._stages, self._filters = path, stages, tuple(filter_stages)

    def expand(self, entries):
        return (
            entries
            | "Sum" >> beam.CombinePerKey(sum_pairs)
            | "All" >> beam.combiners.ToList()
            | "Write" >> beam.ParDo(_WriteReport(self._path, self._stages, self._filters))
        )
