"""Beam's DaskRunner, with the fixes the build needs to run on a ``dask.distributed`` cluster.

``apache_beam.runners.dask.dask_runner.DaskRunner`` (apache-beam 2.77) runs simple pipelines, but not
this one (each was seen on the demo recipe):

1. it computes only the *last* transform's Dask bag, so the other sinks (data shards, manifest,
   report.json) are never written;
2. a ParDo's outputs share one bag: every consumer of ``with_outputs(...)`` gets the main and all
   tagged outputs mixed together (the traversal's 64 join levels then grow until the client runs
   out of memory);
3. a side input is a whole Dask graph embedded in each task and recomputed inside it;
4. GroupByKey and Reshuffle keep their input's partitions, Flatten adds them up, so a pipeline that
   starts from a small ``Create`` runs in one task on one worker while the 64 levels multiply tasks
   (as dask.bag graphs, the demo's 3,300 tasks were 35,000, most of them aliases); ``Read`` of a
   BoundedSource is not translated;
5. each bundle unpickles and sets up its DoFns again (the license index, the enry classifier...),
   and the client (with the LocalCluster it may have started) is never closed.

This runner keeps Beam's DaskRunner and its options (``--dask_client_address`` and the others of
``DaskOptions``) and replaces the translation with a plain Dask task graph: each PCollection is a list
of partitions (task keys, each a list of ``WindowedValue``); a ParDo is one task per partition, its
tagged outputs picked apart by key; side inputs are gathered once, as a dependency of the bundles;
Flatten concatenates key lists; bounded sources are split on the client and read on the workers; DoFns
are pooled per worker process (set up once, torn down when the run ends); every sink is computed.

Partitions follow the data, not the cluster's threads (``stack_v2.dask_partitions``), so that a worker's
memory stays flat as the input grows: the graph is sent in pieces, and at each GroupByKey and Reshuffle
the runner waits for the input's partitions, asks their sizes (Dask's ``sizeof``, which
``stack_v2.dask_tasks`` teaches the size of a ``WindowedValue``, so that Dask also spills stored results
to disk as the memory limit nears) and hash-shuffles into one output partition per ``--dask_partition_mb``
(default 32) of input, at least one per worker thread (``--dask_npartitions N`` fixes the count instead);
empty input partitions are left out and small ones share a split task. Workers give back the memory
the build frees (``stack_v2.dask_memory``: a worker plugin that trims glibc's heaps and Arrow's pool while
a worker's RSS is high, paused or not). Only the global window is supported (the build uses no
other), GroupByKey keys must be hashable, and neither state, timers nor splittable DoFns are. A shuffle
has M x N small tasks (input x output partitions), and the client waits at each shuffle for its input.

``--runner DaskRunner`` selects it through ``stack_v2.runners.pipeline_options``; without
``--dask_client_address`` (or ``--dask_scheduler_file``) Dask starts a LocalCluster for the run.

The tasks the workers run are in ``stack_v2.dask_tasks``, the translation in ``stack_v2.dask_translate``.
"""

from __future__ import annotations

import logging
import uuid

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunnerResult
from apache_beam.runners.dask.dask_runner import DaskRunner as BeamDaskRunner
from apache_beam.runners.runner import PipelineState

from stack_v2.dask_memory import PLUGIN_NAME, ReturnFreedMemory
from stack_v2.dask_partitions import DEFAULT_PARTITION_MB
from stack_v2.dask_tasks import teardown_run
from stack_v2.dask_translate import Translator, overrides

log = logging.getLogger(__name__)


class _DaskResult(DaskRunnerResult):
    """Waits for the run; then tears down its DoFns on the workers and closes the client."""

    run_id: str = ""

    def wait_until_finish(self, duration=None) -> str:
        if self._state in (PipelineState.DONE, PipelineState.FAILED, PipelineState.CANCELLED):
            return self._state
        try:
            return super().wait_until_finish(duration)
        finally:
            self._close()

    def cancel(self) -> str:
        try:
            return super().cancel()
        finally:
            self._close()

    def _close(self) -> None:
        self.close(self.run_id)

    def close(self, run_id: str) -> None:
        try:
            if self.client.status == "running":
                self.client.run(teardown_run, run_id)
        except Exception:
            log.warning("DaskRunner: DoFn teardown on the workers failed", exc_info=True)
        finally:
            self.client.close()  # also stops the LocalCluster that Client() started, if any


class PartitionOptions(PipelineOptions):
    """This project's DaskRunner option: the size a shuffle aims for in each output partition."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--dask_partition_mb",
            type=int,
            default=DEFAULT_PARTITION_MB,
            help="DaskRunner: a shuffle's output partitions hold about this many MB (Dask's sizeof estimate "
            "of the Python objects); more data, more partitions. --dask_npartitions fixes the count instead.",
        )


class DaskRunner(BeamDaskRunner):
    """Beam's DaskRunner, translating the whole pipeline (see the module's docstring)."""

    def run_pipeline(self, pipeline, options):
        import dask.distributed as ddist

        dask_options = options.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)
        client = ddist.Client(**dask_options)
        run_id = uuid.uuid4().hex
        try:
            client.register_plugin(ReturnFreedMemory(), name=PLUGIN_NAME)
            threads = sum(client.nthreads().values()) or 1
            pipeline.replace_all(overrides())
            partition_bytes = options.view_as(PartitionOptions).dask_partition_mb << 20
            translator = Translator(run_id, client, pipeline, threads, bag_kwargs, partition_bytes)
            pipeline.visit(translator)
            futures = [translator.finish()]
        except BaseException:
            _DaskResult(client, []).close(run_id)
            raise
        log.info(
            "DaskRunner: %d tasks in %d pieces on %s (%d threads); %d shuffles, the largest into %d partitions",
            translator.tasks,
            translator.graph.pieces,
            client.scheduler.address,
            threads,
            len(translator.shuffles),
            max((outputs for *_, outputs in translator.shuffles), default=0),
        )
        log.debug("DaskRunner: shuffles (label, input bytes, splits, outputs): %s", translator.shuffles)
        result = _DaskResult(client, futures)
        result.run_id = run_id
        return result
