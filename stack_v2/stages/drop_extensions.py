"""Drop files by extension: the worked example of docs/adding-a-stage.md, and a stage in its own right
(leave out ``.min.js`` bundles or ``.lock`` files, say). Extensions match case-insensitively, with or
without the leading dot, on the end of the file name (so ``min.js`` works)."""

from __future__ import annotations

import dataclasses
import functools

from stack_v2.params import StrList, param
from stack_v2.records import FileRecord
from stack_v2.stages.base import ApplyCore, Drop
from stack_v2.stages.stage import Stage

STAGE = "drop_extensions"


@dataclasses.dataclass(frozen=True)
class DropExtensionsConfig:
    extensions: list[str] = param(["lock"], StrList(min_items=1))  # e.g. [lock, min.js]; dots optional


class DropByExtension:
    """The pure core: FileRecord -> the record, or Drop("extension") naming the extension."""

    def __init__(self, extensions: list[str]):
        self._extensions = frozenset(e.lower().lstrip(".") for e in extensions)

    def __call__(self, record: FileRecord) -> FileRecord | Drop:
        name = record.path.rsplit("/", 1)[-1].lower()
        for extension in self._extensions:
            if name.endswith("." + extension):
                return Drop("extension", f"extension={extension}")
        return record


DEFINITION = Stage(
    STAGE,
    lambda config, context: ApplyCore(STAGE, functools.partial(DropByExtension, list(config.extensions))),
    DropExtensionsConfig,
    group="filter",
)
