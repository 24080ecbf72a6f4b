"""What a stage is: one definition that recipe checking, pipeline construction, the report and the card
all read (docs/adding-a-stage.md).

A definition names the stage (one name in the recipe, report.json, dropped/ and the counters), gives
its typed config (a frozen dataclass whose fields carry defaults and ranges, see ``params.param``; or,
for stages whose defaults are data, a ``Parameters`` table and a plain dict), where it may stand in a
recipe, and ``make(config, context)``: the PTransform that takes FileRecords and returns

- ``kept``: the FileRecords that go on,
- ``dropped``: a DroppedRow for every other record (dropped or failed, with a reason),
- optionally ``stats``: ``((section, key, detail), (n, bytes))`` entries for report.json's extra sections,
- optionally ``input``: what report.json counts as the stage's input, when it is not the PCollection
  given (repository selection turns listed occurrences into records).

A stage may process records one at a time (``ApplyCore`` over a pure core) or in batches (a DoFn of its
own, as the malware stage does); the contract only fixes the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stack_v2.params import Parameters

KEPT, DROPPED, STATS, INPUT = "kept", "dropped", "stats", "input"


@dataclass(frozen=True)
class StageContext:
    """What a stage may need besides its config, the same for every stage of a build."""

    location: Any = None  # the ArchiveLocation content is fetched from
    run_dir: str = ""  # the build's version directory, for stages that write outputs of their own
    output: dict = field(default_factory=dict)  # the recipe's output section (shard sizes)
    checkpoint: Any = None  # an io.checkpoint.Checkpoint: fetch_decode persists (and resumes from) it


@dataclass(frozen=True)
class Stage:
    name: str
    make: Callable[[Any, StageContext], Any]  # (config, context) -> PTransform with the outputs above
    config_type: type | None = None  # a frozen dataclass of ``param`` fields; None: ``parameters`` and a dict
    parameters: Parameters | None = None  # derived from config_type unless given
    rule: Callable[[dict], str | None] | None = None  # a check across the parameters
    requires: tuple[str, ...] = ()  # stages that must come before this one in a recipe
    after: tuple[str, ...] = ()  # stages that, when a recipe has them too, must come before this one
    off: Callable[[Any], str | None] | None = None  # why a build leaves the stage out with this config, or None
    branch: bool = False  # writes outputs of its own and passes records on unchanged (not in the funnel)
    group: str = ""  # the report's grouping: "filter" for the quality and selection filters
    card: Callable[[dict], list[str]] | None = None  # the card's section on this stage, from report.json
    paper_notes: tuple[str, ...] = ()  # the card's differences from the paper, when the recipe has the stage

    def __post_init__(self):
        if self.parameters is None:
            if self.config_type is None:
                raise ValueError(f"stage {self.name}: give config_type or parameters")
            object.__setattr__(self, "parameters", Parameters.of_config(self.config_type, self.rule))

    def config(self, params: dict):
        """The typed config from a recipe's checked parameters."""
        if self.config_type is None:
            return dict(params)
        return self.config_type(**params)

    def why_off(self, config) -> str | None:
        """Why a build with this config leaves the stage out (the malware stage without signatures), or None."""
        return self.off(config) if self.off is not None else None
