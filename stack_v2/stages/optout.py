"""Opt-outs during a build (the paper, §3.5): files of repositories whose owners asked
to be left out are dropped right after repository selection, naming the request.

The same requests applied to a finished dataset go through ``stack_v2.regenerate`` instead.
"""

from __future__ import annotations

import dataclasses
import functools

from stack_v2.io.markdown import megabytes
from stack_v2.optout.match import OptOutMatcher
from stack_v2.optout.requests import OptOutRequest
from stack_v2.records import FileRecord
from stack_v2.stages.base import ApplyCore, Drop
from stack_v2.stages.stage import Stage

STAGE, REASON = "optout", "opted_out"


class OptOutCore:
    def __init__(self, requests: list[OptOutRequest]):
        self._matcher = OptOutMatcher(requests)

    def __call__(self, record: FileRecord) -> FileRecord | Drop:
        request = self._matcher.matches(record.repo_name, record.origin)
        return record if request is None else Drop(REASON, f"request={request.describe()}")


def OptOut(requests: list[OptOutRequest]) -> ApplyCore:
    return ApplyCore(STAGE, functools.partial(OptOutCore, list(requests)))


@dataclasses.dataclass(frozen=True)
class OptOutConfig:
    """Not a recipe parameter: the requests come with the build (``--optouts``)."""

    requests: tuple[OptOutRequest, ...] = ()


def card_section(report: dict) -> list[str]:
    """The card's section on the opt-outs applied (by builds and by `stack-v2 optout apply`)."""
    optouts = report.get("optouts")
    if not optouts:
        return []
    lines: list[str] = []
    lines += [
        "",
        "## Opt-outs",
        "",
        f"{optouts['files_removed']:,} files ({megabytes(optouts['bytes_removed'])} MB) of "
        f"{optouts['repositories_removed']:,} repositories were removed at their owners' request "
        '(the paper\'s "Am I in The Stack" process); `optout-audit.jsonl` lists each request, what it '
        "removed and when.",
        "",
        "| applied at | requests | files removed | repositories removed |",
        "|---|---:|---:|---:|",
    ]
    for a in optouts["applications"]:
        lines.append(
            f"| {a['applied_at']} | {a['requests']:,} | {a['files_removed']:,} | {a['repositories_removed']:,} |"
        )
    return lines


# run right after repository selection when a build has requests (BuildRequest.optouts)
DEFINITION = Stage(STAGE, lambda config, context: OptOut(list(config.requests)), OptOutConfig, card=card_section)
