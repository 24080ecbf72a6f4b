"""Markdown pieces of the dataset card: free text shown literally, inline code spans, code fences, megabytes;
and the card's final text as huggingface_hub would write it (``hub_card_text``)."""

from __future__ import annotations

import re

import yaml
from huggingface_hub.repocard_data import DatasetCardData


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


# huggingface_hub.repocard's, which splits a card into its YAML block and its text.
_YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")


def hub_card_text(content: str) -> str:
    """``str(huggingface_hub.DatasetCard(content))``: the YAML block read back into DatasetCardData (which checks
    it) and written again in its keys' order, the text after it as it is. Done here because importing
    huggingface_hub.repocard imports the Hub's HTTP client too, a quarter of a CPU-second of a build's fixed
    cost for a card that is only written to a file. ``content`` starts with ``---\n``, so lines end in ``\n``."""
    match = _YAML_BLOCK.search(content)
    data_dict = yaml.safe_load(match.group(2)) or {}
    if not isinstance(data_dict, dict):
        raise ValueError("repo card metadata block should be a dict")
    data = DatasetCardData(**data_dict, ignore_metadata_errors=False)
    return f"---\n{data.to_yaml(line_break=chr(10), original_order=list(data_dict))}\n---\n{content[match.end() :]}"
