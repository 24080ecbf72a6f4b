"""The trainer-side shard stream (stack_v2.shard_stream) on real shards: a small build of real standard-library
code (the demo recipe with small shards), and Parquet files of real source files with small row groups. The
replicas of every split partition the rows; a saved position resumes exactly; S3 gives the same rows."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from s3util import s3_client, upload_tree
from stream_data import stdlib_rows, write_shards

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.demo import make_demo_repos
from stack_v2.loader import ShardStream, ShardStreamError, shard_files
from stack_v2.recipe import load_recipe

BUCKET = "stack-stream"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A dataset built from real standard-library packages, with shards small enough to make several."""
    root = tmp_path_factory.mktemp("stream-build")
    repos = make_demo_repos(str(root / "repos"), packages=("json", "http", "email", "urllib"))
    import_git(repos, str(root / "archive"))
    recipe = root / "small-shards.yaml"
    recipe.write_text(
        load_recipe("demo").text.split("output:")[0] + "output:\n  target_shard_bytes: 60000\n"
        "  manifest_rows_per_shard: 20\n"
    )
    dataset = root / "dataset"
    args = ["build", "--archive", str(root / "archive"), "--output", str(dataset), "--pipeline", str(recipe), "-q"]
    assert main(args) == 0
    return dataset


@pytest.fixture(scope="module")
def small_groups(tmp_path_factory) -> Path:
    """Real source files in 3 Parquet files of row groups of 4 rows: many more units than replicas."""
    directory = tmp_path_factory.mktemp("small-groups")
    write_shards(directory, stdlib_rows(), files=3, row_group_size=4)
    return directory


@pytest.fixture(scope="module")
def one_group(tmp_path_factory) -> Path:
    """One file of one row group: fewer units than replicas, so rows are striden."""
    directory = tmp_path_factory.mktemp("one-group")
    write_shards(directory, stdlib_rows(("json",)), files=1, row_group_size=1000)
    return directory


def keys(rows) -> list[tuple]:
    return [(r["path"], r.get("repo_name"), r["content"]) for r in rows]


def all_rows(uri: str, **kwargs) -> list[tuple]:
    """Every row in file and row order, as pyarrow reads the sorted files."""
    _fs, _root, files = shard_files(uri, **kwargs)
    columns = ["path", "content"] + (["repo_name"] if "repo_name" in pq.read_schema(files[0]).names else [])
    return keys(r for f in files for r in pq.read_table(f, columns=columns).to_pylist())


def columns_of(uri: str) -> list[str]:
    _fs, _root, files = shard_files(uri)
    return [c for c in ("path", "repo_name", "content") if c in pq.read_schema(files[0]).names]


@pytest.mark.parametrize("source", ["built", "small_groups", "one_group"])
@pytest.mark.parametrize("world_size,num_workers", [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2)])
def test_replicas_partition_the_rows(source, world_size, num_workers, request):
    uri = str(request.getfixturevalue(source))
    expected = all_rows(uri)
    seen: list[tuple] = []
    for rank in range(world_size):
        for worker in range(num_workers):
            stream = ShardStream(
                uri, columns_of(uri), rank=rank, world_size=world_size, worker=worker, num_workers=num_workers
            )
            rows = keys(stream)
            assert len(rows) == len(stream)
            seen += rows
    assert Counter(seen) == Counter(expected)  # nothing missed, nothing twice
    assert len(seen) == len(expected) >= 5


def test_one_replica_reads_in_file_and_row_order(built):
    assert keys(ShardStream(str(built), ["path", "repo_name", "content"], batch_size=3)) == all_rows(str(built))


def test_the_split_is_by_units_or_by_rows(built, small_groups, one_group):
    many = ShardStream(str(small_groups), ["path"], rank=1, world_size=3)
    assert many.mode == "units" and len(many.all_units) >= 3 * 3
    ordered = [(u.name, u.row_group) for u in many.all_units]
    assert ordered == sorted(ordered) and len({name for name, _ in ordered}) == 3
    assert many.units == many.all_units[1::3]  # round-robin over (file, row group) in order
    strided = ShardStream(str(one_group), ["path"], rank=2, world_size=3, worker=1, num_workers=2)
    assert strided.mode == "rows" and len(strided.all_units) == 1
    paths = [r["path"] for r in all_rows_dicts(one_group)]
    assert [r["path"] for r in strided] == paths[5::6]  # replica 2 * 2 + 1 of 6
    # A dataset root reads its current version's data/; table="manifest" its manifest.
    data = ShardStream(str(built), ["path"])
    manifest = ShardStream(str(built), ["path", "swhid"], table="manifest")
    assert all("/data/" in u.path for u in data.all_units) and all("/manifest/" in u.path for u in manifest.all_units)
    assert "/versions/" in data.all_units[0].path  # resolved once through the `current` pointer
    assert sorted(r["path"] for r in manifest) == sorted(r["path"] for r in data)


def all_rows_dicts(directory: Path) -> list[dict]:
    return pq.read_table(str(directory)).to_pylist()


@pytest.mark.parametrize("source", ["built", "small_groups", "one_group"])
@pytest.mark.parametrize("world_size,rank", [(1, 0), (2, 1), (3, 2)])
def test_resuming_from_a_saved_position_gives_exactly_the_rest(source, world_size, rank, request):
    uri = str(request.getfixturevalue(source))
    columns = columns_of(uri)
    full = keys(ShardStream(uri, columns, rank=rank, world_size=world_size, batch_size=3))
    for stop in sorted({s for s in (0, 1, 3, 4, len(full) // 2, len(full) - 1, len(full)) if 0 <= s <= len(full)}):
        stream = ShardStream(uri, columns, rank=rank, world_size=world_size, batch_size=3)
        it = iter(stream)
        head = keys(next(it) for _ in range(stop))
        state = json.loads(json.dumps(stream.state_dict()))  # what a trainer checkpoints
        assert state["rows"] == stop
        resumed = ShardStream(uri, columns, rank=rank, world_size=world_size, batch_size=3)
        resumed.load_state_dict(state)
        assert head + keys(resumed) == full, stop


def test_resuming_record_batches(small_groups):
    stream = ShardStream(str(small_groups), ["path"], rank=0, world_size=2, batch_size=3)
    full = [p for b in stream.iter_batches() for p in b.column("path").to_pylist()]
    stream = ShardStream(str(small_groups), ["path"], rank=0, world_size=2, batch_size=3)
    batches = stream.iter_batches()
    head = [p for _ in range(5) for p in next(batches).column("path").to_pylist()]
    resumed = ShardStream(str(small_groups), ["path"], rank=0, world_size=2, batch_size=3)
    resumed.load_state_dict(stream.state_dict())
    assert head + [p for b in resumed.iter_batches() for p in b.column("path").to_pylist()] == full


def test_a_position_of_another_split_or_other_files_is_refused(small_groups, one_group):
    stream = ShardStream(str(small_groups), ["path"], rank=0, world_size=2)
    next(iter(stream))
    state = stream.state_dict()
    with pytest.raises(ShardStreamError, match="another split or other files"):
        ShardStream(str(small_groups), ["path"], rank=0, world_size=3).load_state_dict(state)
    with pytest.raises(ShardStreamError, match="another split or other files"):
        ShardStream(str(one_group), ["path"], rank=0, world_size=2).load_state_dict(state)
    with pytest.raises(ShardStreamError, match="not a stack-v2-shard-stream"):
        stream.load_state_dict({"rows": 3})


def test_errors_name_the_input(tmp_path, small_groups):
    missing = tmp_path / "nowhere"
    with pytest.raises(ShardStreamError, match=f"shards {missing}: no such file or directory"):
        ShardStream(str(missing))
    with pytest.raises(ShardStreamError, match=r"part-00000\.parquet: no column\(s\) text"):
        list(ShardStream(str(small_groups), ["text"]))
    with pytest.raises(ShardStreamError, match=r"rank 2 is not in \[0, world_size=2\)"):
        ShardStream(str(small_groups), rank=2, world_size=2)


def test_streaming_from_s3_gives_the_same_rows(built, s3_endpoint):
    version = os.path.basename(os.readlink(built / "current"))
    upload_tree(s3_endpoint, built / "versions" / version, BUCKET, f"ds/versions/{version}")
    s3_client(s3_endpoint).put_object(Bucket=BUCKET, Key="ds/CURRENT", Body=f"{version}\n".encode())
    columns = ["path", "repo_name", "content"]
    for world_size in (1, 2, 3):
        for rank in range(world_size):
            local = ShardStream(str(built), columns, rank=rank, world_size=world_size)
            remote = ShardStream(f"s3://{BUCKET}/ds", columns, rank=rank, world_size=world_size)
            assert remote.fingerprint == local.fingerprint  # the same split: names relative to data/
            assert keys(remote) == keys(local)
    # a position saved reading locally resumes on S3
    local = ShardStream(str(built), columns, rank=1, world_size=2, batch_size=2)
    it = iter(local)
    head = keys(next(it) for _ in range(3))
    remote = ShardStream(f"s3://{BUCKET}/ds/data", columns, rank=1, world_size=2)
    remote.load_state_dict(local.state_dict())
    assert head + keys(remote) == keys(ShardStream(str(built), columns, rank=1, world_size=2))
