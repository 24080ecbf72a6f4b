"""JoinSmallToLarge (stack_v2/joins.py): the shuffle join and, in process, the lookup join give the same triples."""

from __future__ import annotations

import inspect

import apache_beam as beam
import pytest
from apache_beam.runners.portability.portable_runner import PortableRunner
from apache_beam.testing.util import assert_that, equal_to

from stack_v2.joins import JoinSmallToLarge, runs_in_process

# Real text: Beam's pipeline module, its words as keys (many repeat, so keys have several values per side).
WORDS = inspect.getsource(beam.pipeline).split()


def _sides():
    """small: a key's values are the positions of its first occurrences (some keys twice); large: every word."""
    small = [(w, i) for i, w in enumerate(WORDS[:400])] + [(w, -i) for i, w in enumerate(WORDS[:50])]
    large = [(w, i) for i, w in enumerate(WORDS)]
    return small, large


def _expected(small, large, reduce_small=None):
    by_key: dict = {}
    for key, value in small:
        by_key.setdefault(key, []).append(value)
    out = []
    for key, value in large:
        values = by_key.get(key, [])
        out.append((key, sorted(values) if reduce_small is None else reduce_small(values), value))
    return out


def _run(lookup: bool, reduce_small=None):
    small, large = _sides()
    with beam.Pipeline() as p:
        joined = (
            p | "Small" >> beam.Create(small),
            p | "Large" >> beam.Create(large),
        ) | JoinSmallToLarge(reduce_small=reduce_small, in_process_lookup=lookup)
        # a key's small values in a stable order: the runner's order is not part of the contract
        tidy = joined | beam.MapTuple(lambda k, s, v: (k, sorted(s) if isinstance(s, list) else s, v))
        assert_that(tidy, equal_to(_expected(small, large, reduce_small)))
    return p.result


@pytest.mark.parametrize("lookup", [False, True])
def test_both_joins_give_every_large_value_its_keys_small_values(lookup):
    result = _run(lookup)
    tables = result.metrics().query(beam.metrics.MetricsFilter().with_name("lookup_tables"))["counters"]
    if lookup:  # one dict for the whole bundle, not one per element (there are thousands)
        assert [c.committed for c in tables] == [1]
    else:
        assert not tables


@pytest.mark.parametrize("lookup", [False, True])
def test_reduce_small_runs_on_every_key_missing_keys_included(lookup):
    _run(lookup, reduce_small=lambda values: (len(values), min(values, default=None)))


def test_the_lookup_is_only_for_pipelines_that_run_in_process():
    small, large = _sides()
    local = beam.Pipeline()
    assert runs_in_process(local)
    remote = beam.Pipeline(runner=PortableRunner())  # built, never run: a job server would shuffle
    assert not runs_in_process(remote)
    # Beam's DaskRunner is a BundleBasedDirectRunner, but its workers are a cluster's: they shuffle too.
    from apache_beam.runners.dask.dask_runner import DaskRunner as BeamDaskRunner

    from stack_v2.dask_runner import DaskRunner

    assert not runs_in_process(beam.Pipeline(runner=DaskRunner()))
    assert not runs_in_process(beam.Pipeline(runner=BeamDaskRunner()))
    for p in (local, remote):
        (
            p | "Small" >> beam.Create(small),
            p | "Large" >> beam.Create(large),
        ) | "Join" >> JoinSmallToLarge(in_process_lookup=True)
    labels = {p: set() for p in (local, remote)}

    class Labels(beam.pipeline.PipelineVisitor):
        def __init__(self, into):
            self.into = into

        def visit_transform(self, node):
            self.into.add(node.full_label)

    for p, into in labels.items():
        p.visit(Labels(into))
    assert "Join/Lookup" in labels[local] and "Join/Group" not in labels[local]
    assert "Join/Group" in labels[remote] and "Join/Lookup" not in labels[remote]


def test_a_lookup_cannot_report_small_keys_without_large_values():
    with pytest.raises(ValueError, match="cannot emit the small keys"):
        JoinSmallToLarge(emit_small_only=True, in_process_lookup=True)
