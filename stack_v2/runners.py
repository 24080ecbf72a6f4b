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

import argparse
import difflib
import importlib
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TypeOptions

from stack_v2.errors import StackV2Error

DASK_RUNNER = "stack_v2.dask_runner.DaskRunner"
_ALIASES = {"daskrunner": DASK_RUNNER, "apache_beam.runners.dask.dask_runner.daskrunner": DASK_RUNNER}


def pipeline_options(beam_args: Sequence[str], own_options: Sequence[str] = ()) -> PipelineOptions:
    """PipelineOptions for ``beam_args``; ``--runner DaskRunner`` selects this project's DaskRunner.

    Beam only warns about arguments it cannot parse and goes on without them, so a typo (``--pipline``)
    would run the default: here an argument that is no Beam option is an error, with the closest of
    ``own_options`` (the command's) and Beam's options as a hint; so is a runner Beam does not know."""
    options = PipelineOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    if standard.runner and standard.runner.lower() in _ALIASES:
        _import_dask(standard.runner)
    check_beam_arguments(beam_args, own_options)
    if standard.runner and standard.runner.lower() not in _ALIASES:
        _check_runner(standard.runner)
    if standard.runner and standard.runner.lower() in _ALIASES:
        standard.runner = DASK_RUNNER
    # Beam infers every transform's output type while the pipeline is built, by reading its function's
    # bytecode: about 0.3 of the 4 CPU-seconds of a one-repository build. The types would only pick coders
    # (Beam's generic coder does the same job), and the datasets come out byte-identical without them.
    options.view_as(TypeOptions).pipeline_type_check = False
    return options


def _import_dask(runner: str) -> None:
    try:
        import dask.distributed  # noqa: F401

        from stack_v2 import dask_runner  # noqa: F401  (registers DaskOptions: --dask_client_address ...)
    except ImportError as exc:
        raise StackV2Error(f"--runner {runner}: Dask is not installed ({exc}); pip install 'stack-v2[dask]'") from exc


def _beam_parser() -> argparse.ArgumentParser:
    """Every pipeline option Beam (and this project: DaskOptions, once imported) registered."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    seen, pending = set(), list(PipelineOptions.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending += cls.__subclasses__()
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:
            pass  # an option two classes both declare (Beam does the same)
    return parser


def check_beam_arguments(beam_args: Sequence[str], own_options: Sequence[str] = ()) -> None:
    """A StackV2Error naming the first argument that is no Beam pipeline option, with a hint."""
    parser = _beam_parser()
    _known, unknown = parser.parse_known_args(list(beam_args))
    if not unknown:
        return
    flags = [f for action in parser._actions for f in action.option_strings] + list(own_options)
    raise unknown_argument(unknown[0], flags, "neither this command's nor an Apache Beam pipeline option")


def unknown_argument(arg: str, candidates: Sequence[str], what: str = "not an option of this command") -> StackV2Error:
    """The error for an argument nothing takes, naming the closest of ``candidates``."""
    name = arg.split("=", 1)[0]
    if not name.startswith("-"):
        return StackV2Error(f"unexpected argument {arg!r}")
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return StackV2Error(f"unknown option {name}{hint}: {what}")


def _check_runner(runner: str) -> None:
    from apache_beam.runners.runner import _RUNNER_MAP

    key = runner.lower()
    if key in _RUNNER_MAP or key + "runner" in _RUNNER_MAP:
        return
    if "." in runner:  # a fully qualified PipelineRunner class: importable?
        module, _, cls = runner.rpartition(".")
        try:
            if hasattr(importlib.import_module(module), cls):
                return
        except ImportError:
            pass
    names = sorted({v.rsplit(".", 1)[-1] for v in _RUNNER_MAP.values()} | {"DaskRunner"})
    close = difflib.get_close_matches(runner, names, n=1, cutoff=0.75)
    hint = f"did you mean {close[0]}? " if close else ""
    raise StackV2Error(f"--runner {runner}: no such runner ({hint}known: {', '.join(names)})")
