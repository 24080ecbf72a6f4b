"""Exact dedup by blob_id (docs/the-stack-v2.md §6.2): one occurrence per unique blob.

The keeper is ranked as in the paper's code: a permissive GHArchive license first, then more stars,
more forks, the latest revision, the latest visit; then repo name and path, so ties break the same way
on every runner. The occurrences of a blob are grouped once and read twice, the keeper chosen in the
first pass and each occurrence decided in the second (bounded memory even for the empty blob's millions
of occurrences, on runners that page groups), so each unique blob goes on alone: it is fetched and
processed once.
"""

from __future__ import annotations

import dataclasses
import functools

import apache_beam as beam

from stack_v2.licenses.classify import load_permissive
from stack_v2.params import Optional, Path, param
from stack_v2.progress import Tracked
from stack_v2.ranking import latest_first, popularity
from stack_v2.records import FileRecord
from stack_v2.stages.base import Drop, routed
from stack_v2.stages.stage import Stage

STAGE = "exact_dedup"


def occurrence_rank(r: FileRecord, permissive: frozenset[str]) -> tuple:
    """Smaller is better: the paper's ranking among occurrences of one blob."""
    return (
        r.gha_license_id not in permissive,
        *popularity(r),
        latest_first(r.revision_date),
        latest_first(r.visit_date),
        r.repo_name or "",
        r.origin or "",
        r.path,
    )


def dedup_verdict(record: FileRecord, keeper: tuple) -> FileRecord | Drop:
    _rank, origin, path, repo_name = keeper
    if (record.origin, record.path) == (origin, path):
        return record
    return Drop("exact_duplicate", f"kept {repo_name}:{path}")


def _split(group, permissive: frozenset[str]):
    """A blob's occurrences -> the keeper kept, the others dropped. Two passes over the group, never a list
    of it: a runner that pages groups (Dataflow does) never holds the empty blob's millions of occurrences."""
    _blob, records = group
    keeper = min((occurrence_rank(r, permissive), r.origin, r.path, r.repo_name) for r in records)
    for record in records:
        yield from routed(STAGE, record, dedup_verdict(record, keeper))


class ExactDedup(beam.PTransform):
    """FileRecord -> {'kept': one per blob_id, 'dropped': the other occurrences}.

    Records without a blob_id (content not archived) pass through; the fetch stage accounts for them.
    """

    def __init__(self, permissive: frozenset[str]):
        super().__init__()
        self._permissive = permissive

    def expand(self, records):
        with_blob = records | "HasBlob" >> beam.Partition(lambda r, n: 0 if r.blob_id is not None else 1, 2)
        split = (
            with_blob[0]
            | "ByBlob" >> beam.Map(lambda r: (r.blob_id, r))
            | "Occurrences" >> beam.GroupByKey()
            | "Split"
            >> beam.FlatMap(Tracked(functools.partial(_split, permissive=self._permissive))).with_outputs(
                "dropped", main="kept"
            )
        )
        unarchived = with_blob[1] | "Unarchived" >> beam.FlatMap(
            Tracked(lambda r: routed(STAGE, r, r))
        )  # kept, counted
        kept = (split.kept, unarchived) | "WithUnarchived" >> beam.Flatten()
        return {"kept": kept, "dropped": split.dropped}


@dataclasses.dataclass(frozen=True)
class ExactDedupConfig:
    permissive: str | None = param(None, Optional(Path()))  # a permissive.tsv; None: filters/licenses/permissive.tsv


# licenses are decided on every occurrence before the keepers are chosen
DEFINITION = Stage(
    STAGE, lambda config, context: ExactDedup(load_permissive(config.permissive)), ExactDedupConfig, after=("license",)
)
