"""Beam pipeline options from the command line's extra arguments, with the runner names the README gives.

Every runner is chosen with Beam's own ``--runner`` option; the other options are Beam's too:

- ``DirectRunner`` (default), in-process or ``--direct_running_mode=multi_processing --direct_num_workers=N``;
- ``PortableRunner --job_endpoint HOST:PORT`` with ``--environment_type LOOPBACK`` (workers in this
  process) or ``EXTERNAL --environment_config HOST:PORT`` (a worker pool: ``python -m
  apache_beam.runners.worker.worker_pool_main --service_port PORT``); the job endpoint is Beam's
  ``python -m apache_beam.runners.portability.local_job_service_main``, or Spark's or Flink's job server;
- ``DaskRunner`` (``pip install 'stack-v2[dask]'``) with ``--dask_client_address HOST:PORT`` (a running
  ``dask.distributed`` scheduler) or none (Dask starts a LocalCluster for the run). Beam's own runner
  has no short name; ``DaskRunner`` means :mod:`stack_v2.dask_runner`'s, which runs the whole build.
"""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from stack_v2.errors import StackV2Error

DASK_RUNNER = "stack_v2.dask_runner.DaskRunner"
_ALIASES = {"daskrunner": DASK_RUNNER, "apache_beam.runners.dask.dask_runner.daskrunner": DASK_RUNNER}


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """PipelineOptions for ``beam_args``; ``--runner DaskRunner`` selects this project's DaskRunner."""
    options = PipelineOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    if standard.runner and standard.runner.lower() in _ALIASES:
        try:
            import dask.distributed  # noqa: F401

            from stack_v2 import dask_runner  # noqa: F401  (registers DaskOptions: --dask_client_address ...)
        except ImportError as exc:
            raise StackV2Error(f"--runner {standard.runner}: Dask is not installed ({exc}); "
                               "pip install 'stack-v2[dask]'") from exc  # fmt: skip
        standard.runner = DASK_RUNNER
    return options
