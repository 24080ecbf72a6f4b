"""``manifest-by-repo/``: the manifest grouped by repository, the train sets' ``*-ids`` form (docs/the-stack-v2.md
§11.4), written by a build whose recipe asks for it (``output: {group_by_repo: true}``) and by
``manifest regenerate --group-by-repo``."""

from __future__ import annotations

import os

import apache_beam as beam

from stack_v2.io.layout import GROUPED
from stack_v2.io.parquet import WriteShardedParquet
from stack_v2.io.rows import repo_row
from stack_v2.io.schema import REPO_MANIFEST_SCHEMA


def _repo_key(row: dict) -> str:
    return row["repo_name"] or ""


class WriteRepoManifest(beam.PTransform):
    """(repo_name, manifest row) -> ``<run_dir>/manifest-by-repo/`` shards, one row per repository.

    Its GroupByKey moves manifest rows (metadata, about 1 KB a file), never content: a repository's rows
    are held together once, to make its row (``io.rows.repo_row``, files sorted by path)."""

    def __init__(self, run_dir: str, rows_per_shard: int = 100_000):
        super().__init__()
        self._run_dir, self._rows_per_shard = run_dir, rows_per_shard

    def expand(self, pairs):
        return (
            pairs
            | "ByRepo" >> beam.GroupByKey()
            | "RepoRows" >> beam.MapTuple(lambda _repo, rows: ("", repo_row(list(rows)), 1))
            | "Write"
            >> WriteShardedParquet(
                os.path.join(self._run_dir, GROUPED),
                "part",
                REPO_MANIFEST_SCHEMA,
                _repo_key,
                target_rows=self._rows_per_shard,
            )
        )
