"""MinHash signatures and LSH band keys, vectorised over a batch of documents (the hot loop).

The paper's recipe (reference/stackv2_spec.md §4.3): lower-case the text, split on non-word
characters, take word 5-grams, MinHash them with 250 permutations, and band the signature into 25
bands of 10 rows (LSH tuned for Jaccard 0.7). Here every step runs in bulk, with no per-token Python
work:

1. polars lower-cases, extracts ``\\w+`` tokens and hashes them (Rust, one call per batch);
2. numpy mixes each window of ``ngram`` token hashes into one 64-bit shingle hash (wrapping
   multiply-add over the flat token array, windows that cross documents left out);
3. rensa's R-MinHash (Rust) turns each document's shingle hashes into ``num_perm`` slots.

Two choices differ from the paper's code, both cheap: empty tokens are not shingled (the paper's
``re.split`` keeps the empty strings between adjacent separators, so layout leaks into shingles), and
a document with fewer than ``ngram`` tokens gets one shingle made of all its tokens instead of the
paper's all-MAX signature, which put every short file of a language in one giant cluster. Documents
with no token at all get no signature and are never near-duplicates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl
import rensa

_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier (golden ratio), wraps mod 2^64
SIGNATURE_FORMAT = f"polars-hash0+mix5+rensa-rminhash-v{rensa.RMinHash.ALGORITHM_VERSION}"


@dataclass(frozen=True)
class MinHashConfig:
    ngram: int = 5
    num_perm: int = 250
    bands: int = 25  # threshold ~ (1/bands)**(1/rows) = 0.72: pairs at J=0.8 are candidates with p ~ 0.94
    rows: int = 10
    threshold: float = 0.7  # Jaccard above which candidate pairs are kept when verifying
    seed: int = 42
    scope: str = "language"  # language: dedup within each language; global: across all
    verify: bool = True  # check candidate pairs by estimated Jaccard before joining clusters
    max_rounds: int = 12  # connected-components rounds; the run fails if labels still change

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows must be <= num_perm, got {self.bands}*{self.rows} > {self.num_perm}")
        if self.ngram < 1 or not 0 < self.threshold <= 1 or self.scope not in ("language", "global"):
            raise ValueError(f"invalid near-dedup config {self}")


def token_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(tokens per document as int64, flat uint64 token hashes): \\w+ tokens of the lower-cased texts."""
    tokens = pl.Series(texts, dtype=pl.String).str.to_lowercase().str.extract_all(r"\w+")
    lengths = tokens.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = tokens.explode().drop_nulls().hash(seed=0).to_numpy().astype(np.uint64, copy=False)
    return lengths, flat


def shingle_hashes(lengths: np.ndarray, flat: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(shingles per document, flat uint64 shingle hashes) for word n-grams within each document."""
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    window = max(len(flat) - ngram + 1, 0)
    mixed = flat[:window].copy()
    with np.errstate(over="ignore"):
        for k in range(1, ngram):
            mixed = mixed * _MIX + flat[k : k + window]
    counts = np.maximum(lengths - ngram + 1, 0)
    first = np.repeat(starts, counts)
    offset = np.arange(counts.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    shingles = mixed[first + offset] if len(first) else np.empty(0, dtype=np.uint64)
    short = np.flatnonzero((lengths > 0) & (lengths < ngram))
    if len(short):  # one shingle of all the tokens, so only identical short texts collide
        counts = counts.copy()
        parts, cursor = [], 0
        ends = np.cumsum(counts)
        for doc in short:
            with np.errstate(over="ignore"):
                h = np.uint64(0)
                for token in flat[starts[doc] : starts[doc] + lengths[doc]]:
                    h = h * _MIX + token
            insert_at = ends[doc]  # after the doc's (zero) shingles, in document order
            parts.append(shingles[cursor:insert_at])
            parts.append(np.array([h], dtype=np.uint64))
            cursor = insert_at
            counts[doc] = 1
        parts.append(shingles[cursor:])
        shingles = np.concatenate(parts)
    return counts, shingles


def signatures(texts: list[str], config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """(uint32 signatures of shape (len(texts), num_perm), bool mask of documents that have any token)."""
    lengths, flat = token_hashes(texts)
    counts, shingles = shingle_hashes(lengths, flat, config.ngram)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(shingles, offsets, config.num_perm, config.seed)
    return np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(len(texts), config.num_perm), counts > 0


def band_keys(signature: np.ndarray, config: MinHashConfig) -> list[bytes]:
    """One key per band: the band's index and an 8-byte hash of its rows."""
    return [
        bytes([band]) + hashlib.blake2b(signature[band * config.rows : (band + 1) * config.rows].tobytes(),
                                        digest_size=8).digest()
        for band in range(config.bands)
    ]  # fmt: skip


def estimated_jaccard(a: bytes | np.ndarray, b: bytes | np.ndarray) -> float:
    a = np.frombuffer(a, dtype=np.uint32) if isinstance(a, bytes) else a
    b = np.frombuffer(b, dtype=np.uint32) if isinstance(b, bytes) else b
    return float(np.mean(a == b))


def shingle_set(text: str, ngram: int) -> set[tuple[str, ...]]:
    """Exact shingles, for brute-force Jaccard in tests and quality checks (same tokens as above)."""
    import re

    tokens = re.findall(r"\w+", text.lower())
    if 0 < len(tokens) < ngram:
        return {tuple(tokens)}
    return {tuple(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)}


def exact_jaccard(a: str, b: str, ngram: int = 5) -> float:
    sa, sb = shingle_set(a, ngram), shingle_set(b, ngram)
    return len(sa & sb) / len(sa | sb) if sa or sb else 0.0
