"""Language selection (docs/the-stack-v2.md §4): files of excluded languages, or (language, extension)
pairs, are dropped, from filters/languages.yaml or a named set of it (``keep_set: smol``)."""

from __future__ import annotations

import dataclasses
import functools

from stack_v2.params import Optional, Path, Str, StrList, param
from stack_v2.quality.languages import load_selection
from stack_v2.stages.base import ApplyCore
from stack_v2.stages.stage import Stage

STAGE = "select_languages"


@dataclasses.dataclass(frozen=True)
class SelectLanguagesConfig:
    languages: str | None = param(None, Optional(Path()))  # null: filters/languages.yaml
    keep_set: str | None = param(None, Optional(Str()))  # a named set of that file
    keep_languages: list[str] | None = param(None, Optional(StrList(min_items=1)))  # empty would drop everything


def SelectLanguages(config: SelectLanguagesConfig) -> ApplyCore:
    make = functools.partial(load_selection, config.languages, config.keep_set, config.keep_languages)
    make()  # validate now
    return ApplyCore(STAGE, make)


def _one_keep_list(params: dict) -> str | None:
    if params["keep_set"] is not None and params["keep_languages"] is not None:
        return "give keep_set or keep_languages, not both"
    return None


DEFINITION = Stage(
    STAGE,
    lambda config, context: SelectLanguages(config),
    SelectLanguagesConfig,
    rule=_one_keep_list,
    requires=("language",),
    group="filter",
)
