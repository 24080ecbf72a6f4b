"""Python's character classes as lookup tables over all code points, for counting in bulk with numpy.

``str.isalpha()``, ``str.isalnum()`` and ``re``'s ``\\w`` (``isalnum() or "_"``) per code point,
built once per process (about a quarter of a second) so that counting over a text is one vectorised
lookup instead of a Python loop per character, with exactly Python's answers.
"""

from __future__ import annotations

import functools

import numpy as np

_CODE_POINTS = 0x110000


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    chars = [chr(c) for c in range(_CODE_POINTS)]
    alpha = np.fromiter((c.isalpha() for c in chars), dtype=np.bool_, count=_CODE_POINTS)
    alnum = np.fromiter((c.isalnum() for c in chars), dtype=np.bool_, count=_CODE_POINTS)
    return alpha, alnum


def is_alpha() -> np.ndarray:
    return _tables()[0]


def is_alnum() -> np.ndarray:
    return _tables()[1]


@functools.cache
def is_word() -> np.ndarray:
    """``re``'s ``\\w`` for str patterns: alphanumeric or the underscore."""
    table = is_alnum().copy()
    table[ord("_")] = True
    return table


def code_points(text: str) -> np.ndarray:
    """The text's code points as uint32 (lone surrogates kept as themselves)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
