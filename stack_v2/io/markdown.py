"""Markdown pieces of the dataset card: free text shown literally, inline code spans, code fences, megabytes."""

from __future__ import annotations

import re


def megabytes(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.2f}"


# Free text from the recipe (its name and description) and the run is shown as text: it cannot open a block
# (heading, list, table, front matter, fence), start inline markup or carry raw HTML into the card.
_MD_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", **{c: "\\" + c for c in "\\`*_{}[]()#+-.!|~^$="}}


def md_text(text: str, *, one_line: bool = False) -> str:
    """Markdown showing ``text`` literally; ``one_line`` folds line breaks into spaces (for headings)."""
    lines = [" ".join(text.split())] if one_line else [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join("".join(_MD_ESCAPES.get(c, c) for c in line) for line in lines)


def md_code(text: str) -> str:
    """An inline code span holding ``text`` on one line, fenced by more backticks than it holds in a row."""
    text = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_fence(text: str) -> str:
    """A fence for a code block holding ``text``: longer than any run of backticks in it."""
    return "`" * max(3, max((len(run) for run in re.findall("`+", text)), default=0) + 1)
