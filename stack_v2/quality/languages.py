"""Language and extension selection (docs/the-stack-v2.md §4, §11.5), from ``filters/languages.yaml``.

Drops files of excluded languages (``excluded_language``), of excluded (language, extension) pairs
(``excluded_extension``), and, when a recipe keeps only a named set such as ``smol`` or its own list,
files of every other language (``not_selected``). Extensions compare case-insensitively, without the dot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from stack_v2.errors import StackV2Error
from stack_v2.records import FileRecord
from stack_v2.resources import data_path
from stack_v2.verdicts import Drop

LANGUAGES_FILE = data_path("filters/languages.yaml")


@dataclass(frozen=True)
class LanguageSelection:
    excluded_languages: frozenset
    excluded_extensions: frozenset  # (language, extension lower-cased)
    keep: frozenset | None = None  # None: every language not excluded
    keep_name: str = ""

    def __call__(self, record: FileRecord) -> FileRecord | Drop:
        language = record.language
        if language in self.excluded_languages:
            return Drop("excluded_language", f"language={language}")
        if (language, (record.extension or "").lower()) in self.excluded_extensions:
            return Drop("excluded_extension", f"language={language} extension={record.extension or '(none)'}")
        if self.keep is not None and language not in self.keep:
            return Drop("not_selected", f"language={language} not in {self.keep_name}")
        return record


def load_selection(
    path: str | Path | None = None, keep_set: str | None = None, keep_languages: list | None = None
) -> LanguageSelection:
    """The selection in ``path`` (the shipped list by default), keeping a named set or a list if given."""
    path = Path(path or LANGUAGES_FILE)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StackV2Error(f"language selection {path}: {' '.join(str(exc).split())}") from exc
    if unknown := set(data) - {"excluded_languages", "excluded_extensions", "sets"}:
        raise StackV2Error(f"language selection {path}: unknown key(s) {sorted(unknown)}")
    pairs = set()
    for language, extensions in (data.get("excluded_extensions") or {}).items():
        if not isinstance(extensions, list):
            raise StackV2Error(f"language selection {path}: excluded_extensions.{language} must be a list")
        pairs.update((language, str(ext).lower().lstrip(".")) for ext in extensions)
    keep, keep_name = None, ""
    if keep_set is not None and keep_languages is not None:
        raise StackV2Error("select_languages: give keep_set or keep_languages, not both")
    if keep_set is not None:
        sets = data.get("sets") or {}
        if keep_set not in sets:
            raise StackV2Error(f"language selection {path}: no set {keep_set!r} (sets: {sorted(sets)})")
        keep, keep_name = frozenset(sets[keep_set]), keep_set
    elif keep_languages is not None:
        keep, keep_name = frozenset(keep_languages), "keep_languages"
    return LanguageSelection(frozenset(data.get("excluded_languages") or ()), frozenset(pairs), keep, keep_name)
