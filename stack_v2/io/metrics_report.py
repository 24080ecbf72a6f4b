"""report.json's funnel from the runner's Beam metrics, and its check against the pipeline's own counts.

The stages increment Beam counters as they route records (``stages.base``): namespace = the stage's
name in report.json, names ``input``, ``kept``, ``dropped_<reason>``, ``failed_<reason>`` (files) and
the same with a ``bytes_`` prefix (``length_bytes``). These are what Dataflow's job page ("Custom
counters") and Spark's UI show while a build runs. The notebooks branch counts ``script_<language>``,
``structured``, ``dropped_<reason>`` and ``failed_<reason>`` in namespace ``notebooks``.

report.json itself is counted inside the pipeline from the records and from the rows of the dropped
table (``io.report``), which every runner executes the same way. After the run, ``metrics_check``
rebuilds the same funnel from the runner's counters and compares:

- ``metrics_source: beam_metrics``: the runner reported *committed* counters (DirectRunner, Dataflow,
  Beam's portable job server, Spark's job server where it commits) and they equal the report's funnel,
  stage by stage and reason by reason, files and bytes;
- ``metrics_source: dropped_table``: the runner reported no metrics (DaskRunner raises
  NotImplementedError), or attempted-only ones (which count retried bundles twice), or they differ: the
  report rests on the pipeline's own counts of records and dropped rows alone. A difference is logged
  as a warning and listed in ``metrics_check``, never fatal: the pipeline's counts are exact by
  construction, a runner's attempted metrics are not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from stack_v2.io.report import DROPPED, FAILED, INPUT, KEPT, build_report
from stack_v2.verdicts import BYTES

log = logging.getLogger("stack_v2")

BEAM_METRICS, DROPPED_TABLE = "beam_metrics", "dropped_table"
NOTEBOOKS = "notebooks"
_OUTCOMES = (INPUT, KEPT, DROPPED, FAILED)


@dataclass(frozen=True)
class Counters:
    """A run's user counters summed over steps: {(namespace, name): value}; ``committed`` says which kind."""

    values: dict = field(default_factory=dict)
    committed: bool = False
    unavailable: str = ""  # why there are none ("" when there are)


def query_counters(result, namespaces) -> Counters:
    """The counters of ``namespaces`` in a PipelineResult: committed values when the runner has them for
    every counter, else attempted ones; none (``unavailable`` says why) when the runner gives no metrics."""
    from apache_beam.metrics.metric import MetricResults, MetricsFilter

    try:
        found = result.metrics().query(MetricsFilter().with_namespaces(list(namespaces)))[MetricResults.COUNTERS]
    except NotImplementedError as exc:  # e.g. DaskRunner: "collecting metrics will come later!"
        return Counters(unavailable=f"{type(result).__name__}.metrics(): not implemented ({exc})")
    except Exception as exc:  # noqa: BLE001 - a runner's metrics service failing must not fail a finished build
        return Counters(unavailable=f"{type(result).__name__}.metrics() failed: {type(exc).__name__}: {exc}")
    if not found:
        return Counters(unavailable=f"{type(result).__name__} reported no counters")
    committed = all(r.committed is not None for r in found)
    values: dict = {}
    for r in found:
        value = r.committed if committed else r.attempted
        key = (r.key.metric.namespace, r.key.metric.name)
        values[key] = values.get(key, 0) + int(value or 0)  # one result per step: summed
    return Counters(values, committed)


def has_committed_metrics(result, namespaces) -> bool:
    """Whether the runner gave committed counters for these namespaces (exactly-once: what a report can use)."""
    counters = query_counters(result, namespaces)
    return not counters.unavailable and counters.committed


def parse_counter_name(name: str) -> tuple[str, str, str] | None:
    """``bytes_dropped_binary`` -> ("bytes", "dropped", "binary"); ``kept`` -> ("files", "kept", ""); else None."""
    unit = "files"
    if name.startswith(BYTES):
        unit, name = "bytes", name[len(BYTES) :]
    if name in (INPUT, KEPT):
        return unit, name, ""
    for outcome in (DROPPED, FAILED):
        if name.startswith(outcome + "_") and len(name) > len(outcome) + 1:
            return unit, outcome, name[len(outcome) + 1 :]
    return None


def funnel_entries(values: dict, stages) -> list:
    """Counters -> io.report entries ((stage, outcome, reason), (files, bytes)) for ``stages``."""
    wanted = set(stages)
    sums: dict = {}
    for (namespace, name), value in values.items():
        parsed = parse_counter_name(name)
        if namespace not in wanted or parsed is None:
            continue
        unit, outcome, reason = parsed
        pair = sums.setdefault((namespace, outcome, reason), [0, 0])
        pair[0 if unit == "files" else 1] += value
    return [(key, (files, nbytes)) for key, (files, nbytes) in sums.items()]


def notebooks_section(values: dict) -> dict:
    """report.json's ``notebooks`` section (scripts per language, structured, no-script reasons) from counters."""
    section: dict = {}
    for (namespace, name), value in values.items():
        if namespace != NOTEBOOKS or name.startswith(BYTES):
            continue
        parsed = parse_counter_name(name)
        if name.startswith("script_"):
            section.setdefault("scripts", {})[name[len("script_") :]] = value
        elif name == "structured":
            section.setdefault("structured", {})["all"] = value
        elif parsed is not None and parsed[1] in (DROPPED, FAILED):
            section.setdefault(parsed[1], {})[parsed[2]] = value
    return {k: dict(sorted(v.items())) for k, v in sorted(section.items())}


def report_from_counters(values: dict, stages, filter_stages: tuple[str, ...] = ()) -> dict:
    """The report.json structure (stages with input/kept/dropped/failed files and bytes and reasons, totals,
    the filter table, and the notebooks section) built from counters alone."""
    report = build_report(funnel_entries(values, stages), list(stages), filter_stages)
    notebooks = notebooks_section(values)
    if notebooks:
        report[NOTEBOOKS] = notebooks
    return report


def funnel_mismatches(report: dict, from_metrics: dict) -> list[str]:
    """Every difference between two reports' funnels (per stage and outcome, per reason), files and bytes,
    and between their notebooks sections; empty when they agree."""
    problems = []
    theirs = {st["stage"]: st for st in from_metrics["stages"]}
    for st in report["stages"]:
        other = theirs.get(st["stage"])
        if other is None:
            problems.append(f"stage {st['stage']}: no counters")
            continue
        for outcome in _OUTCOMES:
            if st[outcome] != other[outcome]:
                problems.append(
                    f"stage {st['stage']} {outcome}: report {_fmt(st[outcome])}, metrics {_fmt(other[outcome])}"
                )
        for outcome in (DROPPED, FAILED):
            mine, yours = st["reasons"].get(outcome, {}), other["reasons"].get(outcome, {})
            for reason in sorted(set(mine) | set(yours)):
                if mine.get(reason) != yours.get(reason):
                    problems.append(
                        f"stage {st['stage']} {outcome}/{reason}: report {_fmt(mine.get(reason))}, "
                        f"metrics {_fmt(yours.get(reason))}"
                    )
    if report.get(NOTEBOOKS, {}) != from_metrics.get(NOTEBOOKS, {}):
        problems.append(f"notebooks: report {report.get(NOTEBOOKS, {})}, metrics {from_metrics.get(NOTEBOOKS, {})}")
    return problems


def _fmt(count) -> str:
    return "none" if count is None else f"{count['files']} files / {count['bytes']} bytes"


def metrics_check(result, report: dict, filter_stages: tuple[str, ...] = ()) -> dict:
    """``{"metrics_source": ..., "metrics_check": {...}}`` for report.json, after comparing the runner's
    counters (``result``: the run's PipelineResult) with the report's funnel; differences are logged."""
    stages = [st["stage"] for st in report["stages"]]
    counters = query_counters(result, [*stages, NOTEBOOKS])
    if counters.unavailable:
        log.info("metrics: %s; report.json counts the records and the dropped table only", counters.unavailable)
        return {
            "metrics_source": DROPPED_TABLE,
            "metrics_check": {"counters": "none", "result": "unavailable", "detail": counters.unavailable},
        }
    kind = "committed" if counters.committed else "attempted"
    mismatches = funnel_mismatches(report, report_from_counters(counters.values, stages, filter_stages))
    if mismatches:
        log.warning(
            "metrics: the runner's %s counters differ from report.json's counts in %d place(s): %s",
            kind,
            len(mismatches),
            "; ".join(mismatches[:10]),
        )
    check = {"counters": kind, "result": "mismatch" if mismatches else "ok"}
    if mismatches:
        check["mismatches"] = mismatches
    source = BEAM_METRICS if counters.committed and not mismatches else DROPPED_TABLE
    return {"metrics_source": source, "metrics_check": check}
