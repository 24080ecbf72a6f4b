"""The sources a recipe can build from (``source:`` in a recipe): Software Heritage's repositories, the
code build's own, and the document sources of the rest of the training mix, each one entry here.

A document source reads the files given with ``--input`` into ``Document`` records (its reader: a
transform with ``kept``, ``dropped`` and ``stats`` outputs, whose kept documents are the recipe's first
stage's output), then runs the recipe's shared stages (decontamination, PII redaction, near-dedup) on
them, and writes the tables of ``io.document_tables``. Its entry says what the reader is, what input it
takes, its columns, and what its card says of its rules, its counts and its terms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from stack_v2.github import issue_threads as rules
from stack_v2.io.markdown import megabytes
from stack_v2.stages import github_issues

SOFTWARE_HERITAGE = "software-heritage"


@dataclass(frozen=True)
class DocumentSource:
    name: str  # the recipe's ``source:``
    title: str  # what the card calls the documents
    reader_stage: str  # the reader's name in the funnel (its kept output is the first stage's)
    read: Callable[[list[str]], object]  # input file URIs -> the reader transform
    input_suffixes: tuple[str, ...]  # the files of a directory given as input
    input_help: str  # what --input takes, for errors and --help
    meta_fields: tuple[tuple[str, pa.DataType, str], ...]
    card: Callable[[dict], list[str]]  # the card's section on the source's rules and counts
    notes: tuple[str, ...] = ()  # the card's differences from the paper
    terms: str = ""  # the card's terms of use
    shared_stages: tuple[str, ...] = field(default=("decontaminate", "pii", "near_dedup"))


def _issues_card(report: dict) -> list[str]:
    events = report.get(github_issues.EVENTS_STAGE, {})
    lines = events.get("lines", {}).get("all", 0)
    used = events.get("used", {}).get("all", 0)
    skipped = events.get("skipped", {})
    failed = events.get("failed", {})
    threads = next((st for st in report["stages"] if st["stage"] == github_issues.THREADS_STAGE), None)
    out = [
        "",
        "## GitHub issues",
        "",
        f"{lines:,} GHArchive event lines read: {used:,} issue events used, {sum(skipped.values()):,} skipped, "
        f"{sum(failed.values()):,} failed.",
        "",
        "| skipped or failed | lines |",
        "|---|---:|",
        *(f"| skipped: {reason} | {n:,} |" for reason, n in sorted(skipped.items(), key=lambda kv: -kv[1])),
        *(f"| failed: {reason} | {n:,} |" for reason, n in sorted(failed.items(), key=lambda kv: -kv[1])),
        "",
        "The issue events (`IssuesEvent` opened, closed and reopened; `IssueCommentEvent` created; none on pull "
        "requests) are grouped by repository and issue number into threads, and each thread goes through "
        "StarCoder's rules, as The Stack v2 used them:",
        "",
        "- GitHub's email-reply boilerplate (reply headers, quoted text, footers, sign-offs) is stripped;",
        f"- a text of more than {rules.MAX_LINES} lines keeps its first {rules.KEEP_HEAD} and last "
        f"{rules.KEEP_TAIL} lines around a `{rules.TRUNCATED}` line (the paper's variant; BigCode's code cut at "
        "80 lines, keeping 60 and 20);",
        "- events by bots (name keywords, suffixes and a list of accounts) are removed; a thread of bots only "
        "is dropped (`bot_thread`);",
        f"- a thread with under {rules.MIN_CHARS} characters of text is dropped (`too_short`);",
        f"- a single-user thread is kept only with at most {rules.SINGLE_USER_MAX_CHARS:,} characters and at most "
        f"{rules.SINGLE_USER_MAX_EVENTS} events (`single_user`);",
        "- authors become `username_0`, `username_1`, ... by first appearance, in labels and texts;",
        "- the document is `<issue_start>Title: ...\\nusername_0: ...<issue_comment>username_1: ...` and "
        "`<issue_closed>` when the last status change closed the issue.",
    ]
    if threads:
        out += ["", "| threads | count | MB |", "|---|---:|---:|"]
        out.append(f"| formed | {threads['input']['files']:,} | |")
        for reason, c in threads["reasons"].get("dropped", {}).items():
            out.append(f"| dropped: {reason} | {c['files']:,} | |")
        out.append(f"| kept | {threads['kept']['files']:,} | {megabytes(threads['kept']['bytes'])} |")
    return out


GITHUB_ISSUES = DocumentSource(
    name="github-issues",
    title="GitHub issue threads",
    reader_stage=github_issues.THREADS_STAGE,
    read=github_issues.ReadIssueThreads,
    input_suffixes=(".json.gz", ".json"),
    input_help="GHArchive hourly event files (YYYY-MM-DD-H.json.gz): a file, a directory or a glob, local or s3:// gs://",
    meta_fields=(
        ("issue_number", pa.int64(), "the issue's number in its repository"),
        ("title", pa.string(), "the issue's title"),
        ("events", pa.int64(), "events of the thread after the bot filter (opening, comments, status changes)"),
        ("users", pa.int64(), "distinct authors after the bot filter"),
        ("text_chars", pa.int64(), "characters of text after stripping, truncation and the bot filter"),
        ("closed", pa.bool_(), "the last status change read closed the issue"),
        ("created_at", pa.string(), "when the issue was opened (ISO 8601, UTC)"),
    ),
    card=_issues_card,
    notes=(
        "Threads are made from GHArchive's events directly; the paper's issues came from StarCoder's GitHub "
        "issues set, built from the same events.",
        "Bot calls (a human comment that only invokes the bot removed after it) are kept: BigCode's code for "
        "removing them never ran (it refers to names it does not define).",
        "Usernames are replaced as whole words only (`ann` is not replaced inside `annotate`); BigCode replaced "
        "every substring.",
    ),
    terms="The texts are GitHub users' issues and comments, from GHArchive's record of GitHub's public events; "
    "GitHub's terms of service and each repository's own terms apply. Usernames are replaced, and PII "
    "redaction ran when the recipe has the `pii` stage.",
)

DOCUMENT_SOURCES: dict[str, DocumentSource] = {source.name: source for source in (GITHUB_ISSUES,)}
SOURCES = (SOFTWARE_HERITAGE, *DOCUMENT_SOURCES)
