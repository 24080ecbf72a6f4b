"""The recipe's stages applied to a PCollection of records, counted as report.json counts them: what every
build (repository files, documents) does between reading its input and writing its tables.

``apply_stages(records, made, counted_as)`` runs the stages in order: consecutive one-record stages
(``ApplyCore``) as one DoFn that also counts them (``ApplyCores``); every other stage alone. It returns the
last kept records, the funnel's stage names in order, the count entries, the dropped rows of each stage,
and what the last kept records still count as (the caller counts them once, with anything else it counts).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import apache_beam as beam

from stack_v2.io import report as rep
from stack_v2.stages.base import ApplyCore, ApplyCores
from stack_v2.stages.stage import Stage, StageContext


@dataclass
class Funnel:
    records: object  # the last stage's kept PCollection
    chain: list[str] = field(default_factory=list)  # the funnel's stages, in order
    counts: list = field(default_factory=list)  # PCollections of report entries
    dropped: list = field(default_factory=list)  # PCollections of DroppedRows
    counted_as: list[tuple[str, str]] = field(default_factory=list)  # what ``records`` still count as


def made_stages(plan: list[tuple[Stage, object]], context: StageContext) -> list[tuple[Stage, beam.PTransform]]:
    """The planned (stage, config) pairs' transforms, without those their config turns off (said on stderr)."""
    made = []
    for stage, config in plan:
        if why := stage.why_off(config):
            print(f"[stack-v2] {why}", file=sys.stderr)
            continue
        made.append((stage, stage.make(config, context)))
    return made


def fusable(stage: Stage, transform: beam.PTransform) -> bool:
    """A one-record-at-a-time stage in the funnel, which may share a DoFn with its neighbours."""
    return isinstance(transform, ApplyCore) and not stage.branch


def runs_of_cores(made: list[tuple[Stage, beam.PTransform]]) -> list[list[tuple[Stage, beam.PTransform]]]:
    """The stages in order, consecutive ``ApplyCore`` stages in one group, every other stage alone."""
    groups: list[list] = []
    for stage, transform in made:
        if fusable(stage, transform) and groups and fusable(*groups[-1][-1]):
            groups[-1].append((stage, transform))
        else:
            groups.append([(stage, transform)])
    return groups


def apply_stages(funnel: Funnel, made: list[tuple[Stage, beam.PTransform]]) -> Funnel:
    """Apply ``made`` (stage, transform) pairs to ``funnel.records``; returns the funnel, extended."""
    records, counted_as = funnel.records, list(funnel.counted_as)
    for group in runs_of_cores(made):
        if fusable(*group[0]):
            # Consecutive one-record-at-a-time stages run as one DoFn that also counts them (ApplyCores).
            names = [stage.name for stage, _ in group]
            steps = tuple(step for _, transform in group for step in transform.steps)
            out = records | "+".join(names) >> ApplyCores(steps, [*counted_as, (names[0], rep.INPUT)])
            funnel.chain += names
            funnel.dropped.append(out["dropped"])
            funnel.counts.append(out["stats"])
            counted_as = [(names[-1], rep.KEPT)]
            records = out["kept"]
            continue
        ((stage, transform),) = group
        out = records | stage.name >> transform
        if not stage.branch:  # a branch writes outputs of its own and passes every record on
            funnel.chain.append(stage.name)
            if "input" in out:  # the stage counts its input itself (selection: records made from occurrences)
                funnel.counts.append(rep.count_records(out["input"], [(stage.name, rep.INPUT)]))
            else:
                counted_as.append((stage.name, rep.INPUT))
            funnel.dropped.append(out["dropped"])
        if "stats" in out:
            funnel.counts.append(out["stats"])
        if out["kept"] is not records:
            if counted_as:
                funnel.counts.append(rep.count_records(records, counted_as))
            counted_as = [(stage.name, rep.KEPT)]
        records = out["kept"]
    funnel.records, funnel.counted_as = records, counted_as
    return funnel
