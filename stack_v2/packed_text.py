"""A record's text pickled compressed: what a record with content costs to move between workers.

Beam moves a record that sits inside a tuple (a join's ``(blob_id, record)``, a writer's ``(shard, record)``)
with its fallback coder, pickle, on every runner: into and out of each shuffle, and wherever a runner
materialises a PCollection (the FnApiRunner does at every Flatten and before a side input's consumer). At
the build's one join of whole records (near-dedup's verdicts) and the data writer's grouping, the content
is nearly all of those bytes, and on the in-process runner each crossing costs about 8 CPU-seconds per GB
(encoding, the data plane's copies, fresh pages for its buffers). Source code compresses about 3x with
LZ4 at over 600 MB/s (decompression near 1.5 GB/s), so a record pickles its text LZ4-compressed from
``MIN_PACKED`` characters on: in bench_build's 408 MB build the bytes through the in-process runner's
shuffle and materialisation buffers fell from 1.87 to 1.02 GB (the content's share to a third), and a
Dataflow shuffle bills the content a third of its size.

``reduce_packed(record, field)`` is a NamedTuple's ``__reduce__``: the tuple with that text field packed when
it is long enough; unpickling rebuilds the same record (the text round-trips exactly, lone surrogates
included). A record often crosses twice in a row (read back from a materialised PCollection, then into a
shuffle) with the very text object it was unpickled with: the last few unpacked texts keep their packed
bytes, so such a text is compressed once, not once per crossing.
"""

from __future__ import annotations

import collections

import pyarrow as pa

MIN_PACKED = 2048  # characters: shorter text pickles as it is (compressing it saves little)
_CODEC = pa.Codec("lz4_raw")  # LZ4 blocks: the UTF-8 length is stored beside them
_RECENT = 8  # unpacked texts that keep their packed bytes (held, so their id stays theirs)
_unpacked: collections.OrderedDict = collections.OrderedDict()  # id(text) -> (text, size, packed)


def pack(text: str) -> tuple[int, bytes]:
    """(UTF-8 length, LZ4 block of the UTF-8 bytes)."""
    recent = _unpacked.get(id(text))
    if recent is not None and recent[0] is text:
        return recent[1], recent[2]
    data = text.encode("utf-8", "surrogatepass")
    return len(data), _CODEC.compress(data, asbytes=True)


def unpack(size: int, packed: bytes) -> str:
    text = _CODEC.decompress(packed, size, asbytes=True).decode("utf-8", "surrogatepass")
    _unpacked[id(text)] = (text, size, packed)
    if len(_unpacked) > _RECENT:
        _unpacked.popitem(last=False)
    return text


def _rebuild(cls, values: tuple, index: int, size: int, packed: bytes):
    return cls(*values[:index], unpack(size, packed), *values[index:])


def reduce_packed(record, index: int):
    """``__reduce__`` of a NamedTuple whose field ``index`` is text (or None)."""
    text = record[index]
    if text is None or len(text) < MIN_PACKED:
        return type(record), tuple(record)
    values = tuple(record)
    return _rebuild, (type(record), values[:index] + values[index + 1 :], index, *pack(text))
