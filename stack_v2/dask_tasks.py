"""The tasks of the DaskRunner's graph, run on the Dask workers: a ParDo's bundle (with its DoFns set up once
per worker process and pooled by step), the pieces of a shuffle, Create's and Read's partitions, and the
teardown of a run's DoFns (see ``stack_v2.dask_runner``)."""

from __future__ import annotations

import logging
import threading

from apache_beam.internal import pickler
from apache_beam.runners.common import DoFnRunner, Receiver
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.window import GlobalWindow, GlobalWindows

log = logging.getLogger(__name__)

# Per worker process: unpickled ParDo specs and idle, set-up DoFn instances, by step ("<run id>/<label>").
# A DoFn instance runs one bundle at a time (a Dask worker may run several tasks at once, in threads).
_LOCK = threading.Lock()
_SPECS: dict[str, tuple] = {}
_IDLE: dict[str, list] = {}


class _Receiver(Receiver):
    def __init__(self, tag, out: dict):
        self._tag, self._out = tag, out

    def receive(self, windowed_value):
        self._out.setdefault(self._tag, []).append(windowed_value)


class _Receivers(dict):
    """DoFnRunner's tagged receivers: every output (main: tag None) into ``out[tag]``."""

    def __init__(self, out: dict):
        super().__init__()
        self._out = out

    def __missing__(self, tag):
        receiver = self[tag] = _Receiver(tag, self._out)
        return receiver


ALL_OUTPUTS = "<all outputs>"


def run_bundle(step: str, spec_bytes: bytes, only_tag, partition: list, *side_values):
    """One partition as one Beam bundle: the list of output ``only_tag``, or {tag: list} for ALL_OUTPUTS."""
    with _LOCK:
        spec = _SPECS.get(step)
    if spec is None:
        spec = pickler.loads(spec_bytes)
        with _LOCK:
            _SPECS.setdefault(step, spec)
    fn_bytes, args, kwargs, windowing, side_views = spec
    with _LOCK:
        idle = _IDLE.setdefault(step, [])
        fn = idle.pop() if idle else None
    fresh = fn is None
    if fresh:
        fn = pickler.loads(fn_bytes)  # a new instance per concurrent bundle, as Beam's workers do
    side_inputs = [
        SideInputMap(view_class, view_options, values)
        for (view_class, view_options), values in zip(side_views, side_values)
    ]
    out: dict = {}
    runner = DoFnRunner(fn, args, kwargs, side_inputs, windowing, _Receivers(out), step_name=step.split("/", 1)[1])
    if fresh:
        runner.setup()
    runner.start()
    for windowed_value in partition:
        runner.process(windowed_value)
    runner.finish()
    with _LOCK:
        _IDLE.setdefault(step, []).append(fn)
    return out if only_tag == ALL_OUTPUTS else out.get(only_tag, [])


def teardown_run(run_id: str) -> int:
    """On each worker when a run ends: tear down its pooled DoFns and forget its specs."""
    prefix = run_id + "/"
    with _LOCK:
        steps = [s for s in set(_IDLE) | set(_SPECS) if s.startswith(prefix)]
        fns = [fn for s in steps for fn in _IDLE.pop(s, ())]
        for s in steps:
            _SPECS.pop(s, None)
    for fn in fns:
        try:
            fn.teardown()
        except Exception:  # best effort, as in Beam
            log.exception("DoFn teardown failed")
    return len(fns)


def pick(outputs: dict, tag) -> list:
    return outputs.get(tag, [])


def concat(*parts) -> list:
    return [x for part in parts for x in part]


def created(values_bytes: bytes) -> list:
    return [GlobalWindows.windowed_value(v) for v in pickler.loads(values_bytes)]


def key_bucket(windowed_value, index: int, buckets: int) -> int:
    from dask.base import tokenize  # stable across processes for str, bytes, numbers, tuples, None

    # A key that dask cannot tokenize the same way in every process raises rather than splitting a group.
    return int(tokenize(windowed_value.value[0], ensure_deterministic=True), 16) % buckets


def index_bucket(windowed_value, index: int, buckets: int) -> int:
    return index % buckets


def split(partition: list, buckets: int, bucket_of) -> list:
    out: list = [[] for _ in range(buckets)]
    for i, wv in enumerate(partition):
        out[bucket_of(wv, i, buckets)].append(wv)
    return out


def group(*parts) -> list:
    groups: dict = {}
    for part in parts:
        for wv in part:
            key, value = wv.value
            groups.setdefault(key, []).append(value)
    end = GlobalWindow().max_timestamp()
    return [GlobalWindows.windowed_value((key, values), end) for key, values in groups.items()]


def read_bundle(bundle_bytes: bytes) -> list:
    bundle = pickler.loads(bundle_bytes)
    tracker = bundle.source.get_range_tracker(bundle.start_position, bundle.stop_position)
    return [GlobalWindows.windowed_value(v) for v in bundle.source.read(tracker)]


def count(partition: list) -> int:
    return len(partition)


def total(*counts: int) -> int:
    return sum(counts)
