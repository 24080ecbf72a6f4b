"""What one import-git run knows and gathers: the ids already in the archive, the rows to write, the summary.

stack_v2.archive.import_git runs the import; stack_v2.archive.git_objects fills these in, one repository at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from stack_v2.archive import orc
from stack_v2.archive.location import ArchiveLocation
from stack_v2.errors import ArchiveError


@dataclass
class ImportSummary:
    """What an import added (counts of new rows per table, and per origin the visit it made)."""

    new_rows: dict[str, int] = field(default_factory=dict)
    visits: dict[str, int | None] = field(default_factory=dict)  # origin -> new visit number, None if unchanged
    content_bytes: int = 0

    def add(self, table: str, n: int = 1) -> None:
        self.new_rows[table] = self.new_rows.get(table, 0) + n


class ExistingIds:
    """Ids already in the archive, so a re-import adds nothing that is there."""

    def __init__(self, archive_dir: str):
        self.contents: set[str] = set()  # sha1_git, from content and skipped_content
        self.directories: set[str] = set()
        self.revisions: set[str] = set()
        self.releases: set[str] = set()
        self.snapshots: set[str] = set()
        self.origins: set[str] = set()
        self.visits: dict[str, list[tuple[int, str, str | None]]] = {}  # origin -> [(visit, status, snapshot)]
        if not os.path.isdir(os.path.join(archive_dir, "graph", "orc")):
            return
        location = ArchiveLocation(archive_dir)
        self._load(location, "content", "sha1_git", self.contents)
        self._load(location, "skipped_content", "sha1_git", self.contents)
        self._load(location, "directory", "id", self.directories)
        self._load(location, "revision", "id", self.revisions)
        self._load(location, "release", "id", self.releases)
        self._load(location, "snapshot", "id", self.snapshots)
        self._load(location, "origin", "url", self.origins)
        for batch in self._batches(location, "origin_visit_status", ["origin", "visit", "status", "snapshot"]):
            for origin, visit, status, snapshot in zip(*(c.to_pylist() for c in batch.columns)):
                self.visits.setdefault(origin, []).append((visit, status, snapshot))

    @staticmethod
    def _batches(location: ArchiveLocation, table: str, columns: list[str]):
        try:
            refs = orc.table_stripes(location, table)
        except ArchiveError:
            return  # table not written yet
        for ref in refs:
            yield orc.read_stripe(location, ref, columns)

    def _load(self, location: ArchiveLocation, table: str, column: str, into: set[str]) -> None:
        for batch in self._batches(location, table, [column]):
            into.update(v for v in batch.column(0).to_pylist() if v is not None)

    def latest_full_snapshot(self, origin: str) -> str | None:
        full = [(visit, snap) for visit, status, snap in self.visits.get(origin, []) if status == "full" and snap]
        return max(full)[1] if full else None

    def next_visit(self, origin: str) -> int:
        return max((v for v, _, _ in self.visits.get(origin, [])), default=0) + 1


class Rows:
    """Rows gathered for each table during one import run."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict]] = {}

    def add(self, table: str, row: dict) -> None:
        self.tables.setdefault(table, []).append(row)
