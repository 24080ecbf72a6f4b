"""Recipes: YAML files naming the build's stages in order, with their parameters (pipelines/*.yaml).

    name: the-stack-v2
    description: ...
    source: software-heritage        # optional; or a document source: github-issues (stack_v2.sources)
    stages:
      - stage: select_repositories
        repo_metadata: null          # optional GHArchive-style Parquet table keyed by repo_name
      - stage: exact_dedup
      - stage: fetch_decode
        max_length: 10485760
      - stage: language
    output:
      target_shard_bytes: 268435456  # data shards of about this much content
      manifest_rows_per_shard: 1000000
      group_by_repo: false           # true: also manifest-by-repo/, one row per repository
    failure_budget:                  # optional: how many input files may fail (max of the two)
      fraction: 0.001
      files: 10

A document source's recipe names only the shared stages that run on its documents (decontaminate, pii,
near_dedup: the source's ``shared_stages``), after the source's own reader, which is not named.

Every parameter has a type and a range (the tables below, in ``stack_v2.params``' terms), checked when
the recipe loads: a bad value, an unknown stage or parameter and an impossible order are one-line errors
that name the file. Parameters come out converted (a YAML ``100`` for a float parameter is ``100.0``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from stack_v2.errors import StackV2Error
from stack_v2.params import Bool, Float, Int, Param, ParameterError, Parameters, path_parameters
from stack_v2.resources import data_path
from stack_v2.sources import DOCUMENT_SOURCES, SOFTWARE_HERITAGE, SOURCES
from stack_v2.stages import registry

PIPELINES_DIR = data_path("pipelines")
DEFAULT_RECIPE = "the-stack-v2"

FRACTION = Float(0, 1)
POSITIVE = Int(1)

# Each stage's parameters (default, type and range) come from its definition (stack_v2/stages/registry.py).
STAGES: dict[str, Parameters] = {name: stage.parameters for name, stage in registry.STAGES.items()}
# stage name -> allowed parameters (with defaults)
STAGE_PARAMETERS: dict[str, dict] = {name: table.defaults() for name, table in STAGES.items()}
# (stage, stage it needs before it), and (earlier, later) when both are in a recipe
REQUIRES = [(stage.name, needed) for stage in registry.RECIPE_STAGES for needed in stage.requires]
ORDER = [(earlier, stage.name) for stage in registry.RECIPE_STAGES for earlier in stage.after]
OUTPUT = Parameters(
    {
        "target_shard_bytes": Param(256 * 1024 * 1024, POSITIVE),
        "manifest_rows_per_shard": Param(1_000_000, POSITIVE),
        "dropped_rows_per_shard": Param(1_000_000, POSITIVE),
        "group_by_repo": Param(False, Bool()),  # also manifest-by-repo/, the train sets' repository-grouped form
    }
)
OUTPUT_PARAMETERS = OUTPUT.defaults()
# How many of a stage's (or the whole build's) input files may fail before the build does.
FAILURE_BUDGET = Parameters(
    {
        "fraction": Param(0.001, FRACTION),  # of the input files
        "files": Param(10, Int(0)),  # allowed whatever the fraction: small runs
    }
)


@dataclass(frozen=True)
class FailureBudget:
    fraction: float = 0.001
    files: int = 10

    def allowed(self, input_files: int) -> int:
        """Failed files allowed out of ``input_files``: max(files, fraction * input_files), rounded down."""
        # Decimal of the written fraction: 0.29 * 100 is 28.999... in binary floating point
        return max(self.files, int(Decimal(repr(self.fraction)) * input_files))


class RecipeError(StackV2Error):
    def __init__(self, path: str, message: str):
        super().__init__(path, message)
        self.path, self.message = path, message

    def __str__(self) -> str:
        return f"recipe {self.path}: {self.message}"


@dataclass(frozen=True)
class StageSpec:
    name: str
    params: dict


@dataclass(frozen=True)
class Recipe:
    name: str
    path: str
    text: str  # the YAML as given, for the dataset card
    description: str = ""
    stages: tuple[StageSpec, ...] = ()
    output: dict = field(default_factory=lambda: dict(OUTPUT_PARAMETERS))
    failure_budget: FailureBudget = field(default_factory=FailureBudget)
    source: str = SOFTWARE_HERITAGE  # or a key of stack_v2.sources.DOCUMENT_SOURCES

    @property
    def document_source(self):
        """The ``sources.DocumentSource`` this recipe builds from, or None for Software Heritage."""
        return DOCUMENT_SOURCES.get(self.source)

    def stage(self, name: str) -> StageSpec | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]


def resolve_recipe_path(name_or_path: str | None) -> str:
    """A recipe file: a path as given, or a name in pipelines/ (with or without .yaml)."""
    candidate = name_or_path or DEFAULT_RECIPE
    if os.path.isfile(candidate):
        return candidate
    for path in (PIPELINES_DIR / candidate, PIPELINES_DIR / f"{candidate}.yaml"):
        if path.is_file():
            return str(path)
    known = sorted(p.stem for p in PIPELINES_DIR.glob("*.yaml")) if PIPELINES_DIR.is_dir() else []
    raise StackV2Error(f"recipe {candidate!r} not found: not a file, and not one of pipelines/ {known}")


# (stage, parameter) holding a file or directory: a relative path there is relative to the recipe's own
# directory, made absolute when the recipe is loaded, so workers in another directory (a worker pool, a
# cluster) find the same file. URIs (s3://, gs://) and the special value "default" are left as they are.
PATH_PARAMETERS = {(name, p) for name, table in STAGES.items() for p in path_parameters(table)}


def resolve_path(value, base_dir: str):
    """A path parameter's value with relative local paths made absolute against ``base_dir``."""
    if isinstance(value, dict):  # decontaminate.benchmarks: name -> path
        return {k: resolve_path(v, base_dir) for k, v in value.items()}
    if not isinstance(value, str) or not value or value == "default" or "://" in value:
        return value
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))


def load_recipe(name_or_path: str | None = None) -> Recipe:
    path = resolve_recipe_path(name_or_path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_recipe(text, path)


def parse_recipe(text: str, path: str) -> Recipe:
    """A recipe from its YAML ``text``; ``path`` names it in errors, and relative paths in its parameters
    are taken relative to ``path``'s directory."""
    base_dir = os.path.dirname(os.path.abspath(path))
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(path, f"not valid YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(raw, dict):
        raise RecipeError(path, "must be a mapping with 'name' and 'stages'")
    if unknown := set(raw) - {"name", "description", "source", "stages", "output", "failure_budget"}:
        raise RecipeError(path, f"unknown key(s) {sorted(map(str, unknown))}")
    source = raw.get("source", SOFTWARE_HERITAGE)
    if source not in SOURCES:
        raise RecipeError(path, f"source: unknown source {source!r} (known: {list(SOURCES)})")
    if not isinstance(raw.get("stages") or [], list):
        raise RecipeError(path, "stages must be a list of mappings, each with a 'stage' key")
    stages = []
    for i, item in enumerate(raw.get("stages") or []):
        if not isinstance(item, dict) or "stage" not in item:
            raise RecipeError(path, f"stages[{i}] must be a mapping with a 'stage' key")
        name = item["stage"]
        if not isinstance(name, str) or name not in STAGES:
            raise RecipeError(path, f"stages[{i}]: unknown stage {name!r} (known: {sorted(STAGES)})")
        params = {k: v for k, v in item.items() if k != "stage"}
        if unknown := STAGES[name].unknown(params):
            raise RecipeError(path, f"stage {name}: unknown parameter(s) {unknown}")
        try:
            params = STAGES[name].resolve(params)
        except ParameterError as exc:
            raise RecipeError(path, f"stage {name}: {exc}") from None
        params = {k: resolve_path(v, base_dir) if (name, k) in PATH_PARAMETERS else v for k, v in params.items()}
        stages.append(StageSpec(name, params))
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise RecipeError(path, f"a stage appears twice: {names}")
    if source in DOCUMENT_SOURCES:
        _check_document_stages(names, DOCUMENT_SOURCES[source], path)
    elif not names or names[0] != "select_repositories":
        raise RecipeError(path, "the first stage must be select_repositories")
    for stage, needed in REQUIRES if source == SOFTWARE_HERITAGE else ():
        if stage in names and (needed not in names or names.index(needed) > names.index(stage)):
            raise RecipeError(path, f"stage {stage} needs {needed} before it")
    for earlier, later in ORDER:
        if earlier in names and later in names and names.index(earlier) > names.index(later):
            raise RecipeError(path, f"stage {earlier} must come before {later}")
    output = _section(raw, "output", OUTPUT, path)
    if output["group_by_repo"] and source != SOFTWARE_HERITAGE:
        raise RecipeError(path, f"output.group_by_repo: source {source} has no repositories to group by")
    budget = _section(raw, "failure_budget", FAILURE_BUDGET, path)
    return Recipe(
        name=str(raw.get("name") or Path(path).stem),
        path=path,
        text=text,
        description=str(raw.get("description") or ""),
        stages=tuple(stages),
        output=output,
        failure_budget=FailureBudget(**budget),
        source=source,
    )


def _check_document_stages(names: list[str], source, path: str) -> None:
    """A document source runs only the shared stages that take documents (its reader comes first, unnamed)."""
    if not_shared := [n for n in names if n not in source.shared_stages]:
        raise RecipeError(
            path,
            f"source {source.name}: stage(s) {not_shared} do not run on documents "
            f"(a {source.name} recipe may name {list(source.shared_stages)})",
        )


def _section(raw: dict, key: str, table: Parameters, path: str) -> dict:
    """A top-level mapping of the recipe (output:, failure_budget:), complete and checked."""
    given = raw.get(key) or {}
    if not isinstance(given, dict):
        raise RecipeError(path, f"{key} must be a mapping of {sorted(table.params)}, got {given!r}")
    if unknown := table.unknown(given):
        raise RecipeError(path, f"{key}: unknown parameter(s) {unknown}")
    try:
        return table.resolve(given)
    except ParameterError as exc:
        raise RecipeError(path, f"{key}.{exc}") from None
