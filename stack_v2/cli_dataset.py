"""Commands on a built dataset (``manifest regenerate|check``, ``optout apply``, ``report``) and on the
license lists a build filters with (``licenses regenerate``)."""

from __future__ import annotations

import os
import sys

from stack_v2.cli_build import load_optouts
from stack_v2.errors import StackV2Error


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
        args.dataset, args.output, load_optouts(args.optouts), group_by_repo=args.group_by_repo, beam_args=beam_args
    )
    _print_optout_summary(summary, f"regenerated {os.path.abspath(args.output)}")
    return 0


def cmd_optout_apply(args, beam_args: list[str]) -> int:
    from stack_v2.regenerate import regenerate

    _local_only("optout apply", args.dataset)
    summary = regenerate(
        args.dataset,
        args.dataset,
        load_optouts(args.requests),
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


def cmd_licenses_regenerate(args, beam_args: list[str]) -> int:
    from stack_v2.licenses.lists import regenerate

    if not os.path.isfile(args.blueoak):
        raise StackV2Error(f"--blueoak {args.blueoak}: no such file (npm pack @blueoak/list gives package/index.json)")
    path, count = regenerate(args.output, args.blueoak)
    print(f"stack-v2: wrote {count} permissive license keys to {path}", file=sys.stderr)
    return 0


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
        f"stack-v2: report written to {written.html} with {len(written.plots)} plots (SVG) beside it{card}",
        file=sys.stderr,
    )
    return 0
