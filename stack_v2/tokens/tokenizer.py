"""A Hugging Face tokenizer given by path (``tokenizer.json``, local or ``s3://``/``gs://``), and token counts.

The ``tokenizers`` library loads the file the way ``transformers`` does for StarCoder2's tokenizer, so the
counts are the tokenizer's own (no special tokens added: a document's ``<|endoftext|>`` is in its text).
Loaded once per process and path (``ModelCache``), since Beam runs several threads per worker.
"""

from __future__ import annotations

from collections.abc import Sequence

from stack_v2 import storage
from stack_v2.errors import StackV2Error
from stack_v2.model_cache import ModelCache

# Texts per encode_batch call: large enough for the library's threads, small enough to bound memory.
BATCH = 256


class TokenizerError(StackV2Error):
    """The tokenizer file could not be read or is not a Hugging Face tokenizer."""


def _load(path: str):
    from tokenizers import Tokenizer

    try:
        data = storage.read_bytes(path) if storage.is_remote(path) else open(path, "rb").read()
    except (OSError, StackV2Error) as exc:
        raise TokenizerError(f"tokenizer {path}: cannot read it ({exc})") from exc
    try:
        return Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:  # the library raises a bare Exception for a malformed file
        raise TokenizerError(f"tokenizer {path}: not a Hugging Face tokenizer.json ({exc})") from exc


_TOKENIZERS = ModelCache(_load)


def load_tokenizer(path: str):
    """The ``tokenizers.Tokenizer`` in ``path`` (one per process and path)."""
    return _TOKENIZERS.get(path)


def count_tokens(tokenizer, texts: Sequence[str]) -> list[int]:
    """Each text's number of tokens, without special tokens added."""
    counts: list[int] = []
    for start in range(0, len(texts), BATCH):
        encodings = tokenizer.encode_batch(list(texts[start : start + BATCH]), add_special_tokens=False)
        counts += [len(e.ids) for e in encodings]
    return counts


def encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Each text's token ids, without special tokens added."""
    ids: list[list[int]] = []
    for start in range(0, len(texts), BATCH):
        encodings = tokenizer.encode_batch(list(texts[start : start + BATCH]), add_special_tokens=False)
        ids += [e.ids for e in encodings]
    return ids
