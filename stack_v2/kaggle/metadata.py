"""Meta Kaggle's tables, as much of them as a notebook's document needs: its script, language and datasets.

Meta Kaggle publishes its tables as CSV files with a header row. The columns relied on here (the others
are ignored, so a table with more columns reads the same):

- ``KernelVersions.csv``: ``Id`` (the notebook's id in Meta Kaggle Code), ``ScriptId`` (the kernel, i.e.
  the notebook all its versions belong to; ``Kernels.Id``), ``ScriptLanguageId`` (optional here);
- ``KernelLanguages.csv``: ``Id``, ``Name`` (``Python``, ``R``, ...; optional table);
- ``KernelVersionDatasetSources.csv``: ``KernelVersionId``, ``SourceDatasetVersionId`` (one row per
  dataset version a kernel version read);
- ``DatasetVersions.csv``: ``Id``, ``DatasetId``, ``Title``, ``Subtitle``, ``Description`` (Markdown).

``SourceDatasetVersionId`` is read as a ``DatasetVersions.Id``. ``Datasets.csv`` is not needed:
``DatasetVersions`` already carries the ``DatasetId`` and the text (title, subtitle, description) of the
version the notebook used, which is the text to show with it. Ids may be written as floats (``123.0``)
by tools that went through pandas; both forms read as the integer.

The row readers are what a pipeline joins with; ``index_tables`` joins small tables in memory (tests,
local runs): KernelVersions has tens of millions of rows, which a distributed join should handle.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

KERNEL_VERSIONS, KERNEL_LANGUAGES = "KernelVersions", "KernelLanguages"
DATASET_SOURCES, DATASET_VERSIONS = "KernelVersionDatasetSources", "DatasetVersions"
REQUIRED_COLUMNS = {
    KERNEL_VERSIONS: ("Id", "ScriptId"),
    KERNEL_LANGUAGES: ("Id", "Name"),
    DATASET_SOURCES: ("KernelVersionId", "SourceDatasetVersionId"),
    DATASET_VERSIONS: ("Id", "DatasetId", "Title", "Subtitle", "Description"),
}


class KernelVersion(NamedTuple):
    id: int
    script_id: int | None
    language: str | None  # KernelLanguages.Name of ScriptLanguageId, when known


class DatasetVersion(NamedTuple):
    id: int
    dataset_id: int | None
    title: str
    subtitle: str
    description: str


class KernelMetadata(NamedTuple):
    """What the tables say about one kernel version (all empty when they do not list it)."""

    kernel: KernelVersion | None = None
    dataset_version_ids: tuple[int, ...] = ()  # every linked version, found in DatasetVersions or not
    datasets: tuple[DatasetVersion, ...] = ()  # the linked versions DatasetVersions has, by id


def read_rows(lines: Iterable[str], table: str) -> Iterator[dict[str, str]]:
    """The rows of one table's CSV text (lines as from ``open(..., newline="")``); ValueError naming the
    table and the columns when the header lacks a required one."""
    reader = csv.DictReader(lines)
    missing = [c for c in REQUIRED_COLUMNS[table] if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"{table}.csv has no column {', '.join(missing)}")
    yield from reader


def parse_id(value: str | None) -> int | None:
    """An id cell as an integer; None when empty or not a whole number."""
    text = (value or "").strip()
    if text.endswith(".0"):  # written by pandas for an integer column with missing values
        text = text[:-2]
    return int(text) if text.isdigit() else None


def kernel_version(row: Mapping[str, str], languages: Mapping[int, str] | None = None) -> KernelVersion | None:
    """A KernelVersions row; None when its Id is not an id."""
    version_id = parse_id(row.get("Id"))
    if version_id is None:
        return None
    language_id = parse_id(row.get("ScriptLanguageId"))
    language = (languages or {}).get(language_id) if language_id is not None else None
    return KernelVersion(version_id, parse_id(row.get("ScriptId")), language)


def dataset_version(row: Mapping[str, str]) -> DatasetVersion | None:
    """A DatasetVersions row; None when its Id is not an id."""
    version_id = parse_id(row.get("Id"))
    if version_id is None:
        return None
    text = {key: (row.get(key) or "").strip() for key in ("Title", "Subtitle", "Description")}
    return DatasetVersion(
        version_id, parse_id(row.get("DatasetId")), text["Title"], text["Subtitle"], text["Description"]
    )


def dataset_source(row: Mapping[str, str]) -> tuple[int, int] | None:
    """A KernelVersionDatasetSources row as (kernel version id, dataset version id); None when either is not an id."""
    kernel, dataset = parse_id(row.get("KernelVersionId")), parse_id(row.get("SourceDatasetVersionId"))
    return None if kernel is None or dataset is None else (kernel, dataset)


def kernel_metadata(
    kernel: KernelVersion | None, dataset_version_ids: Iterable[int], found: Mapping[int, DatasetVersion]
) -> KernelMetadata:
    """One kernel version's metadata from its joined rows. A dataset linked through several of its versions
    shows once, with its latest linked version (the highest id)."""
    ids = tuple(sorted(set(dataset_version_ids)))
    latest: dict[int | None, DatasetVersion] = {}
    for version_id in ids:
        version = found.get(version_id)
        if version is not None:
            key = version.dataset_id if version.dataset_id is not None else -version.id  # unknown dataset: its own
            latest[key] = version
    return KernelMetadata(kernel, ids, tuple(sorted(latest.values(), key=lambda v: v.id)))


class KaggleIndex(NamedTuple):
    kernels: dict[int, KernelVersion]
    sources: dict[int, list[int]]
    dataset_versions: dict[int, DatasetVersion]

    def lookup(self, version_id: int) -> KernelMetadata:
        return kernel_metadata(self.kernels.get(version_id), self.sources.get(version_id, ()), self.dataset_versions)


def index_tables(
    kernel_versions: Iterable[Mapping[str, str]],
    dataset_sources: Iterable[Mapping[str, str]] = (),
    dataset_versions: Iterable[Mapping[str, str]] = (),
    kernel_languages: Iterable[Mapping[str, str]] = (),
) -> KaggleIndex:
    """The tables' rows joined in memory, by kernel version id; rows without a readable id are skipped."""
    languages = {
        i: (row.get("Name") or "").strip() for row in kernel_languages if (i := parse_id(row.get("Id"))) is not None
    }
    kernels = {k.id: k for row in kernel_versions if (k := kernel_version(row, languages)) is not None}
    sources: dict[int, list[int]] = {}
    for row in dataset_sources:
        pair = dataset_source(row)
        if pair is not None:
            sources.setdefault(pair[0], []).append(pair[1])
    versions = {v.id: v for row in dataset_versions if (v := dataset_version(row)) is not None}
    return KaggleIndex(kernels, sources, versions)
