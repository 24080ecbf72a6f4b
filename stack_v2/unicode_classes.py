"""Python's character classes as lookup tables over all code points, for counting in bulk with numpy.

``str.isalpha()``, ``str.isalnum()`` and ``re``'s ``\\w`` (``isalnum() or "_"``) per code point,
so that counting over a text is one vectorised lookup instead of a Python loop per character, with
exactly Python's answers. Building them takes about a quarter of a CPU-second, paid by every process
(every build, every worker), so they are kept on disk as bits (~280 kB) under
``$XDG_CACHE_HOME/stack-v2/``, named by the Python and Unicode versions that answered and checked by a
SHA-256 of their bits when read back; a missing, stale or damaged file is rebuilt, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import unicodedata

import numpy as np

_CODE_POINTS = 0x110000


def _build() -> tuple[np.ndarray, np.ndarray]:
    chars = [chr(c) for c in range(_CODE_POINTS)]
    alpha = np.fromiter((c.isalpha() for c in chars), dtype=np.bool_, count=_CODE_POINTS)
    alnum = np.fromiter((c.isalnum() for c in chars), dtype=np.bool_, count=_CODE_POINTS)
    return alpha, alnum


def cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    python = f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    return os.path.join(base, "stack-v2", f"unicode-classes-{python}-unicode-{unicodedata.unidata_version}.bin")


def _read(path: str) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    digest, bits = data[:32], data[32:]
    if len(bits) != 2 * _CODE_POINTS // 8 or hashlib.sha256(bits).digest() != digest:
        return None
    unpacked = np.unpackbits(np.frombuffer(bits, dtype=np.uint8)).astype(np.bool_)
    return unpacked[:_CODE_POINTS], unpacked[_CODE_POINTS:]


def _write(path: str, alpha: np.ndarray, alnum: np.ndarray) -> None:
    bits = np.packbits(np.concatenate([alpha, alnum])).tobytes()
    tmp = f"{path}.{os.getpid()}.tmp"
    try:  # best effort: without a writable cache every process builds the tables itself
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(hashlib.sha256(bits).digest() + bits)
        os.replace(tmp, path)
    except OSError:
        if os.path.exists(tmp):
            os.remove(tmp)


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    path = cache_path()
    cached = _read(path)
    if cached is not None:
        return cached
    alpha, alnum = _build()
    _write(path, alpha, alnum)
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
