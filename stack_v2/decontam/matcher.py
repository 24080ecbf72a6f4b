"""Benchmark decontamination's pure core (the paper, §3.3; docs/the-stack-v2.md §10): benchmark strings in, first match
out.

A benchmark is a JSONL file (optionally gzipped) that the user supplies, described by a ``BenchmarkSpec``:
which JSON fields hold the strings to look for, and an optional extraction (HumanEval's prompt -> its
docstring, DS-1000's prompt -> the text before its solution marker). ``load_patterns`` reads them;
``Decontaminator`` finds any of them in a file with one Aho-Corasick pass, however many there are.

Matching follows the paper: every whitespace character is removed (new in v2, so re-indented or
re-wrapped copies still match), text is lower-cased with ``str.lower()``, and a pattern matches when it is
an exact substring of the file. Patterns equal to an exempt string (the four trivial HumanEval solutions
by default) and patterns shorter than ``MIN_PATTERN_CHARS`` normalised characters are not searched for;
``LoadedPatterns.counts`` says how many of each were left out.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import ahocorasick
import ahocorasick_rs
import yaml

from stack_v2.errors import StackV2Error
from stack_v2.resources import data_path

DEFAULT_BENCHMARKS_FILE = data_path("filters/decontamination/benchmarks.yaml")

# The paper keeps files containing these HumanEval canonical solutions: they are ordinary code.
TRIVIAL_HUMANEVAL_SOLUTIONS = ("return x + y", "return len(string)", "return n**2", "return ''.join(strings)")

# Shorter patterns are degenerate (a 3-character pattern matches nearly every file). 12 still keeps every
# HumanEval pattern the paper keeps: its shortest non-exempt one, HumanEval/45's "return a * h / 2.0", is
# 13 characters once normalised. The guard is for empty or near-empty entries of the benchmark files, not
# a precision filter: the other benchmarks' strings (problem statements, whole functions) are far longer.
MIN_PATTERN_CHARS = 12

SOLUTION_MARKERS = ("SOLUTION START", "BEGIN SOLUTION")  # DS-1000's, as in BigCode's decontamination


class BenchmarkDataError(StackV2Error, ValueError):
    """A benchmark file or description cannot be used; the message is one line naming the file and line."""


# The ASCII characters ``str.split()`` splits on (its whitespace includes the separators \x1c-\x1f).
_ASCII_WHITESPACE = bytes(c for c in range(128) if chr(c).isspace())


def normalise(text: str) -> str:
    """The paper's matching form: no whitespace at all, lower case."""
    if text.isascii():  # most code: deleting bytes is twice as fast as splitting into words and joining them
        return text.encode("ascii").translate(None, _ASCII_WHITESPACE).lower().decode("ascii")
    return "".join(text.split()).lower()


def whole(text: str) -> str:
    return text


def python_docstring(prompt: str) -> str:
    """The last triple-quoted string of a Python prompt: the task's docstring when helpers precede it.

    BigCode's code takes the text between the 1st and 2nd delimiters when there are two, between the
    3rd and 4th when there are four (``'''`` when there is no ``\"\"\"``): the same string, for every
    HumanEval prompt.
    """
    quote = '"""' if '"""' in prompt else "'''"
    parts = prompt.split(quote)
    if len(parts) < 3 or len(parts) % 2 == 0:
        raise ValueError(f"no balanced triple-quoted docstring ({prompt.count(quote)} {quote} delimiters)")
    return parts[-2]


def before_solution_marker(prompt: str) -> str:
    """DS-1000: the problem statement and its code context, without the marker or the answer after it."""
    found = [prompt.find(marker) for marker in SOLUTION_MARKERS if marker in prompt]
    if not found:
        raise ValueError(f"none of the solution markers {list(SOLUTION_MARKERS)}")
    return prompt[: min(found)]


EXTRACTIONS = {"whole": whole, "python_docstring": python_docstring, "before_solution_marker": before_solution_marker}


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark file and where its strings are.

    ``fields`` pairs a JSON field (dots reach into nested objects) with the name of an extraction in
    ``EXTRACTIONS``. ``task_id_field`` names each row (dotted too; None: the row's line number).
    ``task_id_range`` keeps only rows whose integer task id lies in it, inclusive (MBPP's test set is
    task ids 11-510 of the full file).
    """

    name: str
    path: str
    fields: tuple[tuple[str, str], ...]
    task_id_field: str | None = None
    task_id_range: tuple[int, int] | None = None

    def __post_init__(self):
        unknown = [extract for _, extract in self.fields if extract not in EXTRACTIONS]
        if not self.fields or unknown:
            raise BenchmarkDataError(
                f"benchmark {self.name!r}: fields must pair JSON fields with one of {sorted(EXTRACTIONS)}, "
                f"got {list(self.fields)}"
            )


class Pattern(NamedTuple):
    text: str  # normalised
    benchmark: str
    task_id: str


class Match(NamedTuple):
    benchmark: str
    task_id: str


@dataclass
class LoadedPatterns:
    """The patterns to search for, and per (benchmark, reason) how many strings or rows were left out.

    Reasons: ``exempt`` (equal to an exempt string), ``empty`` (nothing but whitespace), ``too_short``
    (under ``min_chars``), ``outside_task_id_range`` (rows, not strings).
    """

    patterns: list[Pattern]
    counts: Counter

    def summary(self) -> str:
        kept = Counter(pattern.benchmark for pattern in self.patterns)
        names = list(dict.fromkeys([*kept, *(name for name, _ in self.counts)]))
        parts = []
        for name in names:
            skipped = ", ".join(f"{n} {reason}" for (bench, reason), n in sorted(self.counts.items()) if bench == name)
            parts.append(f"{name}: {kept[name]} patterns" + (f" ({skipped})" if skipped else ""))
        return "; ".join(parts)


def _json_rows(path: str, name: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) per non-blank line; gzip is recognised by its magic bytes, not the name."""
    where = f"benchmark {name!r}: {path}"
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise BenchmarkDataError(f"{where}: cannot open: {exc.strerror or exc}") from exc
    lineno = 0
    try:
        with (gzip.open if gzipped else open)(path, "rt", encoding="utf-8") as lines:
            for lineno, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BenchmarkDataError(
                        f"{where} line {lineno}: not JSON: {exc.msg} (column {exc.colno})"
                    ) from exc
                if not isinstance(row, dict):
                    raise BenchmarkDataError(f"{where} line {lineno}: expected a JSON object, got {type(row).__name__}")
                yield lineno, row
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # truncated gzip, bad bytes: after the last good line
        raise BenchmarkDataError(f"{where} line {lineno + 1}: unreadable: {' '.join(str(exc).split())}") from exc


def _lookup(row: dict, dotted: str):
    value = row
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(dotted)
        value = value[key]
    return value


def _spec_strings(spec: BenchmarkSpec, counts: Counter) -> Iterator[tuple[str, str]]:
    """(task id, extracted string) for every selected field of every row in range."""
    for lineno, row in _json_rows(spec.path, spec.name):
        where = f"benchmark {spec.name!r}: {spec.path} line {lineno}"
        try:
            task_id = f"line {lineno}" if spec.task_id_field is None else _lookup(row, spec.task_id_field)
            if spec.task_id_range is not None:
                if not isinstance(task_id, int) or isinstance(task_id, bool):
                    raise BenchmarkDataError(f"{where}: task id {task_id!r} is not an integer for task_id_range")
                low, high = spec.task_id_range
                if not low <= task_id <= high:
                    counts[spec.name, "outside_task_id_range"] += 1
                    continue
            for field, extract in spec.fields:
                value = _lookup(row, field)
                if not isinstance(value, str):
                    raise BenchmarkDataError(f"{where}: field {field!r} is {type(value).__name__}, not a string")
                try:
                    yield str(task_id), EXTRACTIONS[extract](value)
                except ValueError as exc:
                    raise BenchmarkDataError(f"{where}: {extract} of field {field!r}: {exc}") from exc
        except KeyError as exc:
            raise BenchmarkDataError(f"{where}: no field {exc.args[0]!r}") from exc


def load_patterns(
    specs: Iterable[BenchmarkSpec],
    exempt: Iterable[str] = TRIVIAL_HUMANEVAL_SOLUTIONS,
    min_chars: int = MIN_PATTERN_CHARS,
) -> LoadedPatterns:
    """Every benchmark string, normalised, in file order; exempt, empty and too-short ones counted and left out."""
    exempt_texts = {normalise(text) for text in exempt}
    patterns, counts = [], Counter()
    for spec in specs:
        for task_id, string in _spec_strings(spec, counts):
            text = normalise(string)
            if not text:
                counts[spec.name, "empty"] += 1
            elif text in exempt_texts:
                counts[spec.name, "exempt"] += 1
            elif len(text) < min_chars:
                counts[spec.name, "too_short"] += 1
            else:
                patterns.append(Pattern(text, spec.name, task_id))
    return LoadedPatterns(patterns, counts)


# Up to this many pattern characters, the screening automaton is a full DFA (about 64 transitions of 4 bytes
# per state, one state per character at most: 50 MB here); above, ahocorasick_rs picks a smaller form.
DFA_MAX_PATTERN_CHARS = 200_000


class Decontaminator:
    """All patterns in one Aho-Corasick automaton: one pass over a file, whatever the number of patterns.

    Two automata over the same patterns: ahocorasick_rs's (Rust, a DFA when the patterns are few) screens
    every file, four times faster than pyahocorasick's walk; only a file it finds a pattern in is walked by
    pyahocorasick's, whose first match (the one ending first) is the one reported. Both match exact
    substrings, so the screen never changes an answer. When two benchmark rows normalise to the same text,
    the first one loaded is the one reported. Pickles as its patterns (the automata are rebuilt), so it can
    travel to Beam workers.
    """

    def __init__(self, patterns: Iterable[Pattern]):
        self._patterns = list(patterns)
        self._automaton = ahocorasick.Automaton()
        for pattern in self._patterns:
            if pattern.text not in self._automaton:
                self._automaton.add_word(pattern.text, Match(pattern.benchmark, pattern.task_id))
        self.distinct = len(self._automaton)
        self._screen = None
        if self.distinct:  # pyahocorasick refuses to search with an empty trie
            self._automaton.make_automaton()
            texts = list(dict.fromkeys(p.text for p in self._patterns))
            small = sum(map(len, texts)) <= DFA_MAX_PATTERN_CHARS
            implementation = ahocorasick_rs.Implementation.DFA if small else None
            self._screen = ahocorasick_rs.AhoCorasick(
                texts, matchkind=ahocorasick_rs.MatchKind.Standard, implementation=implementation
            )

    def __reduce__(self):
        return Decontaminator, (self._patterns,)

    def find(self, text: str) -> Match | None:
        """The benchmark row of the match that ends first in the normalised text, or None."""
        if not self.distinct:
            return None
        normalised = normalise(text)
        if not self._screen.find_matches_as_indexes(normalised):
            return None
        for _end, match in self._automaton.iter(normalised):
            return match
        return None


@dataclass(frozen=True)
class DecontaminationConfig:
    benchmarks: tuple[BenchmarkSpec, ...]
    exempt: tuple[str, ...] = TRIVIAL_HUMANEVAL_SOLUTIONS
    min_chars: int = MIN_PATTERN_CHARS


def load_config(paths: Mapping[str, str] | None = None, yaml_path: str | Path | None = None) -> DecontaminationConfig:
    """The benchmarks of a YAML description (the shipped one by default) that have a file.

    A benchmark's file is ``paths[name]`` when given, else the ``path`` in the YAML (relative to the YAML's
    folder); benchmarks with neither are not used. A name in ``paths`` that the YAML lacks is an error, and
    so is having no benchmark file at all: decontaminating against nothing would pass every file silently.
    """
    yaml_path = Path(yaml_path or DEFAULT_BENCHMARKS_FILE)
    paths = dict(paths or {})
    where = f"decontamination benchmarks {yaml_path}"
    try:
        raw = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BenchmarkDataError(f"{where}: {' '.join(str(exc).split())}") from exc
    described = raw.get("benchmarks") if isinstance(raw, dict) else None
    if not isinstance(described, dict):
        raise BenchmarkDataError(f"{where}: expected a 'benchmarks' mapping of name -> description")
    unknown = sorted(set(paths) - set(described))
    if unknown:
        raise BenchmarkDataError(f"{where}: no benchmark named {unknown}; known: {sorted(described)}")
    specs = []
    for name, entry in described.items():
        try:
            yaml_file = (entry or {}).get("path")
            path = paths.get(name) or (yaml_file and str(yaml_path.parent / Path(yaml_file).expanduser()))
            if path:
                specs.append(_spec_from_yaml(name, entry, str(path)))
        except BenchmarkDataError as exc:
            raise BenchmarkDataError(f"{where}: {exc}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise BenchmarkDataError(f"{where}: benchmark {name!r}: {' '.join(str(exc).split())}") from exc
    if not specs:
        raise BenchmarkDataError(f"{where}: no benchmark file given; give a path for any of {sorted(described)}")
    settings = {}
    if raw.get("exempt") is not None:
        if not isinstance(raw["exempt"], list):
            raise BenchmarkDataError(f"{where}: 'exempt' must be a list of strings")
        settings["exempt"] = tuple(str(text) for text in raw["exempt"])
    if raw.get("min_chars") is not None:
        if not isinstance(raw["min_chars"], int) or raw["min_chars"] < 1:
            raise BenchmarkDataError(f"{where}: 'min_chars' must be a positive integer")
        settings["min_chars"] = raw["min_chars"]
    return DecontaminationConfig(tuple(specs), **settings)


def _spec_from_yaml(name: str, entry: dict, path: str) -> BenchmarkSpec:
    fields = tuple((str(field), extract or "whole") for field, extract in (entry.get("fields") or {}).items())
    id_range = entry.get("task_id_range")
    return BenchmarkSpec(
        name=name,
        path=path,
        fields=fields,
        task_id_field=entry.get("task_id"),
        task_id_range=(int(id_range[0]), int(id_range[1])) if id_range else None,
    )
