"""The ``stack-v2`` command.

Errors raised on purpose (``StackV2Error``) print as one line, ``stack-v2: error: ...``, with exit
status 2; anything else is a bug and keeps its traceback. Options the command does not know are
passed to Apache Beam as pipeline options (``--runner``, ``--direct_num_workers``, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence

from stack_v2 import __version__
from stack_v2.errors import StackV2Error

log = logging.getLogger("stack_v2")


def _archive_location(args):
    from stack_v2.archive.location import ArchiveLocation

    return ArchiveLocation(args.archive, unsigned=args.unsigned, graph_uri=args.graph)


def _add_archive_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--archive",
        required=required,
        metavar="URI",
        help="archive root: a local directory or s3://bucket/prefix (graph/orc/... and content/...)",
    )
    parser.add_argument(
        "--graph",
        metavar="URI",
        default=None,
        help="graph export root holding orc/<table>/ when it is not <archive>/graph "
        "(e.g. s3://softwareheritage/graph/2023-09-06)",
    )
    parser.add_argument(
        "--unsigned", action="store_true", help="anonymous S3 access (the public Software Heritage bucket)"
    )


def cmd_import_git(args, beam_args: list[str]) -> int:
    from stack_v2.archive.import_git import import_git

    if beam_args:
        raise StackV2Error(f"archive import-git: unknown option(s) {' '.join(beam_args)}")
    visit_date = None
    if args.visit_date:
        try:
            visit_date = dt.datetime.fromisoformat(args.visit_date)
        except ValueError as exc:
            raise StackV2Error(f"--visit-date {args.visit_date!r}: not an ISO 8601 date ({exc})") from exc
        if visit_date.tzinfo is None:
            visit_date = visit_date.replace(tzinfo=dt.UTC)
    summary = import_git(
        args.repos,
        args.archive,
        origin_prefix=args.origin_prefix,
        visit_date=visit_date,
        progress=lambda msg: print(msg, file=sys.stderr),
    )
    for origin, visit in summary.visits.items():
        state = f"visit {visit}" if visit else "unchanged since its last visit (nothing added)"
        print(f"{origin}: {state}", file=sys.stderr)
    added = ", ".join(f"{n} {t}" for t, n in summary.new_rows.items() if n) or "nothing new"
    print(f"added: {added}; {summary.content_bytes} content bytes", file=sys.stderr)
    return 0


def cmd_files(args, beam_args: list[str]) -> int:
    from stack_v2.archive.swhid import parse_swhid_input

    swhids = [parse_swhid_input(s) for s in args.swhid or ()]
    if args.web_api is not None:
        if beam_args:
            raise StackV2Error(f"archive files --web-api: unknown option(s) {' '.join(beam_args)}")
        files, problems = _files_via_api(args, swhids)
    else:
        from stack_v2.archive.listing import list_files

        if not args.archive:
            raise StackV2Error("archive files: give --archive URI (a graph export) or --web-api")
        files, problems = list_files(
            _archive_location(args),
            origins=args.origin or (),
            swhids=swhids,
            max_depth=args.max_depth,
            beam_args=beam_args,
        )
    out = sys.stdout
    for record in files:
        out.write(json.dumps(record.to_json_dict(), ensure_ascii=False) + "\n")
    for problem in problems:
        print(f"stack-v2: {problem.subject}: {problem.reason}: {problem.detail}", file=sys.stderr)
    print(f"stack-v2: {len(files)} files, {len(problems)} problems", file=sys.stderr)
    requested = set(args.origin or ()) | {s.core for s in swhids} | {s.origin for s in swhids if s.origin}
    failed = {p.subject for p in problems if p.reason != "depth_limit"} & requested
    return 1 if failed else 0


def _files_via_api(args, swhids):
    from stack_v2.archive.webapi import DEFAULT_API_URL, list_files_via_api, make_client

    api_url = args.web_api or DEFAULT_API_URL
    client = make_client(api_url)  # one client: its rate-limit pacing covers every request
    files, problems = [], []
    for origin in args.origin or ():
        f, p = list_files_via_api(origin=origin, api_url=api_url, max_depth=args.max_depth, client=client)
        files += f
        problems += p
    for text in args.swhid or ():
        f, p = list_files_via_api(swhid=text, api_url=api_url, max_depth=args.max_depth, client=client)
        files += f
        problems += p
    if not (args.origin or swhids):
        raise StackV2Error("archive files --web-api: name the repositories with --origin or --swhid")
    files.sort(key=lambda r: (r.origin or "", r.directory_id, r.path))
    return files, problems


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
        _archive_location(args),
        check_uri(args.output, "--output"),
        recipe,
        origins=args.origin or (),
        swhids=swhids,
        optouts=_load_optouts(args.optouts),
        allow_missing=args.allow_missing,
    )


def cmd_build(args, beam_args: list[str]) -> int:
    from stack_v2.build import finish_build, start_build

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
    from stack_v2.build import summary_table

    print(summary_table(report), file=sys.stderr)
    kept = report["totals"]["kept"]
    print(
        f"stack-v2: dataset written to {output} ({kept['files']:,} files, "
        f"{kept['bytes'] / 1e6:,.2f} MB; {report['run']['seconds']:.1f} s)",
        file=sys.stderr,
    )


def cmd_finish(args, beam_args: list[str]) -> int:
    import time

    from stack_v2.build import RunNotFinished, finish_build, rollback_build

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


def _load_optouts(paths) -> list:
    """Every request of every file, all validated before anything is applied."""
    from stack_v2.optout.requests import load_requests

    return [request for path in paths or () for request in load_requests(path)]


def _print_optout_summary(summary: dict, where: str) -> None:
    print(
        f"stack-v2: {where}: {summary['files_removed']:,} files ({summary['bytes_removed'] / 1e6:,.2f} MB) of "
        f"{summary['repositories_removed']:,} repositories removed by {summary['requests']:,} requests",
        file=sys.stderr,
    )


def _local_only(command: str, *paths: str) -> None:
    """Commands that rewrite a dataset in place work on local directories (for now): say so, naming the URI."""
    from stack_v2.storage import is_remote

    for path in paths:
        if is_remote(path):
            raise StackV2Error(
                f"{command}: {path}: works on a local dataset only; copy it down first "
                "(aws s3 sync / gcloud storage rsync) and upload the result"
            )


def cmd_manifest_regenerate(args, beam_args: list[str]) -> int:
    from stack_v2.regenerate import regenerate

    _local_only("manifest regenerate", args.dataset, args.output)
    if os.path.abspath(args.output) == os.path.abspath(args.dataset):
        raise StackV2Error("--output must differ from --dataset (use `stack-v2 optout apply` to change it in place)")
    summary = regenerate(
        args.dataset, args.output, _load_optouts(args.optouts), group_by_repo=args.group_by_repo, beam_args=beam_args
    )
    _print_optout_summary(summary, f"regenerated {os.path.abspath(args.output)}")
    return 0


def cmd_optout_apply(args, beam_args: list[str]) -> int:
    from stack_v2.regenerate import regenerate

    _local_only("optout apply", args.dataset)
    summary = regenerate(
        args.dataset,
        args.dataset,
        _load_optouts(args.requests),
        group_by_repo=args.group_by_repo,
        beam_args=beam_args,
        only_if_changed=True,
    )
    if not summary["changed"]:
        print(
            f"stack-v2: {os.path.abspath(args.dataset)}: nothing to do (no file of these requests remains, and "
            "every request is already in optout-audit.jsonl)",
            file=sys.stderr,
        )
        return 0
    _print_optout_summary(summary, f"applied to {os.path.abspath(args.dataset)}")
    return 0


def cmd_manifest_check(args, beam_args: list[str]) -> int:
    from stack_v2.manifest_check import run

    _local_only("manifest check", args.dataset)
    return run(args)


def cmd_cat(args, beam_args: list[str]) -> int:
    from stack_v2.archive.content import fetch_blob, open_content_store

    store = open_content_store(_archive_location(args))
    status = 0
    for blob_id in args.blob_ids:
        result = fetch_blob(store, blob_id, max_length=args.max_length)
        if result.data is None:
            print(f"stack-v2: blob {blob_id}: {result.reason}: {result.detail}", file=sys.stderr)
            status = 1
        else:
            sys.stdout.buffer.write(result.data)
    sys.stdout.flush()
    return status


def cmd_licenses_regenerate(args, beam_args: list[str]) -> int:
    from stack_v2.licenses.lists import regenerate

    if not os.path.isfile(args.blueoak):
        raise StackV2Error(f"--blueoak {args.blueoak}: no such file (npm pack @blueoak/list gives package/index.json)")
    path, count = regenerate(args.output, args.blueoak)
    print(f"stack-v2: wrote {count} permissive license keys to {path}", file=sys.stderr)
    return 0


def cmd_demo(args, beam_args: list[str]) -> int:
    from stack_v2.demo import run_demo

    return run_demo(args.workdir, beam_args=beam_args, show_progress=not args.quiet)


def cmd_report(args, beam_args: list[str]) -> int:
    from stack_v2.report_html import write_report

    if beam_args:
        raise StackV2Error(f"report: unknown option(s) {' '.join(beam_args)}")
    from stack_v2 import storage
    from stack_v2.io.publish import resolve

    if not storage.is_dir(storage.check_uri(args.dataset, "report: dataset")):
        raise StackV2Error(f"report: {args.dataset}: no such directory")
    written = write_report(resolve(args.dataset), output=args.output, top=args.top)
    card = "; the card (README.md) shows the plots" if written.card_updated else ""
    print(
        f"stack-v2: report written to {written.html} with {len(written.plots)} plots (PNG) beside it{card}",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stack-v2",
        description="Build code-pretraining datasets like The Stack "
        "v2 from the Software Heritage archive, on Apache Beam.",
    )
    parser.add_argument("--version", action="version", version=f"stack-v2 {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log stack-v2's progress at INFO level; -vv also Apache Beam's",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    archive = sub.add_parser("archive", help="read and write Software Heritage archives")
    asub = archive.add_subparsers(dest="archive_command", required=True)

    imp = asub.add_parser("import-git", help="turn local git repositories into a local SWH-layout archive")
    imp.add_argument("repos", nargs="+", metavar="REPO", help="paths of git repositories (bare or not)")
    imp.add_argument("--archive", required=True, metavar="DIR", help="archive directory (created or added to)")
    imp.add_argument(
        "--origin-prefix",
        default="https://github.com/local/",
        help="origin URL = prefix + repository folder name (default: %(default)s)",
    )
    imp.add_argument("--visit-date", default=None, help="ISO 8601 date of the visit (default: now)")
    imp.set_defaults(func=cmd_import_git)

    files = asub.add_parser("files", help="print one JSON line per file of each origin's default branch")
    _add_archive_options(files, required=False)
    files.add_argument("--origin", action="append", metavar="URL", help="list only this origin (repeatable)")
    files.add_argument(
        "--swhid",
        action="append",
        metavar="SWHID",
        help="list this swh:1:snp|rev|dir SWHID, optionally with ;origin=... (repeatable)",
    )
    files.add_argument("--max-depth", type=int, default=64, help="directory levels to descend (default: 64)")
    files.add_argument(
        "--web-api",
        nargs="?",
        const="",
        default=None,
        metavar="URL",
        help="list through the SWH Web API instead of a graph export (token: $SWH_API_TOKEN)",
    )
    files.set_defaults(func=cmd_files, beam=True)

    build = sub.add_parser(
        "build",
        help="build a dataset: Parquet shards, SWHID manifest, dropped table, report",
        epilog="Other options are Apache Beam pipeline options, passed to the runner: --runner "
        "(DirectRunner, PortableRunner, DaskRunner, DataflowRunner, ...), "
        "--direct_num_workers, --job_endpoint, ... An option that is neither is an error.",
    )
    _add_archive_options(build)
    build.add_argument("--output", required=True, metavar="DIR", help="dataset directory (a previous run is replaced)")
    build.add_argument(
        "--pipeline",
        default=None,
        metavar="RECIPE",
        help="recipe name in pipelines/ or a YAML file (default: the-stack-v2)",
    )
    build.add_argument("--origin", action="append", metavar="URL", help="build only from this origin (repeatable)")
    build.add_argument(
        "--swhid", action="append", metavar="SWHID", help="build from this snp|rev|dir SWHID (repeatable)"
    )
    build.add_argument(
        "--repo-metadata",
        default=None,
        metavar="PARQUET",
        help="GHArchive-style repository metadata keyed by repo_name (overrides the recipe's)",
    )
    build.add_argument(
        "--optouts",
        action="append",
        metavar="FILE",
        help="opt-out requests to honour (JSON lines, manifests/OPTOUT_FORMAT.md; repeatable)",
    )
    build.add_argument(
        "--allow-missing",
        action="store_true",
        help="build even when a requested --origin or --swhid yields nothing (listed in report.json); "
        "by default that is an error and nothing is published",
    )
    build.add_argument("-q", "--quiet", action="store_true", help="no progress lines while the pipeline runs")
    build.add_argument(
        "--no-wait",
        action="store_true",
        help="return once the runner accepted the job (Dataflow); `stack-v2 finish` completes it",
    )
    build.set_defaults(func=cmd_build, beam=True)

    finish = sub.add_parser("finish", help="turn a build submitted with --no-wait into the dataset, once it ran")
    finish.add_argument("output", metavar="DIR", help="the build's --output (local, s3:// or gs://)")
    finish.add_argument("--run", default=None, metavar="ID", help="the run id build printed (default: the only run)")
    finish.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep checking this long while the pipeline has not finished (default: check once)",
    )
    finish.add_argument("--poll", type=float, default=60.0, metavar="SECONDS", help="between checks (default: 60)")
    finish.add_argument(
        "--rollback",
        action="store_true",
        help="drop the run instead (its version directory) and free the lock it holds",
    )
    finish.set_defaults(func=cmd_finish)

    cat = asub.add_parser("cat", help="write blobs from the content store to stdout, verified")
    _add_archive_options(cat)
    cat.add_argument("blob_ids", nargs="+", metavar="SHA1", help="blob ids (sha1 of the content)")
    cat.add_argument("--max-length", type=int, default=10 * 1024 * 1024, help="skip larger blobs (bytes)")
    cat.set_defaults(func=cmd_cat)

    licenses = sub.add_parser("licenses", help="license lists")
    lsub = licenses.add_subparsers(dest="licenses_command", required=True)
    regen = lsub.add_parser("regenerate", help="rebuild filters/licenses/permissive.tsv from ScanCode and Blue Oak")
    from stack_v2.licenses.classify import FILTERS_DIR

    regen.add_argument(
        "--blueoak",
        default=str(FILTERS_DIR / "blueoak-list-15.0.0.json"),
        help="the Blue Oak Council list's JSON (default: the copy in filters/licenses)",
    )
    regen.add_argument("--output", default=str(FILTERS_DIR), help="directory to write permissive.tsv into")
    regen.set_defaults(func=cmd_licenses_regenerate)

    manifest = sub.add_parser("manifest", help="regenerate or verify a dataset's manifest without rebuilding")
    msub = manifest.add_subparsers(dest="manifest_command", required=True)
    regen_m = msub.add_parser("regenerate", help="a new manifest (and shards) from a build, applying opt-outs")
    regen_m.add_argument("--dataset", required=True, metavar="DIR", help="a dataset written by stack-v2 build")
    regen_m.add_argument("--output", required=True, metavar="DIR2", help="where the regenerated dataset goes")
    regen_m.add_argument("--optouts", action="append", metavar="FILE", help="opt-out requests (repeatable)")
    regen_m.add_argument(
        "--group-by-repo",
        action="store_true",
        help="also write manifest-by-repo/, the repository-grouped train-*-ids form",
    )
    regen_m.set_defaults(func=cmd_manifest_regenerate, beam=True)
    from stack_v2.manifest_check import add_arguments as add_check_arguments

    check = add_check_arguments(
        msub.add_parser(
            "check", help="verify a dataset: SWHIDs, duplicates, data vs manifest, opt-outs; exit 1 listing violations"
        )
    )
    check.set_defaults(func=cmd_manifest_check)

    optout = sub.add_parser("optout", help="opt-out requests")
    osub = optout.add_subparsers(dest="optout_command", required=True)
    apply = osub.add_parser("apply", help="remove the requested repositories from a dataset, in place")
    apply.add_argument("--requests", action="append", required=True, metavar="FILE", help="requests (repeatable)")
    apply.add_argument("--dataset", required=True, metavar="DIR", help="the dataset to change")
    apply.add_argument("--group-by-repo", action="store_true", help="also rewrite manifest-by-repo/")
    apply.set_defaults(func=cmd_optout_apply, beam=True)

    demo = sub.add_parser("demo", help="build a dataset from real code shipped with this machine's Python")
    demo.add_argument("--workdir", default="demo-output", help="where the demo's repositories and archive go")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo, beam=True)

    report = sub.add_parser("report", help="a self-contained HTML report of a dataset, with PNG plots for its card")
    report.add_argument("dataset", metavar="DIR", help="a dataset written by stack-v2 build (local, s3:// or gs://)")
    report.add_argument(
        "--output",
        default=None,
        metavar="FILE",
        help="the HTML file; the PNG plots go beside it (default: DIR/report/index.html, and then "
        "the dataset card links the plots)",
    )
    report.add_argument(
        "--top",
        type=int,
        default=15,
        metavar="N",
        help="languages, licenses, repositories and largest files shown (default: %(default)s)",
    )
    report.set_defaults(func=cmd_report)
    return parser


def _drop_beam_import_noise(record: logging.LogRecord) -> bool:
    # Beam warns about Google Cloud client libraries at import; they are not used here.
    return not record.getMessage().startswith("apitools not found")


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option of the command and its subcommands (for "did you mean" hints)."""
    found = []
    for action in parser._actions:
        found += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _option_strings(sub)
    return sorted(set(found))


def _check_extra_arguments(parser: argparse.ArgumentParser, args, extra: list[str]) -> None:
    """Arguments the command did not take: Beam pipeline options where the command runs a pipeline, else
    nothing; anything else is an error naming it, with the closest option as a hint."""
    if not extra:
        return
    from stack_v2.runners import pipeline_options, unknown_argument

    own = _option_strings(parser)
    if getattr(args, "beam", False) and getattr(args, "web_api", None) is None:
        pipeline_options(extra, own)  # checks every argument and the runner's name
    else:
        raise unknown_argument(extra[0], own)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    # Beam logs hundreds of INFO lines per run: only with -vv
    logging.getLogger("apache_beam").setLevel(logging.INFO if args.verbose >= 2 else logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_drop_beam_import_noise)
    try:
        _check_extra_arguments(parser, args, extra)
        return args.func(args, extra)
    except StackV2Error as exc:
        print(f"stack-v2: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
