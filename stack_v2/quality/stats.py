"""Per-file statistics of the-stack-v2 train sets (docs/the-stack-v2.md §11.4), also what the
quality filters measure: alphanum_fraction, alpha_fraction, num_lines, avg_line_length, max_line_length.

Definitions as BigCode's code computes them: fractions over all characters (``str.isalnum()`` /
``str.isalpha()``), lines from ``str.splitlines()`` (so a final newline adds no empty line), and line
lengths in characters without the line break. An empty file has 0 lines and zeros everywhere.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from stack_v2.unicode_classes import code_points, is_alnum, is_alpha


class TextStats(NamedTuple):
    alphanum_fraction: float
    alpha_fraction: float
    num_lines: int
    avg_line_length: float
    max_line_length: int


_ASCII_ALPHA = bytes(c for c in range(128) if chr(c).isalpha())
_ASCII_ALNUM = bytes(c for c in range(128) if chr(c).isalnum())


def _fractions(text: str) -> tuple[float, float]:
    if not text:
        return 0.0, 0.0
    if text.isascii():  # C-speed counting: delete the class's bytes and measure what is left
        data = text.encode("ascii")
        alpha = len(data) - len(data.translate(None, _ASCII_ALPHA))
        alnum = len(data) - len(data.translate(None, _ASCII_ALNUM))
    else:
        points = code_points(text)
        alpha, alnum = int(np.count_nonzero(is_alpha()[points])), int(np.count_nonzero(is_alnum()[points]))
    return alnum / len(text), alpha / len(text)


def text_stats(text: str) -> TextStats:
    alphanum, alpha = _fractions(text)
    lengths = list(map(len, text.splitlines()))
    if not lengths:
        return TextStats(alphanum, alpha, 0, 0.0, 0)
    return TextStats(alphanum, alpha, len(lengths), sum(lengths) / len(lengths), max(lengths))
