"""Packed token shards: token ids of many documents in one flat binary file, plus an index, memory-mapped by a trainer.

A shard ``<prefix>`` is three files (docs/training.md describes the layout):

- ``<prefix>.bin``: every document's token ids, one after the other, little-endian unsigned integers of
  ``dtype`` (``uint16`` when the vocabulary has at most 65,536 ids, else ``uint32``), no header;
- ``<prefix>.idx.npy``: a NumPy ``int64`` array of ``documents + 1`` offsets, in tokens, into ``.bin``:
  document ``i`` is ``bin[idx[i]:idx[i + 1]]``;
- ``<prefix>.json``: ``{"format": "stack-v2-packed-tokens", "version": 1, "dtype", "vocab_size",
  "documents", "tokens"}``.

Both binary files open with ``numpy.memmap``/``numpy.load(mmap_mode="r")``, so a trainer reads a document
without loading the shard. The writer streams ``.bin`` (memory is one document plus 8 bytes per document for
the index) and writes local files under hidden names, renamed when the shard is complete.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence

import numpy as np

from stack_v2 import storage
from stack_v2.errors import StackV2Error

FORMAT = "stack-v2-packed-tokens"
VERSION = 1
SUFFIXES = (".bin", ".idx.npy", ".json")


class PackedShardError(StackV2Error):
    """A packed shard that cannot be written or read as described."""


def dtype_for(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype holding every id of a vocabulary of ``vocab_size`` ids."""
    if vocab_size <= 0:
        raise PackedShardError(f"vocab_size must be positive, not {vocab_size}")
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


class PackedShardWriter:
    """``add(ids)`` per document, then ``close()``, which writes the index and metadata and returns the metadata."""

    def __init__(self, prefix: str, vocab_size: int):
        self.prefix, self.vocab_size, self.dtype = prefix, vocab_size, dtype_for(vocab_size)
        self._offsets = [0]
        self._remote = storage.is_remote(prefix)
        if self._remote:
            fs, path = storage.filesystem(prefix + ".bin")
            self._bin_path = None
            self._out = fs.open_output_stream(path)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
            self._bin_path = storage.temporary_path(os.path.abspath(prefix + ".bin"))
            self._out = open(self._bin_path, "wb")

    def add(self, ids: Sequence[int]) -> None:
        array = np.asarray(ids, dtype=np.int64)
        if array.size and (array.min() < 0 or array.max() >= self.vocab_size):
            raise PackedShardError(f"{self.prefix}: token id out of range for a vocabulary of {self.vocab_size}")
        self._out.write(array.astype(self.dtype).tobytes())
        self._offsets.append(self._offsets[-1] + int(array.size))

    def close(self) -> dict:
        self._out.close()
        if self._bin_path is not None:
            os.replace(self._bin_path, os.path.abspath(self.prefix + ".bin"))
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(self._offsets, dtype="<i8"))
        storage.write_bytes(self.prefix + ".idx.npy", buffer.getvalue())
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "dtype": self.dtype.name,
            "vocab_size": self.vocab_size,
            "documents": len(self._offsets) - 1,
            "tokens": self._offsets[-1],
        }
        storage.write_text(self.prefix + ".json", json.dumps(meta, sort_keys=True) + "\n")
        return meta


class PackedShard:
    """A local packed shard, memory-mapped: ``len(shard)`` documents, ``shard[i]`` a read-only array of ids."""

    def __init__(self, prefix: str):
        try:
            with open(prefix + ".json", encoding="utf-8") as f:
                self.meta = json.load(f)
        except (OSError, ValueError) as exc:
            raise PackedShardError(f"packed shard {prefix}: cannot read {prefix}.json ({exc})") from exc
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise PackedShardError(f"packed shard {prefix}: not a {FORMAT} v{VERSION} shard")
        self.offsets = np.load(prefix + ".idx.npy", mmap_mode="r")
        tokens = int(self.meta["tokens"])
        if len(self.offsets) != self.meta["documents"] + 1 or int(self.offsets[-1]) != tokens:
            raise PackedShardError(f"packed shard {prefix}: index and metadata disagree")
        dtype = np.dtype(self.meta["dtype"]).newbyteorder("<")
        if os.path.getsize(prefix + ".bin") != tokens * dtype.itemsize:
            raise PackedShardError(f"packed shard {prefix}: {prefix}.bin is not {tokens} tokens long")
        self.tokens = np.zeros(0, dtype)  # numpy cannot memory-map an empty file
        if tokens:
            self.tokens = np.memmap(prefix + ".bin", dtype=dtype, mode="r", shape=(tokens,))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return self.tokens[int(self.offsets[i]) : int(self.offsets[i + 1])]
