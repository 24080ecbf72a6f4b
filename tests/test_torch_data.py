"""PyTorch over stack-v2 shards (stack_v2.torch_data), on Parquet files of real standard-library sources: a
DataLoader with 2 workers yields every row exactly once, for every rank of a world of 1, 2 and 3; a
ResumableDataLoader checkpointed mid-epoch resumes with exactly the rows not yet consumed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from stream_data import stdlib_rows, write_shards
from torch.utils.data import DataLoader

from stack_v2.shard_stream import ShardStreamError
from stack_v2.tokens.packed import PackedShardWriter
from stack_v2.torch_data import PackedTokensDataset, ResumableDataLoader, ShardIterableDataset


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("torch-shards")
    write_shards(directory, stdlib_rows(), files=4, row_group_size=5)
    return directory


@pytest.fixture(scope="module")
def expected() -> Counter:
    return Counter((r["path"], r["content"]) for r in stdlib_rows())


def rows_of(batch: dict) -> list[tuple]:
    return list(zip(batch["path"], batch["content"], strict=True))


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_a_dataloader_with_two_workers_yields_every_row_once(shards, expected, world_size):
    seen = []
    for rank in range(world_size):
        dataset = ShardIterableDataset(str(shards), ["path", "content"], rank=rank, world_size=world_size)
        for batch in DataLoader(dataset, batch_size=4, num_workers=2):
            seen += rows_of(batch)
    assert Counter(seen) == expected and sum(expected.values()) > 40


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("consumed", [1, 3, 7])
def test_resuming_a_loader_gives_exactly_the_rows_not_consumed(shards, expected, num_workers, consumed):
    def loader():
        dataset = ShardIterableDataset(str(shards), ["path", "content"], rank=1, world_size=2)
        return ResumableDataLoader(dataset, batch_size=3, num_workers=num_workers)

    everything = Counter(row for batch in loader() for row in rows_of(batch))
    first = loader()
    it = iter(first)
    head = [row for _ in range(consumed) for row in rows_of(next(it))]
    state = json.loads(json.dumps(first.state_dict()))  # plain JSON, as a trainer checkpoints it
    assert sum(w["rows"] for w in state["workers"]) == len(head)
    del it
    resumed = loader()
    resumed.load_state_dict(state)
    rest = [row for batch in resumed for row in rows_of(batch)]
    assert Counter(head + rest) == everything and len(head) + len(rest) == sum(everything.values())
    assert "_stack_v2_worker" not in next(iter(loader()))  # the position tags never reach the trainer
    # the epoch after the resumed one starts over
    assert Counter(row for batch in resumed for row in rows_of(batch)) == everything


def test_a_position_needs_the_same_number_of_workers(shards):
    dataset = ShardIterableDataset(str(shards), ["path"])
    two = ResumableDataLoader(dataset, batch_size=2, num_workers=2)
    next(iter(two))
    state = two.state_dict()
    with pytest.raises(ShardStreamError, match="2 DataLoader worker"):
        ResumableDataLoader(ShardIterableDataset(str(shards), ["path"]), batch_size=2).load_state_dict(state)


def test_iterating_the_dataset_in_process_resumes_too(shards):
    dataset = ShardIterableDataset(str(shards), ["path"], rank=0, world_size=3)
    full = [r["path"] for r in dataset]
    it = iter(dataset)
    head = [next(it)["path"] for _ in range(4)]
    state = dataset.state_dict()
    again = ShardIterableDataset(str(shards), ["path"], rank=0, world_size=3)
    again.load_state_dict(state)
    assert head + [r["path"] for r in again] == full


def test_packed_tokens_dataset_reads_documents_in_index_order(tmp_path):
    documents = [[1, 2, 3], [], [7] * 5, [65535, 0]]
    for name, docs in (("a/train-0", documents[:2]), ("b/train-0", documents[2:])):
        writer = PackedShardWriter(str(tmp_path / name), 65536)
        for ids in docs:
            writer.add(ids)
        writer.close()
    shards = [{"prefix": "a/train-0"}, {"prefix": "b/train-0"}]
    (tmp_path / "index.json").write_text(json.dumps({"shards": shards}))
    dataset = PackedTokensDataset(str(tmp_path))
    assert len(dataset) == 4
    assert [dataset[i].tolist() for i in range(4)] == documents and dataset[-1].dtype == torch.int64
    (tmp_path / "index.json").unlink()  # an export's packed/ has no index: its shards in path order
    assert [t.tolist() for t in PackedTokensDataset(str(tmp_path))] == documents
    with pytest.raises(ShardStreamError, match="no packed token shards"):
        PackedTokensDataset(str(tmp_path / "a" / "nothing"))
