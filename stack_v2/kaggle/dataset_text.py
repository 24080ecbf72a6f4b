"""The text of a notebook's datasets, put before its script (StarCoder2, §2.4: a Kaggle notebook is shown
with the title and description of the dataset it analyses, so that the code reads with its context).

The block is a comment in the script's language, so the script still runs and still parses (a Python
docstring would need the description's quotes escaped and would change the module's ``__doc__``). For
each dataset, in order of dataset version id::

    # Dataset: <Title>
    # <Subtitle>
    #
    # <Description, line by line (Kaggle writes it in Markdown)>

Datasets are separated by a line holding only the comment mark, and the block by a blank line from the
script. Missing parts are left out (no subtitle line when it is empty, no description lines when there
is none); a dataset with neither title nor description adds nothing. NUL and other C0 control
characters but tab are removed from the text (a NUL would make the script uncompilable). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stack_v2.kaggle.metadata import DatasetVersion

TITLE_PREFIX = "Dataset: "
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # lines are split first: \n, \r, \v, \f are gone by then


def _lines(text: str) -> list[str]:
    return [_CONTROL.sub("", line).rstrip() for line in text.strip().splitlines()]


def _dataset_lines(dataset: DatasetVersion) -> list[str]:
    title, subtitle, description = (_lines(part) for part in (dataset.title, dataset.subtitle, dataset.description))
    if not title and not description:
        return []
    head = [TITLE_PREFIX + " ".join(title)] if title else []
    head += [" ".join(subtitle)] if subtitle else []
    return head + ([""] if head and description else []) + description


def dataset_block(datasets: Sequence[DatasetVersion], comment: str = "#") -> str:
    """The datasets' text as comment lines ending with a blank line; "" when there is no text to show."""
    blocks = [lines for dataset in sorted(datasets, key=lambda d: d.id) if (lines := _dataset_lines(dataset))]
    if not blocks:
        return ""
    lines = [line for i, block in enumerate(blocks) for line in ([""] if i else []) + block]
    return "".join(f"{comment} {line}\n" if line else f"{comment}\n" for line in lines) + "\n"
