"""The DaskRunner's translation of a Beam pipeline into a plain Dask task graph: the transform overrides
(Beam's Dask ones, with GroupByKey and Read replaced by ours) and the visitor that turns each leaf transform
into tasks and each PCollection into the keys of its partitions, sent to the cluster in pieces, a shuffle's
output partitions sized by its input's measured bytes (see ``stack_v2.dask_runner`` and
``stack_v2.dask_partitions``)."""

from __future__ import annotations

import itertools
import operator

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.internal import pickler
from apache_beam.pipeline import PipelineVisitor, PTransformOverride
from apache_beam.runners.common import DoFnSignature
from apache_beam.runners.dask.overrides import _Create, _Flatten, _Read, _Reshuffle, dask_overrides
from apache_beam.transforms.window import GlobalWindows

from stack_v2 import dask_partitions as partitions
from stack_v2 import dask_tasks as tasks

_SOURCE_BUNDLE_BYTES = 16 << 20  # desired size of a bounded source's split (a file's bytes, before decoding)


class _GroupByKey(beam.PTransform):
    """GroupByKey as one primitive (Beam's own expands into runner-specific parts)."""

    def expand(self, pcoll):
        return pvalue.PCollection.from_(pcoll)

    def infer_output_type(self, input_type):
        key_type, value_type = beam.typehints.trivial_inference.key_value_types(input_type)
        return beam.typehints.KV[key_type, beam.typehints.Iterable[value_type]]


class _GroupByKeyOverride(PTransformOverride):
    def matches(self, applied):
        return applied.transform.__class__ == beam.GroupByKey

    def get_replacement_transform_for_applied_ptransform(self, applied):
        return _GroupByKey()


class _BoundedRead(_Read):
    """Beam's Dask ``_Read``, with the windowing its consumers ask for (it has none: its input is PBegin)."""

    def get_windowing(self, inputs):
        return beam.Windowing(GlobalWindows())


class _ReadOverride(PTransformOverride):
    def matches(self, applied):
        return applied.transform.__class__ == beam.io.Read

    def get_replacement_transform_for_applied_ptransform(self, applied):
        return _BoundedRead(applied.transform.source)


def overrides() -> list:
    # Beam's Create, Reshuffle and Flatten replacements; GroupByKey and Read replaced by ours.
    ours = [_GroupByKeyOverride(), _ReadOverride()]
    return [o for o in dask_overrides() if type(o).__name__ not in ("GroupByKeyOverride", "ReadOverride")] + ours


class _Consumers(PipelineVisitor):
    """How many leaf transforms read each PCollection (as main or side input)."""

    def __init__(self):
        self.count: dict = {}

    def visit_transform(self, applied) -> None:
        for pcoll in _read_by(applied):
            self.count[pcoll] = self.count.get(pcoll, 0) + 1


def _read_by(applied) -> list:
    main = [pc for pc in applied.inputs if not isinstance(pc, pvalue.PBegin)]
    return main + [side.pvalue for side in applied.side_inputs]


class Translator(PipelineVisitor):
    """Leaf transforms -> Dask tasks, sent to ``client`` in pieces (``stack_v2.dask_partitions``); each
    PCollection -> the keys of its partitions. Visit ``pipeline`` with it, then ``finish()``."""

    def __init__(
        self, run_id: str, client, pipeline, parallelism: int, bag_kwargs: dict, partition_bytes: int | None = None
    ):
        self._run_id, self._parallelism, self._bag_kwargs = run_id, parallelism, bag_kwargs
        self._partition_bytes = partition_bytes or partitions.DEFAULT_PARTITION_MB << 20
        consumers = _Consumers()
        pipeline.visit(consumers)
        self._unread = dict(consumers.count)  # PCollection -> consumers not visited yet
        self.graph = partitions.Submitter(client, self._live_keys)
        self.parts: dict = {}  # PCollection -> [key]
        self._gathered: dict = {}  # side input PCollection -> key of its whole contents
        self._names = itertools.count()
        self.tasks = 0
        self.shuffles: list = []  # (label, input bytes, split tasks, output partitions), for logs and tests

    def _key(self, what: str) -> str:
        self.tasks += 1
        return f"{what}-{next(self._names)}-{self._run_id[:8]}"

    def _live_keys(self) -> set:
        """Keys a transform not visited yet may read, and the sinks' (PCollections nothing reads)."""
        live = set()
        for pcoll, keys in self.parts.items():
            if self._unread.get(pcoll, 0) or pcoll not in self._unread:
                live.update(keys)
                if pcoll in self._gathered:
                    live.add(self._gathered[pcoll])
        return live

    def finish(self):
        """The future of one task that depends on every partition nothing reads: its result, the run's end."""
        counts = []
        for pcoll, keys in self.parts.items():
            if pcoll not in self._unread:
                for key in keys:
                    counts.append(count := self._key("count"))
                    self.graph[count] = (tasks.count, key)
        self.graph[total := self._key("done")] = (tasks.total, *counts)
        return self.graph.finish(total)

    def _empty(self) -> list:
        self.graph[key := self._key("empty")] = (tasks.concat,)
        return [key]

    def _shuffle(self, label: str, keys: list, bucket_of, finish) -> list:
        """Input partitions (the empty ones left out) in groups of about the target size, each group split
        into N buckets; output partition j = ``finish`` of the j-th buckets. N from the input's bytes."""
        sizes = self.graph.measure(keys, tasks.measure)
        plan = partitions.plan_shuffle(
            sizes, keys, self._partition_bytes, self._parallelism, self._bag_kwargs.get("npartitions")
        )
        self.shuffles.append((label, sum(size for _, size in sizes.values()), len(plan.groups), plan.outputs))
        if not plan.groups:
            return self._empty()
        n = plan.outputs
        splits = []
        for group in plan.groups:
            self.graph[split := self._key("split")] = (tasks.split, n, bucket_of, *group)
            splits.append(split)
        out = []
        for j in range(n):
            picked = []
            for split in splits:
                self.graph[pick := self._key("bucket")] = (operator.getitem, split, j)
                picked.append(pick)
            self.graph[key := self._key("shuffled")] = (finish, *picked)
            out.append(key)
        return out

    def visit_transform(self, applied) -> None:
        self._translate(applied)
        for pcoll in _read_by(applied):
            self._unread[pcoll] -= 1

    def _translate(self, applied) -> None:
        transform = applied.transform
        inputs = [self.parts[pc] for pc in applied.inputs if not isinstance(pc, pvalue.PBegin)]
        label = applied.full_label
        if isinstance(transform, _Create):
            values = list(transform.values)
            size = self._bag_kwargs.get("partition_size")
            n = -(-len(values) // size) if size else self._bag_kwargs.get("npartitions") or self._parallelism
            n = max(1, min(n, len(values)))
            keys = []
            for i in range(n):
                chunk = values[i * len(values) // n : (i + 1) * len(values) // n]
                self.graph[key := self._key("create")] = (tasks.created, pickler.dumps(chunk))
                keys.append(key)
        elif isinstance(transform, _Flatten):
            keys = [k for part in inputs for k in part] or self._empty()
        elif isinstance(transform, _Reshuffle):
            keys = self._shuffle(label, inputs[0], tasks.index_bucket, tasks.concat)
        elif isinstance(transform, _GroupByKey):
            windowfn = applied.inputs[0].windowing.windowfn
            if not isinstance(windowfn, GlobalWindows):
                raise NotImplementedError(
                    f"{label}: the DaskRunner groups in the global window only, not {type(windowfn).__name__}"
                )
            keys = self._shuffle(label, inputs[0], tasks.key_bucket, tasks.group)
        elif isinstance(transform, _Read):
            keys = []
            for bundle in transform.source.split(_SOURCE_BUNDLE_BYTES):
                self.graph[key := self._key("read")] = (tasks.read_bundle, pickler.dumps(bundle))
                keys.append(key)
            keys = keys or self._empty()
        elif isinstance(transform, beam.ParDo):
            self._par_do(applied, inputs[0])
            return
        else:
            raise NotImplementedError(f"{label}: the DaskRunner cannot run {type(transform).__name__}")
        (pcoll,) = applied.outputs.values()
        self.parts[pcoll] = keys

    def _par_do(self, applied, main: list) -> None:
        transform = applied.transform
        signature = DoFnSignature(transform.fn)
        if signature.is_stateful_dofn() or signature.is_splittable_dofn():
            raise NotImplementedError(f"{applied.full_label}: the DaskRunner runs no stateful or splittable DoFns")
        side_views, side_keys = [], []
        for side in applied.side_inputs:
            side_views.append((type(side), side._view_options()))
            if side.pvalue not in self._gathered:  # all of it, once, as a dependency of the bundles
                self.graph[key := self._key("side")] = (tasks.concat, *self.parts[side.pvalue])
                self._gathered[side.pvalue] = key
            side_keys.append(self._gathered[side.pvalue])
        # The spec is one node of the graph, sent once to each worker that runs the step.
        self.graph[spec := self._key("spec")] = pickler.dumps(
            (pickler.dumps(transform.fn), transform.args, transform.kwargs, applied.inputs[0].windowing, side_views)
        )
        step = f"{self._run_id}/{applied.full_label}"
        outputs = applied.outputs
        single = len(outputs) == 1
        only_tag = next(iter(outputs)) if single else tasks.ALL_OUTPUTS
        bundles = []
        for key in main:
            self.graph[bundle := self._key("bundle")] = (tasks.run_bundle, step, spec, only_tag, key, *side_keys)
            bundles.append(bundle)
        for tag, pcoll in outputs.items():
            if single:
                self.parts[pcoll] = bundles
                continue
            keys = []
            for bundle in bundles:
                self.graph[key := self._key("output")] = (tasks.pick, bundle, tag)
                keys.append(key)
            self.parts[pcoll] = keys
