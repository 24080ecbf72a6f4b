"""The natural language of a documentation file, by fastText (lid.176 in production): a pure core.

``detect_language(content, language, model_path)`` takes the file's prose (``prose.prose``: code and
markup removed), puts it on one line (fastText's predict reads one line) and returns the model's top
label and probability, e.g. ``("en", 0.93)``, or None when there is too little prose to judge.

Limits, for speed and because more text does not change a confident answer:
- ``MAX_INPUT_CHARS`` of the file are read (documentation in the wild reaches megabytes);
- ``MAX_LINE_CHARS`` of prose are given to the model, the first ones: lid.176 averages n-gram
  vectors, so a few thousand characters decide as well as the whole file;
- under ``MIN_LETTERS`` letters (about eight English words) the answer is None: lid.176 is unreliable
  on a few words, and a README that short (a title, a badge, a command) has no prose to speak of.
"""

from __future__ import annotations

import re

from stack_v2.doclang.model import load_model, predict
from stack_v2.doclang.prose import prose

MAX_INPUT_CHARS = 100_000
MAX_LINE_CHARS = 10_000
MIN_LETTERS = 40

_URL = re.compile(r"\b(?:https?|ftp|file|mailto):\S*|\bwww\.\S+|[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+")  # bounded: linear
# Markup punctuation that survives extraction (headings, emphasis, tables, rules) carries no language.
_MARKUP = re.compile(r"[#*_=|~^<>\[\]{}`\\+]+|-{2,}|\.{3,}")


def model_line(text: str) -> str:
    """``text`` as the model reads it: one line, no URLs or markup punctuation, at most MAX_LINE_CHARS."""
    line = " ".join(text.split())[: 2 * MAX_LINE_CHARS]  # whitespace first: indentation can dwarf the text
    line = " ".join(_MARKUP.sub(" ", _URL.sub(" ", line)).split())  # and no newline: predict stops at one
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS].rsplit(" ", 1)[0]  # cut between words
    return line


def letter_count(line: str) -> int:
    return sum(map(str.isalpha, line))


def detect_language(content: str, language: str, model_path: str) -> tuple[str, float] | None:
    """(language code, probability) of documentation ``content`` of go-enry ``language``; None if too short."""
    line = model_line(prose(content[:MAX_INPUT_CHARS], language))
    if letter_count(line) < MIN_LETTERS:
        return None
    return predict(load_model(model_path), line)
