"""The pull-request source as Beam transforms: GHArchive files + the archive's trees -> pull requests as
``Document``s (the paper's §2.3; the rules are in ``stack_v2.github.pull_requests``, ``pr_files`` and
``pr_render``).

``ReadPullRequests(files, location, scratch_dir)``:

1. reads every line (``_ReadLines`` with ``pr_events.parse_pr_line``), counting used, skipped and failed
   lines in report.json's ``gharchive_pr_events`` section;
2. groups the events by pull request (repository, number) and decides each (``decide_pull_request``);
3. groups the kept ones by repository and subsamples them (``sampled``, seed ``SEED``);
4. lists the base and head trees of those left (``ListRevisionFiles``: each distinct revision once) and
   gives each pull request its two trees (one shuffle of the trees' rows, no content);
5. fetches the changed files' base and head contents from the archive's content store, applies the
   base-file rules and the YAML/JSON subsampling, and renders the document.

A pull request whose base or head tree is not in the archive, or one of whose changed files could not be
fetched, is ``failed`` (the reason says which); one without a changed file is dropped (``no_initial_diff``),
as is one whose files all fail the base-file rules (``no_files_left``). Every outcome is in the stage
``pull_requests``; the document's ``path`` is ``pulls/<number>``.
"""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows

from stack_v2.archive.content import fetch_blob
from stack_v2.archive.content_store import open_content_store
from stack_v2.archive.traverse import ListRevisionFiles
from stack_v2.counters import add_counts, count_outcome
from stack_v2.decode import decode_content
from stack_v2.documents import Document, sha1_hex
from stack_v2.github.pr_events import parse_pr_line
from stack_v2.github.pr_files import ChangedFile, base_file_verdict, changed_paths, subsample_data_files
from stack_v2.github.pr_render import render_pull_request
from stack_v2.github.pull_requests import PullRequest, decide_pull_request, sampled
from stack_v2.licenses.classify import load_permissive
from stack_v2.records import DroppedRow
from stack_v2.stages.base import DROPPED, STATS, error_detail
from stack_v2.stages.gharchive import ReadLines
from stack_v2.verdicts import INPUT, KEPT, Drop, Fail, outcome_of

STAGE = "pull_requests"
EVENTS_SECTION = "@gharchive_pr_events"
SEED = 42  # the subsampling's and the rendering's draws: fixed, so every build renders the same text
LANGUAGE = "GitHub Pull Requests"
_KEYED = beam.typehints.Tuple[str, beam.typehints.Any]  # the main output's type (tagged outputs aside)


def pr_key(repo_name: str, number: int) -> str:
    return f"{repo_name.lower()}#{number}"


def _row(repo_name, number, verdict: Drop | Fail, nbytes: int = 0) -> DroppedRow:
    return DroppedRow(
        None, repo_name, f"pulls/{number}", STAGE, outcome_of(verdict), verdict.reason, verdict.detail, nbytes
    )


class _Decide(beam.DoFn):
    def setup(self):
        self._permissive = load_permissive()

    def process(self, keyed):
        _, events = keyed
        events = list(events)
        try:
            verdict = decide_pull_request(events, self._permissive)
        except Exception as exc:  # a bug must not lose the pull request
            verdict = Fail("error", error_detail(exc))
        add_counts(STAGE, INPUT, 1, 0)
        yield pvalue.TaggedOutput(STATS, GlobalWindows.windowed_value(((STAGE, INPUT, ""), (1, 0))))
        if isinstance(verdict, PullRequest):
            yield verdict.repo_name.lower(), verdict
        else:
            first = events[0]
            count_outcome(STAGE, outcome_of(verdict), verdict.reason, 0)
            yield pvalue.TaggedOutput(DROPPED, _row(first.repo_name, first.number, verdict))


def _subsample(keyed):
    _, prs = keyed
    prs = sorted(prs, key=lambda pr: pr.number)
    for pr in prs:
        if sampled(SEED, pr.repo_name, pr.number, len(prs)):
            yield pr_key(pr.repo_name, pr.number), pr
        else:
            verdict = Drop("subsampled", f"{len(prs)} pull requests in the repository")
            count_outcome(STAGE, outcome_of(verdict), verdict.reason, 0)
            yield pvalue.TaggedOutput(DROPPED, _row(pr.repo_name, pr.number, verdict))


def _wants(keyed):
    key, pr = keyed
    yield pr.base_sha or "-", (key, "base")
    yield pr.head_sha or "-", (key, "head")


def _revision_problem(problem):
    if problem.subject.startswith("swh:1:rev:"):
        yield problem.subject.rsplit(":", 1)[-1], f"{problem.reason}: {problem.subject}"


def _trees_to_pull_requests(joined):
    """(revision, {files, wants, problems}) -> (pull request, (side, file row)) for each file of the tree, or
    (pull request, (side, None, problem)) when the archive has no such tree."""
    revision, groups = joined
    files = [(f.path, f.content_id, f.blob_id, f.length, f.content_status) for f in groups["files"]]
    problems = list(groups["problems"])
    for key, side in groups["wants"]:
        if not files:
            why = problems[0] if problems else f"revision {revision} lists no file"
            yield key, (side, None, why)
            continue
        for row in files:
            yield key, (side, row, "")


class _Render(beam.DoFn):
    """(pull request, {pr, trees}) -> its Document, or the DroppedRow saying why not."""

    def __init__(self, location):
        self._location = location

    def setup(self):
        self._store = open_content_store(self._location)

    def process(self, joined):
        _, groups = joined
        (pr,) = groups["pr"]
        try:
            verdict = self._document(pr, groups["tree"])
        except Exception as exc:
            verdict = Fail("error", error_detail(exc))
        if isinstance(verdict, Document):
            count_outcome(STAGE, KEPT, "", verdict.length_bytes)
            yield verdict
        else:
            count_outcome(STAGE, outcome_of(verdict), verdict.reason, 0)
            yield pvalue.TaggedOutput(DROPPED, _row(pr.repo_name, pr.number, verdict))

    def _document(self, pr: PullRequest, tree_rows) -> Document | Drop | Fail:
        trees: dict[str, dict] = {"base": {}, "head": {}}
        for side, row, problem in tree_rows:
            if row is None:
                return Fail("tree_not_in_archive", f"{side} {getattr(pr, side + '_sha')}: {problem}")
            trees[side][row[0]] = row
        paths = changed_paths({p: r[1] for p, r in trees["base"].items()}, {p: r[1] for p, r in trees["head"].items()})
        if not paths:
            return Drop("no_initial_diff", f"{pr.base_sha[:12]}..{pr.head_sha[:12]}")
        files = []
        for path in paths:
            texts = []
            for side in ("base", "head"):
                _, content_id, blob_id, length, status = trees[side][path]
                if status != "visible" or blob_id is None:
                    return Fail("content_unavailable", f"{side} {path}: {status}")
                fetched = fetch_blob(self._store, blob_id, content_id, length)
                if fetched.reason is not None:
                    return Fail("content_unavailable", f"{side} {path}: {fetched.reason}: {fetched.detail}")
                decoded = decode_content(fetched.data)
                texts.append(None if isinstance(decoded, Drop) else decoded[0])
            if None in texts or base_file_verdict(path, texts[0]) is not None:
                continue  # a binary file, or one the base-file rules leave out: the others still make the PR
            files.append(ChangedFile(path, texts[0], texts[1]))
        files = subsample_data_files(files, SEED, pr_key(pr.repo_name, pr.number))
        if not files:
            return Drop("no_files_left", f"{len(paths)} changed files, none kept")
        rendered = render_pull_request(pr, files, SEED)
        if isinstance(rendered, Drop):
            return rendered
        meta = {
            "pr_number": pr.number,
            "title": pr.title,
            "merged": pr.merged,
            "base_sha": pr.base_sha,
            "head_sha": pr.head_sha,
            "files": len(files),
            "comments": len(pr.comments),
            "created_at": pr.created_at,
        }
        return Document(
            blob_id=sha1_hex(rendered),
            content_id=f"github-pr:{pr.repo_name}#{pr.number}",
            repo_name=pr.repo_name,
            origin=f"https://github.com/{pr.repo_name}",
            path=f"pulls/{pr.number}",
            language=LANGUAGE,
            content=rendered,
            length_bytes=len(rendered.encode("utf-8")),
            pii_redactions=None,
            meta=json.dumps(meta, ensure_ascii=False, sort_keys=True),
        )


class ReadPullRequests(beam.PTransform):
    """GHArchive file URIs -> {'kept': Document, 'dropped': DroppedRow, 'stats': report entries}."""

    def __init__(self, files: list[str], location, scratch_dir: str):
        super().__init__()
        self._files, self._location, self._scratch = list(files), location, scratch_dir

    def expand(self, pbegin):
        read = pbegin | "ReadPrEvents" >> ReadLines(self._files, parse_pr_line, EVENTS_SECTION, STAGE)
        decided = (
            read["events"]
            | "ByPullRequest" >> beam.GroupByKey()
            | "Decide" >> beam.ParDo(_Decide()).with_output_types(_KEYED).with_outputs(DROPPED, STATS, main="kept")
        )
        sampled_prs = (
            decided.kept
            | "ByRepository" >> beam.GroupByKey()
            | "Subsample" >> beam.FlatMap(_subsample).with_output_types(_KEYED).with_outputs(DROPPED, main="kept")
        )
        prs = sampled_prs.kept
        revisions = (
            prs
            | "Revisions" >> beam.FlatMap(lambda kv: [kv[1].base_sha, kv[1].head_sha])
            | "Named" >> beam.Filter(bool)
            | "DistinctRevisions" >> beam.Distinct()
        )
        listed = revisions | "Trees" >> ListRevisionFiles(self._location, scratch_dir=self._scratch)
        trees = (
            {
                "files": listed["files"] | "FilesByRevision" >> beam.Map(lambda f: (f.revision_id, f)),
                "wants": prs | "Wants" >> beam.FlatMap(_wants),
                "problems": listed["problems"] | "ProblemsByRevision" >> beam.FlatMap(_revision_problem),
            }
            | "JoinTrees" >> beam.CoGroupByKey()
            | "TreesToPullRequests" >> beam.FlatMap(_trees_to_pull_requests)
        )
        rendered = (
            {"pr": prs, "tree": trees}
            | "JoinPullRequests" >> beam.CoGroupByKey()
            | "Render" >> beam.ParDo(_Render(self._location)).with_outputs(DROPPED, main="kept")
        )
        dropped = (
            read[DROPPED],
            decided[DROPPED],
            sampled_prs[DROPPED],
            rendered[DROPPED],
        ) | "Dropped" >> beam.Flatten()
        stats = (read[STATS], decided[STATS]) | "Stats" >> beam.Flatten()
        return {"kept": rendered.kept, "dropped": dropped, STATS: stats}
