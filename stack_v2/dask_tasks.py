"""The tasks of the DaskRunner's graph, run on the Dask workers: a ParDo's bundle (with its DoFns set up once
per worker process and pooled by step), the pieces of a shuffle, Create's and Read's partitions, a
partition's size, and the teardown of a run's DoFns (see ``stack_v2.dask_runner``).

Importing this module (as every worker does to run these tasks) teaches ``dask.sizeof`` the size of a
Beam ``WindowedValue`` (its value's) and of a list of them (hundreds of elements, not Dask's 10): without it Dask
counts about 80 bytes for each, whatever it holds, under-estimates the results a worker stores and never
spills them to disk before the memory limit; with Dask's sample of 10 elements, one large file in a
partition can make it look larger than the whole memory limit."""

from __future__ import annotations

import logging
import sys
import threading

from apache_beam.internal import pickler
from apache_beam.runners.common import DoFnRunner, Receiver
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.window import GlobalWindow, GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue
from dask.sizeof import sizeof

from stack_v2.records import FileOccurrence, FileRecord

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


_sizeof_list = sizeof.dispatch(list)  # Dask's: 10 random elements, extrapolated
_SAMPLE = 512  # elements sized in a list: every one up to about 1000, else every k-th, extrapolated


def _deep_size(value, depth: int = 0) -> int:
    """Bytes of a Beam element: strings and bytes exactly, tuples (records) and lists field by field."""
    if isinstance(value, (str, bytes, bytearray)) or depth > 3:
        return sys.getsizeof(value)
    if isinstance(value, (tuple, list)):
        sample = value[:: max(1, len(value) // _SAMPLE)]
        return sys.getsizeof(value) + sum(_deep_size(v, depth + 1) for v in sample) * len(value) // max(len(sample), 1)
    return sizeof(value)


@sizeof.register(WindowedValue)
def _sizeof_windowed_value(windowed_value) -> int:
    return 80 + _deep_size(windowed_value.value)


@sizeof.register(list)
def _sizeof_partition(partition: list) -> int:
    """A partition (a list of WindowedValues) from 512 to 1000 evenly spaced elements: sizes are heavy-tailed
    (one 10 MB file among thousands of small ones), and Dask's 10 may be off by the list's length."""
    if partition and isinstance(partition[0], WindowedValue):
        sample = partition[:: max(1, len(partition) // _SAMPLE)]
        return sys.getsizeof(partition) + sum(map(_sizeof_windowed_value, sample)) * len(partition) // len(sample)
    return _sizeof_list(partition)


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


def split(buckets: int, bucket_of, *partitions) -> list:
    """The elements of ``partitions`` into ``buckets`` lists."""
    out: list = [[] for _ in range(buckets)]
    i = 0
    for partition in partitions:
        for wv in partition:
            out[bucket_of(wv, i, buckets)].append(wv)
            i += 1
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


def measure(partition: list) -> tuple[int, int]:
    """Elements and bytes of a partition (``sizeof``: every element), with the content its elements will
    fetch: file occurrences (and records not fetched yet) are a few hundred bytes each, but the step after
    their shuffle fetches their blobs, some twenty times more. Planned by their own size, a partition of
    them became a fetch task holding hundreds of MB of content (up to 650 MB at 1.66 GB of input: workers
    killed at a 2 GB limit); weighed by their ``length``, a partition fetches about the target."""
    return len(partition), sizeof(partition) + sum(map(_to_fetch, partition))


def _to_fetch(windowed_value) -> int:
    value = windowed_value.value
    if isinstance(value, tuple) and len(value) == 2:  # a shuffle's (key, value)
        value = value[1]
    if isinstance(value, FileOccurrence):
        return value.length or 0
    if isinstance(value, FileRecord) and value.content is None:
        return value.length_bytes or 0
    return 0


def count(partition: list) -> int:
    return len(partition)


def total(*counts: int) -> int:
    return sum(counts)
