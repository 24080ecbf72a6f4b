"""Repository selection and repo-level dedup by root directory (docs/the-stack-v2.md §2).

Each origin's default-branch files come from the traversal. Optional GHArchive-style repository
metadata (a Parquet table keyed by ``repo_name``: github_id, star_events_count, fork_events_count,
gha_license_id, gha_event_created_at, gha_created_at, gha_language) fills those columns. Origins whose
default branches share a root directory are one repository twice: one is kept, ranked as the paper's
code does: a GHArchive license first, then more stars, more forks, the earlier revision, the older
GitHub id, the earlier visit (and the origin URL, so ties break the same way on every runner).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import apache_beam as beam

from stack_v2.io.schema import REPO_METADATA_COLUMNS
from stack_v2.joins import JoinSmallToLarge
from stack_v2.params import Optional, Path, param
from stack_v2.progress import Tracked
from stack_v2.ranking import earliest_first, popularity
from stack_v2.records import (
    DroppedRow,
    FileOccurrence,
    FileRecord,
    TraversalProblem,
    extension_of,
    micros_from_datetime,
    repo_name_from_origin,
)
from stack_v2.repo_metadata import check_repo_metadata
from stack_v2.stages.base import INPUT, Drop, count_dropped_row, count_outcome, routed
from stack_v2.stages.stage import Stage

STAGE = "select_repositories"


def record_from_occurrence(occ: FileOccurrence, meta: dict | None) -> FileRecord:
    """A FileOccurrence as the pipeline's record, with the repository metadata when there is some."""
    meta = meta or {}
    return FileRecord(
        blob_id=occ.blob_id,
        directory_id=occ.directory_id,
        path=occ.path,
        content_id=occ.content_id,
        detected_licenses=[],
        license_type=None,
        repo_name=occ.repo_name,
        snapshot_id=occ.snapshot_id,
        revision_id=occ.revision_id,
        branch_name=occ.branch_name,
        visit_date=occ.visit_date,
        revision_date=occ.revision_date,
        committer_date=occ.committer_date,
        github_id=meta.get("github_id"),
        star_events_count=meta.get("star_events_count") or 0,
        fork_events_count=meta.get("fork_events_count") or 0,
        gha_license_id=meta.get("gha_license_id"),
        gha_event_created_at=meta.get("gha_event_created_at"),
        gha_created_at=meta.get("gha_created_at"),
        gha_language=meta.get("gha_language"),
        src_encoding=None,
        language=None,
        is_vendor=None,
        is_generated=None,
        length_bytes=occ.length,
        extension=extension_of(occ.path),
        alphanum_fraction=None,
        alpha_fraction=None,
        num_lines=None,
        avg_line_length=None,
        max_line_length=None,
        nl_language=None,
        pii_redactions=None,
        origin=occ.origin,
        perms=occ.perms,
        content_status=occ.content_status,
        content=None,
    )


def repository_rank(r: FileRecord) -> tuple:
    """Smaller is better: the paper's ranking among repositories with the same root directory."""
    return (
        r.gha_license_id is None,
        *popularity(r),
        earliest_first(r.revision_date),
        earliest_first(r.github_id),
        earliest_first(r.visit_date),
        r.origin or "",
    )


def duplicate_verdict(record: FileRecord, keeper: tuple) -> FileRecord | Drop:
    """Keep the record when its origin is the root's chosen repository."""
    _rank, origin, repo_name = keeper
    if record.origin == origin:
        return record
    return Drop("duplicate_repository", f"same root directory as {repo_name or origin}")


def problem_row(problem: TraversalProblem) -> DroppedRow:
    """An origin or SWHID that gave no files (or not all of them), as a failed row of dropped/."""
    repo = repo_name_from_origin(problem.subject) if "://" in problem.subject else None
    return DroppedRow(
        blob_id=None,
        repo_name=repo,
        path=None,
        stage=STAGE,
        outcome="failed",
        reason=problem.reason,
        detail=f"{problem.subject}: {problem.detail}",
        length_bytes=None,
    )


def _counted_problem_row(problem: TraversalProblem) -> DroppedRow:
    """problem_row, counted as one input and one failure of the stage (Beam counters)."""
    count_outcome(STAGE, INPUT)
    return count_dropped_row(problem_row(problem))


def metadata_row(row: dict) -> tuple[str, dict]:
    """A repo-metadata Parquet row -> (repo_name, values with dates as µs)."""
    out = {}
    for key in REPO_METADATA_COLUMNS[1:]:
        value = row.get(key)
        out[key] = micros_from_datetime(value) if isinstance(value, dt.datetime) else value
    return row["repo_name"], out


def check_metadata_table(path: str) -> None:
    check_repo_metadata(path)  # also run by the CLI, before the build starts


def _with_metadata(joined):
    _repo, metas, occ = joined
    yield record_from_occurrence(occ, metas[0] if metas else None)


def _split(group):
    """The files of every repository with one root directory -> the best repository's kept, the others'
    dropped. Two passes over the group, never a list of it (runners that page groups hold none whole)."""
    _root, records = group
    keeper = min((repository_rank(r), r.origin, r.repo_name) for r in records)
    for record in records:
        yield from routed(STAGE, record, duplicate_verdict(record, keeper))


class SelectRepositories(beam.PTransform):
    """{'files': FileOccurrence, 'problems': TraversalProblem} (the traversal's listing) -> {'kept': FileRecord,
    'dropped': DroppedRow, 'input': the records selection chose among, 'stats': unlisted origins' input counts}."""

    def __init__(self, repo_metadata: str | None = None):
        super().__init__()
        if repo_metadata:
            check_metadata_table(repo_metadata)
        self._repo_metadata = repo_metadata

    def expand(self, listing):
        files, problems = listing["files"], listing["problems"]
        if self._repo_metadata:
            metadata = (
                files.pipeline
                | "ReadRepoMetadata" >> beam.io.ReadFromParquet(self._repo_metadata)
                | "MetadataByRepo" >> beam.Map(metadata_row)
            )
            records = (
                (metadata, files | "ByRepo" >> beam.Map(lambda o: (o.repo_name, o)))
                | "JoinMetadata" >> JoinSmallToLarge()
                | "WithMetadata" >> beam.FlatMap(_with_metadata)
            )
        else:
            records = files | "ToRecords" >> beam.Map(record_from_occurrence, None)
        split = (
            records
            | "ByRoot" >> beam.Map(lambda r: (r.directory_id, r))
            | "SameRoot" >> beam.GroupByKey()
            | "Split" >> beam.FlatMap(Tracked(_split)).with_outputs("dropped", main="kept")
        )
        failed = problems | "Problems" >> beam.Map(Tracked(_counted_problem_row))
        dropped = (split.dropped, failed) | "AllDropped" >> beam.Flatten()
        # an origin the traversal could not list is an input that failed: counted as input here
        problem_inputs = failed | "CountProblemInputs" >> beam.Map(lambda r: ((STAGE, INPUT, ""), (1, 0)))
        return {"kept": split.kept, "dropped": dropped, "input": records, "stats": problem_inputs}


@dataclasses.dataclass(frozen=True)
class SelectRepositoriesConfig:
    repo_metadata: str | None = param(None, Optional(Path()))  # GHArchive-style Parquet table keyed by repo_name


DEFINITION = Stage(STAGE, lambda config, context: SelectRepositories(config.repo_metadata), SelectRepositoriesConfig)
