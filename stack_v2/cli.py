"""The ``stack-v2`` command.

Errors raised on purpose (``StackV2Error``) print as one line, ``stack-v2: error: ...``, with exit
status 2; anything else is a bug and keeps its traceback. Options the command does not know are
passed to Apache Beam as pipeline options (``--runner``, ``--direct_num_workers``, ...).

The subcommands are implemented in ``cli_archive`` (``archive ...``), ``cli_build`` (``build``, ``finish``,
``demo``), ``cli_dataset`` (``manifest``, ``optout``, ``report``, ``licenses``), ``cli_tokens`` (``tokens``),
``cli_export`` (``export``) and ``cli_serve`` (``serve``, ``optout pending|approve``); this module builds the
parser and runs them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from stack_v2 import __version__, collector
from stack_v2.cli_archive import cmd_cat, cmd_files, cmd_import_git
from stack_v2.cli_build import add_checkpoint_arguments, cmd_build, cmd_demo, cmd_finish
from stack_v2.cli_dataset import (
    cmd_licenses_regenerate,
    cmd_manifest_check,
    cmd_manifest_regenerate,
    cmd_optout_apply,
    cmd_report,
)
from stack_v2.cli_export import add_export_parser
from stack_v2.cli_serve import add_review_parsers, add_serve_parser
from stack_v2.cli_tokens import add_tokens_parser
from stack_v2.errors import StackV2Error

log = logging.getLogger("stack_v2")


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
    _add_archive_options(build, required=False)  # a document source reads --input instead
    build.add_argument(
        "--input",
        action="append",
        metavar="FILES",
        help="a document source's input (recipes with source: other than software-heritage): a file, a "
        "directory or a glob such as 'gharchive/2023-01-*.json.gz', local or s3:// gs:// (repeatable)",
    )
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
    add_checkpoint_arguments(build)
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
        help="also write manifest-by-repo/, the repository-grouped train-*-ids form (always when the dataset has it)",
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
    apply.add_argument(
        "--group-by-repo", action="store_true", help="also write manifest-by-repo/ (always when the dataset has it)"
    )
    apply.set_defaults(func=cmd_optout_apply, beam=True)
    add_review_parsers(osub)  # pending, approve: the requests `stack-v2 serve` received

    demo = sub.add_parser("demo", help="build a dataset from real code shipped with this machine's Python")
    demo.add_argument("--workdir", default="demo-output", help="where the demo's repositories and archive go")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo, beam=True)

    report = sub.add_parser("report", help="a self-contained HTML report of a dataset, with SVG plots for its card")
    report.add_argument("dataset", metavar="DIR", help="a dataset written by stack-v2 build (local, s3:// or gs://)")
    report.add_argument(
        "--output",
        default=None,
        metavar="FILE",
        help="the HTML file; the SVG plots go beside it (default: DIR/report/index.html, and then "
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
    add_tokens_parser(sub)
    add_export_parser(sub)
    add_serve_parser(sub)
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


def entry() -> None:
    """The ``stack-v2`` command (the console script, ``python -m stack_v2.cli``): ``main``, then exit
    without the interpreter's last walk over the heap (stack_v2/collector.py)."""
    code = main()
    collector.skip_final_collection()
    sys.exit(code)


if __name__ == "__main__":
    entry()
