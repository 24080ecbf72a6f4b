"""Every stage a recipe may name, in the paper's order (docs/adding-a-stage.md): one line per stage.

Recipe checking (names, parameters, order), pipeline construction, the report's grouping and the
card's notes all read this table; nothing else lists the stages.
"""

from __future__ import annotations

from stack_v2.stages import (
    decontaminate,
    doc_language,
    downsample,
    drop_extensions,
    exact_dedup,
    fetch_decode,
    language,
    license,
    malware,
    near_dedup,
    notebooks,
    optout,
    pii,
    quality,
    select_languages,
    select_repos,
)
from stack_v2.stages.stage import Stage

RECIPE_STAGES: tuple[Stage, ...] = (
    select_repos.DEFINITION,
    license.DEFINITION,
    exact_dedup.DEFINITION,
    fetch_decode.DEFINITION,
    language.DEFINITION,
    near_dedup.DEFINITION,
    select_languages.DEFINITION,
    *quality.DEFINITIONS,
    decontaminate.DEFINITION,
    malware.DEFINITION,
    pii.DEFINITION,
    doc_language.DEFINITION,
    notebooks.DEFINITION,
    drop_extensions.DEFINITION,
    downsample.DEFINITION,  # the train sets' caps, after every stage that drops files
)
# Stages a build adds itself, never named in a recipe: opt-outs come with the build's requests.
BUILD_STAGES: tuple[Stage, ...] = (optout.DEFINITION,)

STAGES: dict[str, Stage] = {stage.name: stage for stage in RECIPE_STAGES}
FIRST = select_repos.DEFINITION.name  # every recipe starts by selecting repositories


def filter_stages() -> tuple[str, ...]:
    """The stages the report groups as filters (quality rules, language and benchmark selection)."""
    return tuple(stage.name for stage in RECIPE_STAGES if stage.group == "filter")


def card_parts(report: dict, stage_names) -> tuple[list[str], list[str]]:
    """The card's sections from the stages (each from what report.json holds of it, in the registry's order;
    opt-outs whenever the report has some) and the differences from the paper of the stages in the recipe."""
    sections, notes = [], []
    for stage in (*RECIPE_STAGES, *BUILD_STAGES):
        if stage.card is not None:
            sections += stage.card(report)
        if stage.name in stage_names:
            notes += stage.paper_notes
    return sections, notes
