"""The DaskRunner sizes its partitions by data: a shuffle's output partitions follow its input's bytes (not
the cluster's threads), empty partitions cost no split, and Dask can size Beam's WindowedValues."""

from __future__ import annotations

import uuid
from pathlib import Path

import apache_beam as beam
import pytest
from daskcluster import local_client

pytest.importorskip("dask.distributed")

from apache_beam.transforms.window import GlobalWindows  # noqa: E402
from dask.sizeof import sizeof  # noqa: E402

from stack_v2 import dask_tasks  # noqa: E402
from stack_v2.dask_partitions import plan_shuffle  # noqa: E402
from stack_v2.dask_translate import Translator, overrides  # noqa: E402

MB = 1 << 20


def test_sizeof_counts_what_a_windowed_value_holds():
    value = GlobalWindows.windowed_value(("path.py", b"x" * MB))
    assert sizeof(value) > MB
    assert sizeof([value] * 100) > 100 * MB
    assert dask_tasks.measure([value] * 100) == (100, pytest.approx(100 * sizeof(value), rel=0.01))


def test_a_partition_of_occurrences_weighs_the_content_its_fetch_will_hold():
    """Real files (Beam's own modules): before the fetch, an occurrence is a few hundred bytes; the partition
    is measured by what fetching it brings."""
    from occurrences import occurrence

    from stack_v2.stages.select_repos import record_from_occurrence

    files = sorted(Path(beam.__file__).parent.joinpath("transforms").glob("*.py"))[:40]
    occurrences = [occurrence("apache/beam", f.name, f.read_bytes()) for f in files]
    content = sum(o.length for o in occurrences)
    keyed = [GlobalWindows.windowed_value((o.blob_id, o)) for o in occurrences]
    elements, size = dask_tasks.measure(keyed)
    assert elements == len(files) and size == sizeof(keyed) + content
    assert sizeof(keyed) < content / 5  # what made such partitions far too large once fetched
    # records not fetched yet weigh their length too; fetched ones are measured as they are
    records = [record_from_occurrence(o, None) for o in occurrences]
    assert dask_tasks.measure([GlobalWindows.windowed_value(r) for r in records])[1] >= content
    fetched = [GlobalWindows.windowed_value(r._replace(content=f.read_text())) for r, f in zip(records, files)]
    assert dask_tasks.measure(fetched) == (len(files), sizeof(fetched))


def test_shuffle_outputs_follow_the_input_size():
    keys = [f"k{i}" for i in range(8)]
    small = plan_shuffle({k: (10, MB) for k in keys}, keys, 32 * MB, min_outputs=2)
    large = plan_shuffle({k: (10, 64 * MB) for k in keys}, keys, 32 * MB, min_outputs=2)
    assert small.outputs == 2  # at least one per thread
    assert large.outputs == 16  # 512 MB / 32 MB
    assert small.groups == [keys]  # small inputs share one split task
    assert len(large.groups) == 8
    fixed = plan_shuffle({k: (10, 64 * MB) for k in keys}, keys, 32 * MB, min_outputs=2, fixed=3)
    assert fixed.outputs == 3  # --dask_npartitions


def test_empty_partitions_are_left_out():
    sizes = {"a": (0, 56), "b": (3, 100), "c": (0, 56)}
    plan = plan_shuffle(sizes, ["a", "b", "c"], 32 * MB, min_outputs=2)
    assert plan.groups == [["b"]]
    assert plan.outputs == 2
    assert plan_shuffle({"a": (0, 56)}, ["a"], 32 * MB, min_outputs=2).groups == []


@pytest.fixture(scope="module")
def client():
    with local_client(n_workers=2, processes=False) as client:
        yield client


def _grouped_sums(client, partition_bytes: int, out) -> tuple[list, list]:
    """Create -> GroupByKey -> sums per key, one file each."""
    out.mkdir()
    pipeline = beam.Pipeline()
    _ = (
        pipeline
        | beam.Create([(i % 50, "x" * 2000) for i in range(2000)])
        | beam.GroupByKey()
        | beam.MapTuple(lambda key, values: (key, sum(len(v) for v in values)))
        | beam.MapTuple(lambda key, total: (out / str(key)).write_text(str(total)))
    )
    pipeline.replace_all(overrides())
    translator = Translator(uuid.uuid4().hex, client, pipeline, 2, {}, partition_bytes)
    pipeline.visit(translator)
    translator.finish().result()
    return sorted((int(f.name), int(f.read_text())) for f in out.iterdir()), translator.shuffles


def test_more_data_per_target_more_partitions(client, tmp_path):
    few, few_shuffles = _grouped_sums(client, 32 * MB, tmp_path / "few")
    many, many_shuffles = _grouped_sums(client, 256 << 10, tmp_path / "many")
    assert few == many == [(key, 40 * 2000) for key in range(50)]
    ((_, in_bytes, _, few_outputs),) = few_shuffles
    ((_, _, _, many_outputs),) = many_shuffles
    assert in_bytes > 4 * MB  # 2000 strings of 2 kB, with their WindowedValues
    assert few_outputs == 2  # one per thread: 4 MB is under the 32 MB target
    assert many_outputs >= in_bytes // (256 << 10)  # about one per 256 kB
