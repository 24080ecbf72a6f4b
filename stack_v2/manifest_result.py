"""What ``stack-v2 manifest check`` reports: the kinds of violation, one violation (a line of output), and the
result that counts them per kind and keeps at most ``limit`` of each."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

KINDS = (
    "schema",
    "ids",
    "swhid",
    "duplicate_blob_id",
    "data_not_in_manifest",
    "manifest_not_in_data",
    "mismatch",
    "language_dir",
    "opted_out",
)
DEFAULT_LIMIT = 50


class Violation(NamedTuple):
    kind: str
    file: str  # relative to the dataset directory
    row: int | None  # row within the file (from 0), None for a whole file
    what: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        return f"{self.kind}: {where}: {self.what}"


@dataclass
class CheckResult:
    dataset_dir: str
    limit: int = DEFAULT_LIMIT
    violations: list[Violation] = field(default_factory=list)  # at most ``limit`` per kind
    counts: Counter = field(default_factory=Counter)  # all violations per kind
    manifest_rows: int = 0
    data_rows: int = 0
    files: int = 0

    @property
    def ok(self) -> bool:
        return not self.counts

    def add(self, kind: str, file: str, row: int | None, what: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= self.limit:
            self.violations.append(Violation(kind, file, row, what))

    def lines(self) -> list[str]:
        out = []
        for kind in sorted(self.counts, key=lambda k: KINDS.index(k) if k in KINDS else len(KINDS)):
            out.extend(str(v) for v in self.violations if v.kind == kind)
            if self.counts[kind] > self.limit:
                out.append(f"{kind}: ... and {self.counts[kind] - self.limit} more")
        return out

    def summary(self) -> str:
        scope = f"{self.manifest_rows} manifest rows, {self.data_rows} data rows in {self.files} files"
        if self.ok:
            return f"manifest check: ok ({scope})"
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.counts.items()))
        return f"manifest check: {sum(self.counts.values())} violations ({kinds}; {scope})"


def fmt(value) -> str:
    return "null" if value is None else repr(value)
