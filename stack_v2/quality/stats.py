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
# Per ASCII code: 1 in the class, so that one histogram of the bytes counts both classes.
_ALPHA_WEIGHTS = np.array([int(c in _ASCII_ALPHA) for c in range(128)], dtype=np.int64)
_ALNUM_WEIGHTS = np.array([int(c in _ASCII_ALNUM) for c in range(128)], dtype=np.int64)
_OTHER_BREAKS = [
    c for c in range(128) if len(f"a{chr(c)}b".splitlines()) == 2 and c != 10
]  # \r, \f, ...: str.splitlines breaks lines there too
_LF = 10


def _fractions(text: str) -> tuple[float, float]:
    if not text:
        return 0.0, 0.0
    points = code_points(text)
    alpha, alnum = int(np.count_nonzero(is_alpha()[points])), int(np.count_nonzero(is_alnum()[points]))
    return alnum / len(text), alpha / len(text)


def _stats(alphanum: float, alpha: float, lengths) -> TextStats:
    if not len(lengths):
        return TextStats(alphanum, alpha, 0, 0.0, 0)
    return TextStats(alphanum, alpha, len(lengths), sum(lengths) / len(lengths), max(lengths))


def _ascii_stats(data: bytes) -> TextStats:
    """``text_stats`` of ASCII text, from its bytes, in numpy: one histogram gives both fractions, and when
    ``\\n`` is the only line break (other breaks go to ``str.splitlines``) its positions give the line
    lengths, without making a string per line; text after the last break is a line only when there is some."""
    codes = np.frombuffer(data, dtype=np.uint8)
    size = len(codes)
    counts = np.bincount(codes, minlength=128)
    alphanum, alpha = int(counts @ _ALNUM_WEIGHTS) / size, int(counts @ _ALPHA_WEIGHTS) / size
    if counts[_OTHER_BREAKS].any():
        return _stats(alphanum, alpha, list(map(len, data.decode("ascii").splitlines())))
    breaks = np.flatnonzero(codes == _LF)
    tail = size - 1 - int(breaks[-1]) if breaks.size else size  # characters after the last newline
    num_lines = breaks.size + (tail > 0)
    longest = max(tail, int(breaks[0]) if breaks.size else 0)
    if breaks.size > 1:
        longest = max(longest, int((breaks[1:] - breaks[:-1]).max()) - 1)
    # every character but the newlines is in a line
    return TextStats(alphanum, alpha, num_lines, (size - breaks.size) / num_lines, longest)


def text_stats(text: str) -> TextStats:
    if not text:
        return TextStats(0.0, 0.0, 0, 0.0, 0)
    if text.isascii():
        return _ascii_stats(text.encode("ascii"))
    alphanum, alpha = _fractions(text)
    return _stats(alphanum, alpha, list(map(len, text.splitlines())))
