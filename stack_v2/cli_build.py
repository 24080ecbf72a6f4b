"""``stack-v2 build``, ``finish`` and ``demo``: from parsed arguments to a BuildRequest, run, published dataset.

``build_request`` is also how the Dataflow launcher (stack_v2.dataflow) turns its template parameters into a build.
"""

from __future__ import annotations

import os
import sys

from stack_v2.cli_archive import archive_location
from stack_v2.errors import StackV2Error


def build_request(args):
    """``stack-v2 build``'s parsed arguments -> the BuildRequest (also the Dataflow launcher's)."""
    from dataclasses import replace

    from stack_v2.archive.swhid import parse_swhid_input
    from stack_v2.build import BuildRequest
    from stack_v2.recipe import StageSpec, load_recipe
    from stack_v2.repo_metadata import check_repo_metadata
    from stack_v2.storage import absolute, check_uri

    recipe = load_recipe(args.pipeline)
    if args.repo_metadata:  # relative to the working directory, like every path on the command line
        metadata = absolute(check_uri(args.repo_metadata, "--repo-metadata"))
        stages = tuple(
            StageSpec(s.name, {**s.params, "repo_metadata": metadata}) if s.name == "select_repositories" else s
            for s in recipe.stages
        )
        recipe = replace(recipe, stages=stages)
    if table := recipe.stage("select_repositories").params["repo_metadata"]:
        check_repo_metadata(table)  # a bad table fails here, before anything is written
    swhids = [parse_swhid_input(s) for s in args.swhid or ()]
    return BuildRequest(
        archive_location(args),
        check_uri(args.output, "--output"),
        recipe,
        origins=args.origin or (),
        swhids=swhids,
        optouts=load_optouts(args.optouts),
        allow_missing=args.allow_missing,
    )


def cmd_build(args, beam_args: list[str]) -> int:
    from stack_v2.build import start_build
    from stack_v2.finish import finish_build

    request = build_request(args)
    _check_archive_exists(request.location)
    print(
        f"stack-v2: building {args.output} from {request.location.describe()} with recipe {request.recipe.name}",
        file=sys.stderr,
    )
    started = start_build(request, beam_args, wait=not args.no_wait, show_progress=not args.quiet)
    if not started.finished:
        print(
            f"stack-v2: submitted; when the job has finished, run: stack-v2 finish {started.output_dir} "
            f"--run {started.run_id}",
            file=sys.stderr,
        )
        return 0
    report = finish_build(started.output_dir, started.run_id, started.result)
    _print_built(report, started.output_dir)
    return 0


def _check_archive_exists(location) -> None:
    """A local archive that is not there is named as such, before anything is written."""
    from stack_v2.storage import is_remote

    for uri, what in ((location.uri, "--archive"), (location.graph_uri, "--graph")):
        if uri and not is_remote(uri) and not os.path.isdir(uri):
            raise StackV2Error(f"{what} {uri}: no such directory")


def _print_built(report: dict, output: str) -> None:
    from stack_v2.finish import summary_table

    print(summary_table(report), file=sys.stderr)
    kept = report["totals"]["kept"]
    print(
        f"stack-v2: dataset written to {output} ({kept['files']:,} files, "
        f"{kept['bytes'] / 1e6:,.2f} MB; {report['run']['seconds']:.1f} s)",
        file=sys.stderr,
    )


def cmd_finish(args, beam_args: list[str]) -> int:
    import time

    from stack_v2.finish import finish_build, rollback_build
    from stack_v2.runs import RunNotFinished

    if args.rollback:
        run_id = rollback_build(args.output, args.run)
        print(f"stack-v2: {args.output}: run {run_id} dropped; the current version is unchanged", file=sys.stderr)
        return 0
    deadline = time.monotonic() + args.wait
    while True:
        try:
            report = finish_build(args.output, args.run)
            break
        except RunNotFinished as exc:
            if time.monotonic() >= deadline:
                raise
            print(f"stack-v2: {exc}; checking again in {args.poll:g} s", file=sys.stderr)
            time.sleep(args.poll)
    _print_built(report, args.output)
    return 0


def load_optouts(paths) -> list:
    """Every request of every file, all validated before anything is applied."""
    from stack_v2.optout.requests import load_requests

    return [request for path in paths or () for request in load_requests(path)]


def cmd_demo(args, beam_args: list[str]) -> int:
    from stack_v2.demo import run_demo

    return run_demo(args.workdir, beam_args=beam_args, show_progress=not args.quiet)
