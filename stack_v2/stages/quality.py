"""The quality filters and the language selection as build stages: each a pure core in ``ApplyCore``.

The cores (``quality.rules``, ``quality.languages``) are built once per worker from the recipe's
parameters; building one here first turns a bad parameter into an error before the pipeline starts.
"""

from __future__ import annotations

import functools

from stack_v2.quality.languages import load_selection
from stack_v2.quality.rules import make_filter
from stack_v2.stages.base import ApplyCore


def QualityFilter(name: str, params: dict) -> ApplyCore:
    make_filter(name, params)  # validate now
    return ApplyCore(name, functools.partial(make_filter, name, params))


def SelectLanguages(params: dict) -> ApplyCore:
    make = functools.partial(load_selection, params["languages"], params["keep_set"], params["keep_languages"])
    make()  # validate now
    return ApplyCore("select_languages", make)
