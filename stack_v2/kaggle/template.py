"""Kaggle's starter cell, removed from a notebook before it becomes a script (StarCoder2, §2.4).

A new Python notebook on Kaggle opens with a code cell that Kaggle writes. It begins with a comment
saying that this Python 3 environment comes with many helpful analytics libraries installed, then
comments naming the kaggle/python Docker image, offering "several helpful packages to load", and saying
where the input files are and that running the cell lists them; then its code: numpy imported as ``np``
("linear algebra") and pandas as ``pd`` ("data processing, CSV file I/O"), ``import os`` and a loop
over ``os.walk('/kaggle/input')`` that prints every file path (older versions listed ``../input`` with
``subprocess.check_output(["ls", ...])`` or ``os.listdir``); it ends with comments on output: "You can
write up to 5GB (later 20GB) to the current directory (/kaggle/working/) ..." and "You can also write
temporary files to /kaggle/temp/ ...", or, in older versions, "Any results you write to the current
directory are saved as output." Millions of notebooks repeat it, so it teaches nothing.

Rules, for each code cell whose first non-blank line is that opening comment:

- when every other line is blank, one of the template's comments or one of its code lines, the cell is
  the unmodified template and is removed (``CELL``);
- otherwise the author built on it: the template's comment lines are removed and every other line,
  template code included, stays (``HEADER``), since that code is now part of the author's program.

Lines are compared with their whitespace collapsed and quotes unified, since the template's own
whitespace varied (doubled blank lines in old exports, two spaces before inline comments after a
formatter). The R starter ("This R environment comes with ...") is not handled: the Kaggle source keeps
Python scripts only (``script.KaggleConfig.languages``). Pure: the caller's notebook is not changed.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

NONE, HEADER, CELL = "", "header", "cell"  # what was removed: nothing, the comment lines, the whole cell

OPENING = "This Python 3 environment comes with many helpful analytics libraries installed"
# The starts of the template's comment lines, the opening included (normalised: see _normal).
_COMMENT_STARTS = (
    OPENING,
    "It is defined by the kaggle/python docker image",
    "For example, here's several helpful packages to load",
    "Input data files are available in the",
    "For example, running this (by clicking run or pressing Shift+Enter) will list",
    "You can write up to",
    "You can also write temporary files to /kaggle/temp/",
    "Any results you write to the current directory are saved as output",
)
# The template's code lines, every version's (normalised: no whitespace, double quotes).
_CODE_LINES = (
    "import numpy as np # linear algebra",
    "import pandas as pd # data processing, CSV file I/O (e.g. pd.read_csv)",
    "import os",
    "for dirname, _, filenames in os.walk('/kaggle/input'):",
    "for filename in filenames:",
    "print(os.path.join(dirname, filename))",
    "from subprocess import check_output",
    'print(check_output(["ls", "../input"]).decode("utf8"))',
    'print(os.listdir("../input"))',
)
_SPACE = re.compile(r"\s+")


def _normal(line: str) -> str:
    return _SPACE.sub(" ", line).strip().casefold()


def _code_key(line: str) -> str:
    return _SPACE.sub("", line).replace("'", '"')


_COMMENTS = tuple(_normal(start) for start in _COMMENT_STARTS)
_CODE = frozenset(_code_key(line) for line in _CODE_LINES)


def _template_comment(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("#") and _normal(stripped.lstrip("#")).startswith(_COMMENTS)


def _is_template_cell(source: str) -> bool:
    for line in source.splitlines():
        if line.strip():
            return _template_comment(line) and _normal(line.strip().lstrip("#")).startswith(_COMMENTS[0])
    return False


def strip_cell(source: str) -> tuple[str | None, str]:
    """A code cell's source without the template: (new source, or None to remove the cell; what was removed)."""
    if not _is_template_cell(source):
        return source, NONE
    lines = source.splitlines()
    if all(not line.strip() or _template_comment(line) or _code_key(line) in _CODE for line in lines):
        return None, CELL
    kept = [line for line in lines if not _template_comment(line)]
    return "\n".join(kept).strip("\n"), HEADER


def strip_template(notebook: NotebookNode) -> tuple[NotebookNode, str]:
    """The notebook (from ``notebooks.read_notebook``) without Kaggle's starter; and ``CELL`` when a whole
    template cell went, else ``HEADER`` when only its comments went, else ``NONE`` (notebook returned as is)."""
    from nbformat import NotebookNode

    cells, removed = [], NONE
    for cell in notebook.cells:
        source = cell.get("source") if isinstance(cell, dict) and cell.get("cell_type") == "code" else None
        if not isinstance(source, str):
            cells.append(cell)
            continue
        new_source, what = strip_cell(source)
        if what == NONE:
            cells.append(cell)
            continue
        removed = CELL if CELL in (what, removed) else HEADER
        if new_source is not None:
            cells.append(NotebookNode({**cell, "source": new_source}))
    if removed == NONE:
        return notebook, NONE
    stripped = copy.copy(notebook)  # shallow: only the cell list is new
    stripped.cells = cells
    return stripped, removed
