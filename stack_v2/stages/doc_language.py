"""Natural language of documentation files (fastText lid.176), stored as ``nl_language`` and optionally filtered.

Documentation files (go-enry languages in ``doclang.prose.DOC_LANGUAGES``) get ``nl_language``, the
model's label (``en``, ``fr``, ...) when its probability reaches ``min_probability``; otherwise, or when
the file has too little prose, ``nl_language`` stays None (undetermined). With ``keep_languages`` the
files whose language is determined and not kept are dropped (reason ``nl_language``, detail
``nl_language=fr;p=0.93``): a file is dropped on evidence only, so short or code-heavy documentation
stays. Other files pass unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable

from stack_v2.doclang.detect import detect_language
from stack_v2.doclang.model import load_model
from stack_v2.doclang.prose import DOC_LANGUAGES
from stack_v2.errors import StackV2Error
from stack_v2.params import Float, Optional, Path, StrList, param
from stack_v2.records import FileRecord
from stack_v2.stages.base import ApplyCore, Drop
from stack_v2.stages.stage import Stage

STAGE = "doc_language"
# Below one half the top label is not even more likely than all the others together.
DEFAULT_MIN_PROBABILITY = 0.5


def make_doc_language(
    model_path: str, keep_languages: Iterable[str] | None = None, min_probability: float = DEFAULT_MIN_PROBABILITY
):
    """The core ``(FileRecord) -> FileRecord | Drop``; loads the model now, so a bad path fails before any record."""
    if not isinstance(min_probability, (int, float)) or not 0.0 <= min_probability <= 1.0:
        raise StackV2Error(f"doc_language: min_probability must be within [0, 1], got {min_probability!r}")
    keep = None if keep_languages is None or isinstance(keep_languages, str) else frozenset(keep_languages)
    if keep_languages is not None and (not keep or not all(isinstance(code, str) and code for code in keep)):
        raise StackV2Error(
            f"doc_language: keep_languages must be language codes such as ['en'], got {keep_languages!r}"
        )
    load_model(model_path)

    def doc_language(record: FileRecord) -> FileRecord | Drop:
        if record.language not in DOC_LANGUAGES or not record.content:
            return record
        found = detect_language(record.content, record.language, model_path)
        if found is None or found[1] < min_probability:
            return record._replace(nl_language=None)
        code, probability = found
        if keep is not None and code not in keep:
            return Drop("nl_language", f"nl_language={code};p={probability:.2f}")
        return record._replace(nl_language=code)

    return doc_language


def DocLanguage(
    model_path: str, keep_languages: Iterable[str] | None = None, min_probability: float = DEFAULT_MIN_PROBABILITY
) -> ApplyCore:
    """The stage as a transform; the model loads here once (to fail early) and once per worker."""
    keep = keep_languages if keep_languages is None or isinstance(keep_languages, str) else list(keep_languages)
    make = functools.partial(make_doc_language, model_path, keep, min_probability)
    make()  # validate now
    return ApplyCore(STAGE, make)


@dataclasses.dataclass(frozen=True)
class DocLanguageConfig:
    model_path: str | None = param(None, Optional(Path()))  # fastText's lid.176.bin or .ftz; required
    keep_languages: list[str] | None = param(None, Optional(StrList(min_items=1)))  # None: label, drop nothing
    min_probability: float = param(DEFAULT_MIN_PROBABILITY, Float(0, 1))


def _model_given(params: dict) -> str | None:
    if params["model_path"] is None:
        return "model_path=None is not allowed (fastText's lid.176.bin or .ftz, by path, is required)"
    return None


DEFINITION = Stage(
    STAGE,
    lambda c, context: DocLanguage(c.model_path, c.keep_languages, c.min_probability),
    DocLanguageConfig,
    rule=_model_given,
    requires=("language",),
    group="filter",
)
