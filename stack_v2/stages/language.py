"""Language, is_vendor and is_generated with go-enry (docs/the-stack-v2.md §3.2, §4), the paper's tool.

``enry.get_language(path, bytes)`` classifies by file name and content (Linguist's strategies);
``is_vendor(path)`` and ``is_generated(path, bytes)`` are stored, not used to drop (the training
filters of a later stage use is_generated). Files enry cannot classify are dropped (``no_language``):
the paper kept their metadata but not their content, and they cannot be placed under data/<language>/.
"""

from __future__ import annotations

import dataclasses

import enry

from stack_v2.records import FileRecord
from stack_v2.stages.base import ApplyCore, Drop
from stack_v2.stages.stage import Stage

STAGE = "language"


def classify(record: FileRecord) -> FileRecord | Drop:
    data = record.content.encode("utf-8")  # enry reads bytes; decoded text re-encoded as UTF-8
    language = enry.get_language(record.path, data) or None
    if language is None:
        return Drop("no_language", f"extension={record.extension or '(none)'}")
    return record._replace(
        language=language,
        is_vendor=bool(enry.is_vendor(record.path)),
        is_generated=bool(enry.is_generated(record.path, data)),
    )


def make_classifier():
    return classify


@dataclasses.dataclass(frozen=True)
class LanguageConfig:
    """No parameters: go-enry decides alone."""


# go-enry reads the content that fetch_decode fills
DEFINITION = Stage(
    STAGE, lambda config, context: ApplyCore(STAGE, make_classifier), LanguageConfig, requires=("fetch_decode",)
)
