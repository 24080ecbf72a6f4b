"""The ``tokens`` section of a report.json: token counts in total, per language and per source, and the
tokenizer that counted them (its path as given, the sha256 of its file, its vocabulary size).

Shape::

    {"tokenizer": {"path": str, "sha256": str, "vocab_size": int},
     "total": int, "by_language": {language: int}, "by_source": {source: int}}

``TokenCounts`` accumulates counts (``add``, ``merge``; a Beam combiner merges one per work item);
``tokenizer_info`` describes the tokenizer; ``card_lines`` (``io.token_card``'s: the card is a floor below)
renders the section as markdown for a card.
Both ``stack-v2 tokens`` and ``stack-v2 export`` write this section, so the card and HTML report render it
the same way wherever it comes from. Pure, apart from reading the tokenizer file to hash it.
"""

from __future__ import annotations

import hashlib

from stack_v2 import storage
from stack_v2.errors import StackV2Error
from stack_v2.io.token_card import SECTION, card_lines

__all__ = ["SECTION", "UNKNOWN_LANGUAGE", "TokenCounts", "card_lines", "file_sha256", "tokenizer_info"]
UNKNOWN_LANGUAGE = "unknown"  # rows whose language is null, or sources without one


class TokenCounts:
    """Token counts per (language, source); ``to_json`` gives the section without its ``tokenizer`` part."""

    def __init__(self, counts: dict[tuple[str, str], int] | None = None):
        self.counts: dict[tuple[str, str], int] = dict(counts or {})

    def add(self, language: str | None, source: str, n: int) -> TokenCounts:
        key = (language or UNKNOWN_LANGUAGE, source)
        self.counts[key] = self.counts.get(key, 0) + int(n)
        return self

    def merge(self, other: TokenCounts) -> TokenCounts:
        for (language, source), n in other.counts.items():
            self.add(language, source, n)
        return self

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_language(self) -> dict[str, int]:
        return _sorted_by_count(_sum_by(self.counts, 0))

    def by_source(self) -> dict[str, int]:
        return _sorted_by_count(_sum_by(self.counts, 1))

    def to_json(self, tokenizer: dict | None = None) -> dict:
        """The report section; ``tokenizer`` (from ``tokenizer_info``) first when given."""
        out = {"tokenizer": tokenizer} if tokenizer is not None else {}
        return {**out, "total": self.total, "by_language": self.by_language(), "by_source": self.by_source()}

    def __eq__(self, other) -> bool:
        return isinstance(other, TokenCounts) and self.counts == other.counts

    def __repr__(self) -> str:
        return f"TokenCounts({self.counts!r})"


def _sum_by(counts: dict[tuple[str, str], int], part: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, n in counts.items():
        out[key[part]] = out.get(key[part], 0) + n
    return out


def _sorted_by_count(counts: dict[str, int]) -> dict[str, int]:
    # Most tokens first, ties by name, so the JSON (and the card) is the same on every run.
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def file_sha256(path: str) -> str:
    """The sha256 of the file at ``path`` (local or object storage), read in chunks."""
    digest = hashlib.sha256()
    try:
        if storage.is_remote(path):
            digest.update(storage.read_bytes(path))
        else:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    except OSError as exc:
        raise StackV2Error(f"tokenizer {path}: cannot read it ({exc})") from exc
    return digest.hexdigest()


def tokenizer_info(path: str, tokenizer) -> dict:
    """The section's ``tokenizer`` part: ``path`` as given, the sha256 of its file, the vocabulary size
    (with added tokens, the size a model's embedding needs)."""
    return {
        "path": path,
        "sha256": file_sha256(path),
        "vocab_size": int(tokenizer.get_vocab_size(with_added_tokens=True)),
    }
