"""Is a string random-looking (a key) or word-like (an identifier, a word)? The paper's KEY post-filter.

BigCode (docs/the-stack-v2.md §8.1) keeps a KEY only if ``gibberish-detector`` calls it gibberish, using a
character-bigram model trained on an English text they downloaded. We do the same without downloading anything: a
bigram model over ``a-z``, ``0-9`` and a word boundary, trained on the identifiers, comments and docstrings of the
Python standard library's top-level modules (real English and real code names). A string is gibberish when the mean
log-probability of its transitions is below ``THRESHOLD``.

The table is generated once and shipped (``_gibberish_table.py``) so that every machine redacts alike; the
threshold was chosen on held-out identifiers against random hex/base64/alphanumeric strings. Rebuild with
``python -m stack_v2.pii.gibberish`` (it rewrites the table; review the printed error rates).
"""

from __future__ import annotations

import collections
import io
import itertools
import math
import random
import re
import string
import sysconfig
import tokenize
from collections.abc import Iterable, Iterator
from pathlib import Path

from stack_v2.pii._gibberish_table import LOG_PROBS, THRESHOLD

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 "  # the last class is the word boundary
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_BOUNDARY = len(ALPHABET) - 1
_WORD = re.compile(r"[A-Za-z]{2,}")


def _classes(text: str) -> list[int]:
    """Lower-cased classes with one boundary at each end; runs of other characters become one boundary."""
    out = [_BOUNDARY]
    for ch in text.lower():
        cls = _INDEX.get(ch, _BOUNDARY)
        if cls == _BOUNDARY and out[-1] == _BOUNDARY:
            continue
        out.append(cls)
    if out[-1] != _BOUNDARY:
        out.append(_BOUNDARY)
    return out


def score(text: str, table: list[list[float]] = LOG_PROBS) -> float:
    """Mean natural-log probability of the string's character transitions (higher is more word-like)."""
    seq = _classes(text)
    if len(seq) < 2:
        return 0.0
    return sum(table[a][b] for a, b in itertools.pairwise(seq)) / (len(seq) - 1)


def is_gibberish(text: str) -> bool:
    return score(text) < THRESHOLD


# --- training (run by hand; the result is shipped) ---


def corpus_tokens(paths: Iterable[Path]) -> Iterator[str]:
    """Identifiers, and the words of comments and strings, of Python sources."""
    for path in paths:
        source = path.read_text(encoding="utf-8", errors="replace")
        try:
            for tok in tokenize.generate_tokens(io.StringIO(source).readline):
                if tok.type == tokenize.NAME:
                    yield tok.string
                elif tok.type in (tokenize.COMMENT, tokenize.STRING):
                    yield from _WORD.findall(tok.string)
        except (tokenize.TokenError, SyntaxError):
            continue


def train(tokens: Iterable[str]) -> list[list[float]]:
    """Add-one smoothed transition log-probabilities."""
    counts: collections.Counter = collections.Counter()
    for token in tokens:
        seq = _classes(token)
        counts.update(itertools.pairwise(seq))
    size = len(ALPHABET)
    table = []
    for a in range(size):
        row = sum(counts[a, b] for b in range(size)) + size
        table.append([round(math.log((counts[a, b] + 1) / row), 3) for b in range(size)])
    return table


def random_strings(seed: int = 0, per_kind: int = 400) -> list[str]:
    """The gibberish side of calibration: random hex, base64, alphanumeric and AWS-style strings."""
    rng = random.Random(seed)
    kinds = [
        (string.hexdigits[:16], 16, 64),
        (string.ascii_letters + string.digits + "+/", 20, 64),
        (string.ascii_letters + string.digits, 16, 40),
        (string.ascii_uppercase + string.digits, 16, 32),
        (string.ascii_lowercase + string.digits, 9, 16),
    ]
    return [
        "".join(rng.choice(alpha) for _ in range(rng.randint(lo, hi)))
        for alpha, lo, hi in kinds
        for _ in range(per_kind)
    ]


def calibrate(table, words: list[str], random_like: list[str]) -> tuple[float, float, float]:
    """The threshold minimising (words called gibberish) + (random strings missed), with both rates."""
    best = None
    for step in range(250, 600):
        threshold = -step / 100
        fp = sum(score(w, table) < threshold for w in words) / len(words)
        fn = sum(score(r, table) >= threshold for r in random_like) / len(random_like)
        if best is None or fp + fn < best[1] + best[2]:
            best = (threshold, fp, fn)
    return best


def _main() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py"))  # top-level modules: real prose and names, no test vectors
    held = {p for i, p in enumerate(files) if i % 5 == 0}
    table = train(corpus_tokens(p for p in files if p not in held))
    words = sorted({t for t in corpus_tokens(sorted(held)) if len(t) > 8})
    threshold, fp, fn = calibrate(table, words, random_strings())
    print(f"held-out words called gibberish {fp:.4f}, random strings missed {fn:.4f}, threshold {threshold}")
    final = train(corpus_tokens(files))
    rows = ",\n".join("    [" + ", ".join(f"{v:g}" for v in row) + "]" for row in final)
    target = Path(__file__).with_name("_gibberish_table.py")
    target.write_text(
        '"""Generated by ``python -m stack_v2.pii.gibberish`` from the standard library of Python '
        f'{sysconfig.get_python_version()}; do not edit."""\n\n# fmt: off\n'
        f"THRESHOLD = {threshold}\n\nLOG_PROBS = [\n{rows},\n]\n"
    )
    print(f"wrote {target.name}: {len(files)} files")


if __name__ == "__main__":
    _main()
