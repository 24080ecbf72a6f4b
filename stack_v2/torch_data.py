"""PyTorch datasets over a stack-v2 dataset: a streaming ``IterableDataset`` of shard rows, split by rank and
DataLoader worker and resumable, and a map-style dataset of packed token shards (``stack-v2 tokens --pack``).

``ShardIterableDataset`` is ``shard_stream.ShardStream`` inside a DataLoader: each worker of each rank is one
replica (``rank * num_workers + worker`` of ``world_size * num_workers``), so every row reaches exactly one
worker of one rank. The rank and world size come from ``torch.distributed`` once it is initialized, else
from the arguments (0 and 1 by default).

Resuming with workers: a worker's position lives in the worker process, and the batches it prefetched have
not reached the trainer yet, so the position the trainer can checkpoint is what it consumed. The
``ResumableDataLoader`` tags every row with its worker and that worker's position, takes the tags off each
batch as the trainer receives it, and keeps the latest position per worker: ``state_dict()`` is exactly
what the trainer consumed, and ``load_state_dict`` makes the next iteration of every worker start after it
(the same ``num_workers`` and world size are required). A plain ``DataLoader`` over the dataset works too,
without positions. Only the first iteration after ``load_state_dict`` resumes; the next epoch starts over.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from stack_v2 import storage
from stack_v2.shard_stream import (
    DEFAULT_BATCH_ROWS,
    STATE_FORMAT,
    STATE_VERSION,
    ShardStream,
    ShardStreamError,
    fingerprint,
    plan_units,
    shard_files,
)
from stack_v2.tokens.packed import FORMAT, PackedShard

LOADER_STATE_FORMAT = "stack-v2-torch-loader"
WORKER_KEY, POSITION_KEY = "_stack_v2_worker", "_stack_v2_position"  # the tags ResumableDataLoader removes


def _distributed() -> tuple[int, int] | None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return None


class ShardIterableDataset(IterableDataset):
    """Rows (dicts of the selected ``columns``) of a dataset's Parquet shards, this rank's and this worker's
    share; ``transform(row)`` is applied to each (e.g. tokenization)."""

    def __init__(
        self,
        uri: str,
        columns: Sequence[str] | None = None,
        *,
        table: str = "data",
        rank: int | None = None,
        world_size: int | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
        unsigned: bool = False,
        transform: Callable[[dict], object] | None = None,
    ):
        super().__init__()
        found = _distributed()
        self.rank, self.world_size = (rank or 0, world_size or 1) if found is None else found
        if found is not None and ((rank is not None and rank != found[0]) or (world_size not in (None, found[1]))):
            raise ShardStreamError(
                f"{uri}: rank/world_size {rank}/{world_size} differ from torch.distributed's {found}"
            )
        self.uri, self.columns, self.table = uri, columns, table
        self.batch_size, self.unsigned, self.transform = batch_size, unsigned, transform
        self.tag_positions = False  # set by ResumableDataLoader
        self._resume: dict | None = None  # a loaded loader state, for the next iteration
        self._stream: ShardStream | None = None  # the in-process stream (num_workers=0)
        self._fingerprint: str | None = None

    def stream(self, worker: int = 0, num_workers: int = 1) -> ShardStream:
        return ShardStream(
            self.uri,
            self.columns,
            table=self.table,
            rank=self.rank,
            world_size=self.world_size,
            worker=worker,
            num_workers=num_workers,
            batch_size=self.batch_size,
            unsigned=self.unsigned,
        )

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            fs, root, files = shard_files(storage.absolute(self.uri), table=self.table, unsigned=self.unsigned)
            self._fingerprint = fingerprint(plan_units(fs, root, files))
        return self._fingerprint

    def __iter__(self):
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        stream = self.stream(worker, num_workers)
        resume, self._resume = self._resume, None  # this iteration only (the worker's copy, or in-process)
        if resume is not None:
            if resume["num_workers"] != num_workers:
                raise ShardStreamError(
                    f"{self.uri}: the saved position is of {resume['num_workers']} DataLoader worker(s), "
                    f"this loader has {num_workers}"
                )
            stream.load_state_dict(resume["workers"][worker])
        if info is None:
            self._stream = stream
        return self._rows(stream, worker)  # the above runs now, not at the first row: the resume is taken

    def _rows(self, stream: ShardStream, worker: int):
        for row in stream:
            if self.transform is not None:
                row = self.transform(row)
            if self.tag_positions:
                if not isinstance(row, dict):
                    raise TypeError(f"ResumableDataLoader: transform must return a dict, not {type(row).__name__}")
                row = {**row, WORKER_KEY: worker, POSITION_KEY: stream.rows}
            yield row

    def state_dict(self) -> dict:
        """The position of an in-process iteration (a DataLoader with ``num_workers=0``, or iterating the
        dataset directly); with workers, use ``ResumableDataLoader.state_dict``."""
        rows = self._stream.rows if self._stream is not None else 0
        return {"format": LOADER_STATE_FORMAT, "num_workers": 1, "workers": [self.worker_state(0, 1, rows)]}

    def worker_state(self, worker: int, num_workers: int, rows: int) -> dict:
        """``ShardStream.state_dict()`` of worker ``worker`` of ``num_workers`` after ``rows`` rows."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint(),
            "rank": self.rank,
            "world_size": self.world_size,
            "worker": worker,
            "num_workers": num_workers,
            "rows": rows,
        }

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("format") != LOADER_STATE_FORMAT:
            raise ShardStreamError(f"{self.uri}: not a {LOADER_STATE_FORMAT} state: {state!r:.200}")
        self._resume = state


def _untag(batch) -> tuple[object, list[tuple[int, int]]]:
    """The batch without its position tags, and its (worker, position) pairs."""
    if isinstance(batch, dict):
        workers, positions = batch.pop(WORKER_KEY, None), batch.pop(POSITION_KEY, None)
        if workers is None:
            return batch, []
        as_list = [v.tolist() if isinstance(v, torch.Tensor) else v for v in (workers, positions)]
        workers, positions = ([v] if isinstance(v, int) else list(v) for v in as_list)
        return batch, list(zip(workers, positions, strict=True))
    if isinstance(batch, list) and batch and isinstance(batch[0], dict):  # collate_fn=list and the like
        pairs = [(row.pop(WORKER_KEY), row.pop(POSITION_KEY)) for row in batch if WORKER_KEY in row]
        return batch, pairs
    return batch, []


class ResumableDataLoader(DataLoader):
    """A DataLoader over a ``ShardIterableDataset`` whose ``state_dict()`` is the rows the trainer consumed,
    per worker, and whose ``load_state_dict`` resumes right after them (``num_workers`` as when saved)."""

    def __init__(self, dataset: ShardIterableDataset, **kwargs):
        if not isinstance(dataset, ShardIterableDataset):
            raise TypeError("ResumableDataLoader: the dataset must be a ShardIterableDataset")
        super().__init__(dataset, **kwargs)
        dataset.tag_positions = True
        self._positions: dict[int, int] = {}

    def _workers(self) -> int:
        return max(self.num_workers, 1)

    def __iter__(self):
        resume = self.dataset._resume
        self._positions = {w: s["rows"] for w, s in enumerate(resume["workers"])} if resume else {}
        iterator = super().__iter__()  # the workers take their copy of the dataset (and its resume) here
        self.dataset._resume = None
        for batch in iterator:
            batch, pairs = _untag(batch)
            for worker, position in pairs:
                self._positions[worker] = max(position, self._positions.get(worker, 0))
            yield batch

    def state_dict(self) -> dict:
        n = self._workers()
        return {
            "format": LOADER_STATE_FORMAT,
            "num_workers": n,
            "workers": [self.dataset.worker_state(w, n, self._positions.get(w, 0)) for w in range(n)],
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("num_workers") != self._workers():
            raise ShardStreamError(
                f"{self.dataset.uri}: the saved position is of {state.get('num_workers')} DataLoader worker(s), "
                f"this loader has {self._workers()}"
            )
        self.dataset.load_state_dict(state)


def packed_prefixes(pack_dir: str) -> list[str]:
    """The packed shards of ``pack_dir``: those its ``index.json`` lists (``stack-v2 tokens --pack``), in its
    order; without an index (an export's ``packed/``), every ``<prefix>.json`` of the format, in path order."""
    index = os.path.join(pack_dir, "index.json")
    try:
        if os.path.isfile(index):
            with open(index, encoding="utf-8") as f:
                return [os.path.join(pack_dir, *s["prefix"].split("/")) for s in json.load(f)["shards"]]
        prefixes = []
        for path in sorted(glob.glob(os.path.join(glob.escape(pack_dir), "**", "*.json"), recursive=True)):
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
            if isinstance(meta, dict) and meta.get("format") == FORMAT:
                prefixes.append(path.removesuffix(".json"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ShardStreamError(f"packed tokens {pack_dir}: cannot list the shards ({exc})") from exc
    if not prefixes:
        raise ShardStreamError(f"packed tokens {pack_dir}: no packed token shards")
    return prefixes


class PackedTokensDataset(Dataset):
    """Map-style: document ``i`` of the packed token shards of ``pack_dir`` (``packed_prefixes``), as an
    ``int64`` tensor; shards are memory-mapped (local only)."""

    def __init__(self, pack_dir: str):
        self.shards = [PackedShard(prefix) for prefix in packed_prefixes(pack_dir)]
        self.ends = np.cumsum([len(s) for s in self.shards], dtype=np.int64)

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def __getitem__(self, i: int) -> torch.Tensor:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        k = int(np.searchsorted(self.ends, i, side="right"))
        j = i - (int(self.ends[k - 1]) if k else 0)
        return torch.from_numpy(np.asarray(self.shards[k][j], dtype=np.int64))
