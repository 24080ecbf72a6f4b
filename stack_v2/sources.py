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

from stack_v2 import storage
from stack_v2.github import issue_threads as rules
from stack_v2.github import pr_files, pr_render
from stack_v2.github import pull_requests as pr_rules
from stack_v2.io.markdown import megabytes
from stack_v2.stages import github_issues, github_pull_requests, kaggle_notebooks, package_docs

SOFTWARE_HERITAGE = "software-heritage"


@dataclass(frozen=True)
class DocumentSource:
    name: str  # the recipe's ``source:``
    title: str  # what the card calls the documents
    reader_stage: str  # the reader's name in the funnel (its kept output is the first stage's)
    read: Callable[[list[str], object], object]  # (input file URIs, StageContext) -> the reader transform
    input_suffixes: tuple[str, ...]  # the files of a directory given as input
    input_help: str  # what --input takes, for errors and --help
    meta_fields: tuple[tuple[str, pa.DataType, str], ...]
    card: Callable[[dict], list[str]]  # the card's section on the source's rules and counts
    notes: tuple[str, ...] = ()  # the card's differences from the paper
    terms: str = ""  # the card's terms of use
    shared_stages: tuple[str, ...] = field(default=("decontaminate", "pii", "near_dedup"))
    needs_archive: bool = False  # reads trees and contents from a Software Heritage archive too (--archive)


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
    read=lambda files, context: github_issues.ReadIssueThreads(files),
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


def _pulls_card(report: dict) -> list[str]:
    events = report.get(github_pull_requests.EVENTS_SECTION[1:], {})
    stage = next((st for st in report["stages"] if st["stage"] == github_pull_requests.STAGE), None)
    out = [
        "",
        "## GitHub pull requests",
        "",
        f"{events.get('lines', {}).get('all', 0):,} GHArchive event lines read: "
        f"{events.get('used', {}).get('all', 0):,} pull-request events used, "
        f"{sum(events.get('skipped', {}).values()):,} skipped, {sum(events.get('failed', {}).values()):,} failed.",
        "",
        "Events (`PullRequestEvent`, `PullRequestReviewEvent`, `PullRequestReviewCommentEvent`, and "
        "`IssueCommentEvent` on pull requests) are grouped by pull request and go through the paper's rules: "
        "no bot author, not bots only, a permissive base repository license (GitHub's detection), the base "
        "branch unchanged, approved or merged, a title of at least "
        f"{pr_rules.MIN_TITLE} characters not about dependencies or a release, a description of at least "
        f"{pr_rules.MIN_DESCRIPTION} characters without `Qwiet`; titles are cut to {pr_rules.MAX_TITLE} "
        f"characters and descriptions to 80 lines and {pr_rules.MAX_DESCRIPTION} characters; bots' comments, "
        f"email boilerplate, comments under {pr_rules.MIN_COMMENT} characters (review comments excepted) and "
        f"review comments on hunks over {pr_rules.MAX_HUNK:,} characters are removed. Each repository's pull "
        "requests are subsampled (0.8 for one, falling to 0.1 at 1,000, about 100 kept above). The base and "
        "head trees come from the archive; a changed file's base version must pass the base-file rules "
        f"(at most {pr_files.MAX_CHARS:,} characters, alphanumeric and hexadecimal fractions, line lengths "
        "outside prose formats, English Markdown), YAML and JSON files are kept with probability "
        f"{pr_files.DATA_FILE_KEEP} where the paper subsamples them, and the document shows the base file in "
        "full with probability 0.2, otherwise "
        "its changed ranges with up to 32 lines around them, and each hunk with 3-10 lines of context. "
        f"Documents over {pr_render.MAX_CHARS:,} characters are dropped.",
    ]
    if stage:
        out += ["", "| pull requests | count |", "|---|---:|", f"| formed | {stage['input']['files']:,} |"]
        for outcome in ("dropped", "failed"):
            for reason, c in stage["reasons"].get(outcome, {}).items():
                out.append(f"| {outcome}: {reason} | {c['files']:,} |")
        out.append(f"| kept | {stage['kept']['files']:,} |")
    return out


GITHUB_PULL_REQUESTS = DocumentSource(
    name="github-pull-requests",
    title="GitHub pull requests",
    reader_stage=github_pull_requests.STAGE,
    read=lambda files, context: github_pull_requests.ReadPullRequests(
        files, context.location, storage.join(context.run_dir, ".traversal")
    ),
    input_suffixes=(".json.gz", ".json"),
    input_help="GHArchive hourly event files (YYYY-MM-DD-H.json.gz) with --archive, the archive holding the "
    "pull requests' base and head revisions",
    meta_fields=(
        ("pr_number", pa.int64(), "the pull request's number in its repository"),
        ("title", pa.string(), "its title (cut to 500 characters)"),
        ("merged", pa.bool_(), "it was merged (else it was approved)"),
        ("base_sha", pa.string(), "the base revision (sha1_git: its SWHID is swh:1:rev:<base_sha>)"),
        ("head_sha", pa.string(), "the head revision at its last event"),
        ("files", pa.int64(), "changed files rendered"),
        ("comments", pa.int64(), "comments and reviews rendered"),
        ("created_at", pa.string(), "when it was opened (ISO 8601, UTC)"),
    ),
    card=_pulls_card,
    notes=(
        "The order of the sections in a document (title and description, merged flag, base files, diffs, "
        "comments) is ours: the paper gives the tokens, not their order.",
        'A retargeted pull request is one whose base branch changed between its events (the paper\'s "base changed").',
    ),
    terms="The texts are GitHub users' pull requests, reviews and comments (GHArchive's record of GitHub's public "
    "events) and code from permissively licensed repositories as archived by Software Heritage; each keeps its "
    "own license and GitHub's terms apply. Usernames are replaced.",
    needs_archive=True,
)


def _stage_table(report: dict, stage_name: str, unit: str) -> list[str]:
    """The reader stage's outcomes as a table: input, each reason, kept."""
    stage = next((st for st in report["stages"] if st["stage"] == stage_name), None)
    if stage is None:
        return []
    out = ["", f"| {unit} | count |", "|---|---:|", f"| read | {stage['input']['files']:,} |"]
    for outcome in ("dropped", "failed"):
        for reason, c in stage["reasons"].get(outcome, {}).items():
            out.append(f"| {outcome}: {reason} | {c['files']:,} |")
    return [*out, f"| kept | {stage['kept']['files']:,} |"]


def _kaggle_card(report: dict) -> list[str]:
    return [
        "",
        "## Kaggle notebooks",
        "",
        "Notebooks of Meta Kaggle Code, named by their kernel version id, joined to Meta Kaggle's tables "
        "(KernelVersions, KernelLanguages, KernelVersionDatasetSources, DatasetVersions) by that id. Each is "
        "converted to a script (stack-v2's notebook conversion, the language from the notebook or the "
        "kernel's table), Kaggle's starter template is removed, scripts of 100 characters or fewer, over "
        "5,000,000, or (Python) that do not compile are dropped, and the title, subtitle and description of "
        "the datasets the notebook read are prepended as a comment. Python notebooks only, as the paper's "
        "`compile()` check implied. The recipe's near-dedup runs after.",
        *_stage_table(report, kaggle_notebooks.STAGE, "notebooks"),
    ]


def _docs_card(report: dict) -> list[str]:
    return [
        "",
        "## Package documentation",
        "",
        "The documentation shipped in package distributions (sdists and wheels): files under `doc/` or `docs/` "
        "(Markdown kept as written, reStructuredText and HTML converted to text), top-level READMEs, and the "
        "long description of the package metadata when it is not the README again. Each page keeps its "
        "package, version, kind and content type; near-dedup runs within each package.",
        *_stage_table(report, package_docs.STAGE, "pages"),
    ]


KAGGLE_NOTEBOOKS = DocumentSource(
    name="kaggle-notebooks",
    title="Kaggle notebooks as scripts",
    reader_stage=kaggle_notebooks.STAGE,
    read=lambda files, context: kaggle_notebooks.ReadKaggleNotebooks(files),
    input_suffixes=(".ipynb", ".csv"),
    input_help="Meta Kaggle Code's notebooks (<kernel version id>.ipynb) and Meta Kaggle's KernelVersions.csv, "
    "KernelLanguages.csv, KernelVersionDatasetSources.csv and DatasetVersions.csv (directories or files)",
    meta_fields=(
        ("kernel_version_id", pa.int64(), "the notebook's id in Meta Kaggle Code (KernelVersions.Id)"),
        ("script_id", pa.int64(), "the kernel it is a version of (KernelVersions.ScriptId), when the table has it"),
        ("dataset_ids", pa.list_(pa.int64()), "the datasets it read (DatasetVersions.DatasetId)"),
        ("script_language", pa.string(), "the script's language"),
        ("template", pa.string(), "what of Kaggle's starter template was removed: header, cell or nothing"),
        ("notebook_bytes", pa.int64(), "the notebook's size"),
    ),
    card=_kaggle_card,
    notes=(
        "The too-long limit applies to the script; BigCode's code applied it to the notebook's JSON, which also "
        "dropped notebooks with large outputs.",
    ),
    terms="Meta Kaggle Code is published by Kaggle under the Apache 2.0 license; each notebook's author keeps "
    "their rights as Kaggle's terms say.",
)

PACKAGE_DOCS = DocumentSource(
    name="package-docs",
    title="Documentation from package distributions",
    reader_stage=package_docs.STAGE,
    read=lambda files, context: package_docs.ReadPackageDocs(files),
    input_suffixes=package_docs.SUFFIXES,
    input_help="package distributions: sdists (.tar.gz, .zip) and wheels (.whl), files or directories",
    meta_fields=(
        ("package", pa.string(), "the package's name, from its metadata"),
        ("version", pa.string(), "its version"),
        ("kind", pa.string(), "docs, readme or long_description"),
        ("content_type", pa.string(), "the source format: text/markdown, text/x-rst, text/html, text/plain"),
    ),
    card=_docs_card,
    notes=(
        "The paper crawled documentation websites (package managers' docs found through libraries.io, Read "
        "the Docs, CRAN and CTAN PDFs, 23 curated sites, free programming books); this source reads the "
        "documentation distributions ship, so it has no rendered API pages or PDFs, and near-dedup runs per "
        "package rather than per website.",
    ),
    terms="Each page keeps its package's license; see the package's metadata and files.",
)

DOCUMENT_SOURCES: dict[str, DocumentSource] = {
    source.name: source for source in (GITHUB_ISSUES, GITHUB_PULL_REQUESTS, KAGGLE_NOTEBOOKS, PACKAGE_DOCS)
}
SOURCES = (SOFTWARE_HERITAGE, *DOCUMENT_SOURCES)
