"""MinHash signatures and LSH band keys, computed in bulk over a batch of documents (the hot loop).

The paper's recipe (docs/the-stack-v2.md §6.3): lower-case the text, split on non-word
characters, take word 5-grams, MinHash them with 250 permutations, and band the signature into 25
bands of 10 rows (LSH tuned for Jaccard 0.7). Here:

1. Python lower-cases and UTF-8-encodes each text (C speed) and the batch is joined into one buffer;
2. one compiled pass (numba) walks the buffer, splits it into words exactly as Python's ``re`` ``\\w+``
   does (code points classified by ``str.isalnum()`` or ``_``), hashes each word (FNV-1a, then a
   64-bit finaliser) and mixes each window of ``ngram`` word hashes into one shingle hash;
3. rensa's R-MinHash (Rust) turns each document's shingle hashes into ``num_perm`` slots.

Two choices differ from the paper's code, both cheap: empty tokens are not shingled (the paper's
``re.split`` keeps the empty strings between adjacent separators, so layout leaks into shingles), and
a document with fewer than ``ngram`` tokens gets one shingle made of all its tokens instead of the
paper's all-MAX signature, which put every short file of a language in one giant cluster. Documents
with no token at all get no signature and are never near-duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import rensa

from stack_v2.params import Bool, Float, Int, Str, param
from stack_v2.unicode_classes import is_word

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier (golden ratio), wraps mod 2^64


@numba.njit(cache=True, nogil=True)
def _finalize(h):  # splitmix64's finaliser: FNV alone leaves the high bits weak
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _shingles(data, offsets, word_table, ngram):
    """(shingles per document, flat shingle hashes) of UTF-8 ``data`` cut into documents at ``offsets``."""
    ndocs = len(offsets) - 1
    counts = np.zeros(ndocs, np.int64)
    out = np.empty(len(data) // 2 + ndocs + 1, np.uint64)  # a word and its separator take >= 2 bytes
    ring = np.zeros(ngram, np.uint64)  # the last ngram word hashes
    n_out = 0
    for d in range(ndocs):
        i, end = offsets[d], offsets[d + 1]
        words, in_word, h = 0, False, _FNV_OFFSET
        while i <= end:
            step, is_w = 1, False
            if i < end:
                b = np.int64(data[i])
                if b < 0x80:
                    cp = b
                elif b >= 0xF0:
                    cp = ((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
                    cp |= ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F)
                    step = 4
                elif b >= 0xE0:
                    cp = ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F)
                    step = 3
                else:
                    cp = ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F)
                    step = 2
                is_w = word_table[cp]
            if is_w:
                if not in_word:
                    in_word, h = True, _FNV_OFFSET
                for k in range(step):
                    h = (h ^ np.uint64(data[i + k])) * _FNV_PRIME
            elif in_word:  # a word just ended (or the document did)
                in_word = False
                ring[words % ngram] = _finalize(h)
                words += 1
                if words >= ngram:
                    s = np.uint64(0)
                    for k in range(words - ngram, words):
                        s = s * _MIX + ring[k % ngram]
                    out[n_out] = s
                    n_out += 1
            i += step
        if words >= ngram:
            counts[d] = words - ngram + 1
        elif words > 0:  # one shingle of all the words, so only identical short texts collide
            s = np.uint64(0)
            for k in range(words):
                s = s * _MIX + ring[k]
            out[n_out] = s
            n_out += 1
            counts[d] = 1
    return counts, out[:n_out].copy()


def shingle_hashes(texts: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(shingles per document as int64, flat uint64 shingle hashes) of the texts' lower-cased word n-grams."""
    encoded = [text.lower().encode("utf-8", "surrogatepass") for text in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return _shingles(data, offsets, is_word(), ngram)


@dataclass(frozen=True)
class MinHashConfig:
    ngram: int = param(5, Int(1))
    num_perm: int = param(250, Int(1))
    # threshold ~ (1/bands)**(1/rows) = 0.72: pairs at J=0.8 are candidates with p ~ 0.94
    bands: int = param(25, Int(1, 256))  # a band's index is one byte of its LSH key
    rows: int = param(10, Int(1))
    threshold: float = param(0.7, Float(0, 1, min_exclusive=True))  # estimated Jaccard kept when verifying
    seed: int = param(42, Int(0, 2**64 - 1))  # rensa's seed is an unsigned 64-bit integer
    scope: str = param("language", Str(("language", "global")))  # dedup within each language, or across all
    verify: bool = param(True, Bool())  # check candidate pairs by estimated Jaccard before joining clusters
    max_rounds: int = param(12, Int(1))  # connected-components rounds; the run fails if labels still change

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows must be <= num_perm, got {self.bands}*{self.rows} > {self.num_perm}")
        if self.ngram < 1 or not 0 < self.threshold <= 1 or self.scope not in ("language", "global"):
            raise ValueError(f"invalid near-dedup config {self}")


def signatures(texts: list[str], config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """(uint32 signatures of shape (len(texts), num_perm), bool mask of documents that have any token)."""
    counts, shingles = shingle_hashes(texts, config.ngram)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(shingles, offsets, config.num_perm, config.seed)
    return np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(len(texts), config.num_perm), counts > 0


def band_hashes(signatures: np.ndarray, config: MinHashConfig) -> np.ndarray:
    """(documents, bands) uint64: a 64-bit hash of each band's ``rows`` signature values, for a whole batch at
    once (FNV-style over the values, then splitmix64's finaliser). Equal bands hash equally; unequal ones
    collide with probability 2^-64, and a collision only proposes a candidate pair that verification
    rejects."""
    n = len(signatures)
    rows = signatures[:, : config.bands * config.rows].reshape(n, config.bands, config.rows).astype(np.uint64)
    h = np.full((n, config.bands), _FNV_OFFSET, dtype=np.uint64)
    for r in range(config.rows):
        h = (h ^ rows[:, :, r]) * _FNV_PRIME
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


_BAND_PREFIX = [bytes([band]) for band in range(256)]


def band_keys(hashes: np.ndarray) -> list[bytes]:
    """One key per band of a document, from its row of ``band_hashes``: the band's index and the 8 bytes."""
    raw = hashes.tobytes()
    return [_BAND_PREFIX[band] + raw[8 * band : 8 * band + 8] for band in range(len(hashes))]


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
