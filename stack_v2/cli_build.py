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
    if recipe.document_source is not None:
        return _document_request(args, recipe)
    if getattr(args, "input", None):
        raise StackV2Error(f"--input: recipe {recipe.name} builds from an archive (--archive), not from input files")
    if not args.archive:
        raise StackV2Error(f"recipe {recipe.name} builds from a Software Heritage archive: give --archive URI")
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
    location = archive_location(args)
    return BuildRequest(
        location,
        check_uri(args.output, "--output"),
        recipe,
        origins=args.origin or (),
        swhids=swhids,
        optouts=load_optouts(args.optouts),
        allow_missing=args.allow_missing,
        checkpoint=checkpoint_of(args, location, recipe),
    )


def _document_request(args, recipe):
    """A document source's BuildRequest: its --input files, resolved now (a pattern matching nothing is an error)."""
    from stack_v2.build import BuildRequest
    from stack_v2.input_files import match_files
    from stack_v2.storage import check_uri

    source = recipe.document_source
    flags = ("origin", "swhid", "repo_metadata", "checkpoint", *(() if source.needs_archive else ("archive",)))
    if wrong := [f"--{name.replace('_', '-')}" for name in flags if getattr(args, name, None)]:
        raise StackV2Error(f"{', '.join(wrong)}: recipe {recipe.name} reads --input files ({source.input_help})")
    if not getattr(args, "input", None):
        raise StackV2Error(f"recipe {recipe.name} needs --input: {source.input_help}")
    if source.needs_archive and not args.archive:
        raise StackV2Error(f"recipe {recipe.name} needs --archive: {source.input_help}")
    location = archive_location(args) if source.needs_archive else None
    files = sorted({f for pattern in args.input for f in match_files(pattern, source.input_suffixes)})
    return BuildRequest(
        location, check_uri(args.output, "--output"), recipe, optouts=load_optouts(args.optouts), inputs=files
    )


def add_checkpoint_arguments(parser) -> None:
    """``build``'s --checkpoint and --resume (README, "What happens when things go wrong")."""
    parser.add_argument(
        "--checkpoint",
        default=None,
        metavar="DIR",
        help="persist what fetch_decode fetched and decoded in DIR (local, s3:// or gs://) as it goes, so that "
        "a build killed later can be resumed with --resume without fetching it again",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --checkpoint: take each blob's outcome from the checkpoint when it has one and fetch only "
        "the others (failures are retried); refused when the checkpoint was made for another archive or "
        "fetch_decode max_length",
    )


def checkpoint_of(args, location, recipe):
    """The checkpoint the build's --checkpoint and --resume ask for, opened (checked, or started), or None."""
    from stack_v2.io.checkpoint import open_checkpoint, validity

    uri, resume = getattr(args, "checkpoint", None), getattr(args, "resume", False)
    if uri is None:
        if resume:
            raise StackV2Error("--resume needs --checkpoint DIR: the checkpoint to resume from")
        return None
    fetch = recipe.stage("fetch_decode")
    if fetch is None:
        raise StackV2Error(f"--checkpoint: recipe {recipe.name} has no fetch_decode stage, so nothing to checkpoint")
    return open_checkpoint(uri, validity(location.absolute().describe(), fetch.params["max_length"]), resume)


def cmd_build(args, beam_args: list[str]) -> int:
    from stack_v2.build import start_build
    from stack_v2.finish import finish_build

    request = build_request(args)
    if request.location is not None:
        _check_archive_exists(request.location)
    source = request.location.describe() if request.location is not None else f"{len(request.inputs)} input files"
    print(f"stack-v2: building {args.output} from {source} with recipe {request.recipe.name}", file=sys.stderr)
    started = start_build(request, beam_args, wait=not args.no_wait, show_progress=not args.quiet)
    if not started.finished:
        print(
            f"stack-v2: submitted; when the job has finished, run: stack-v2 finish {started.output_dir} "
            f"--run {started.run_id}",
            file=sys.stderr,
        )
        return 0
    if request.checkpoint is not None:
        _print_checkpoint(request.checkpoint, started.result)
    report = finish_build(started.output_dir, started.run_id, started.result)
    _print_built(report, started.output_dir)
    return 0


def _print_checkpoint(checkpoint, result) -> None:
    """What the checkpoint saved and took (Beam's counters; report.json counts files as without it)."""
    from apache_beam.metrics.metric import MetricsFilter

    from stack_v2.io.checkpoint import NS

    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(NS))["counters"]
    except Exception:  # noqa: BLE001 - a runner without metrics: the line is a courtesy
        return
    found = {name: 0 for name in ("hits", "misses", "written")}
    for counter in counters:
        found[counter.key.metric.name] = found.get(counter.key.metric.name, 0) + (counter.result or 0)
    print(
        f"stack-v2: checkpoint {checkpoint.uri}: {found['hits']:,} files from it, {found['misses']:,} not in it; "
        f"{found['written']:,} outcomes written to it",
        file=sys.stderr,
    )


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
