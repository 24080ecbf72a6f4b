"""What the HTML report and its plots show, read from a build's output directory.

report.json gives the funnel, the reasons, the filter table and the languages as the build counted them.
The manifest (kept files) and the dropped table add what report.json does not hold: license types and
detected licenses, the file-size distribution, the top repositories and the largest files. Only a few
columns are read (never ``content``), one record batch at a time, and each batch is reduced to
fixed-size aggregates, so memory does not grow with the dataset; the per-repository counts, the one
aggregate that grows with the number of repositories, are computed in hash-partitioned passes when the
manifest is large (each pass holds one partition's repositories).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from stack_v2 import storage
from stack_v2.errors import StackV2Error
from stack_v2.licenses.classify import NOASSERTION, UNKNOWN_REFERENCE, load_non_license, load_permissive

BATCH_ROWS = 65_536
# Rows of the manifest per repository-counting pass: a pass holds at most this many repositories.
REPOS_PER_PASS = 4_000_000
SIZE_BINS = 36  # bin 0: empty files; bin k >= 1: [2**(k-1), 2**k) bytes; the last bin holds everything larger
NO_LICENSE_STAGE = "(no license stage)"
_LICENSES_DETAIL = re.compile(r"(?:^|;\s*)licenses=([^;]*)")  # the license stage's drop detail
_GHA_DETAIL = re.compile(r"(?:^|;\s*)gha_license_id=([^;]*)")


@dataclass
class Count:
    files: int = 0
    bytes: int = 0

    def add(self, files: int, nbytes: int) -> None:
        self.files += int(files)
        self.bytes += int(nbytes)


@dataclass
class SizeStats:
    """length_bytes of a set of files: histogram over power-of-two bins, and exact count, sum, min, max."""

    bins: np.ndarray = field(default_factory=lambda: np.zeros(SIZE_BINS, dtype=np.int64))
    files: int = 0
    total: int = 0
    smallest: int | None = None
    largest: int | None = None

    def add(self, lengths: np.ndarray) -> None:
        lengths = lengths[lengths >= 0]
        if not len(lengths):
            return
        # frexp(x) = (m, e) with x = m * 2**e, 0.5 <= m < 1: e is x's bit length (exact below 2**53)
        exponents = np.frexp(lengths.astype(np.float64))[1].astype(np.int64)
        exponents[lengths == 0] = 0
        self.bins += np.bincount(np.minimum(exponents, SIZE_BINS - 1), minlength=SIZE_BINS)
        self.files += len(lengths)
        self.total += int(lengths.sum())
        low, high = int(lengths.min()), int(lengths.max())
        self.smallest = low if self.smallest is None else min(self.smallest, low)
        self.largest = high if self.largest is None else max(self.largest, high)

    @staticmethod
    def bin_range(k: int) -> tuple[int, int | None]:
        """[low, high) bytes of bin k (high None: unbounded)."""
        if k == 0:
            return 0, 1
        return 2 ** (k - 1), (2**k if k < SIZE_BINS - 1 else None)

    def median_bin(self) -> int | None:
        if not self.files:
            return None
        return int(np.searchsorted(np.cumsum(self.bins), math.ceil(self.files / 2)))


@dataclass
class DatasetStats:
    dataset: str
    report: dict
    top: int
    shards: dict[str, int]  # manifest / dropped: number of Parquet files read
    license_types: dict[str, Count]  # kept files per license_type, plus the license stage's drops
    detected_licenses: dict[str, Count]  # kept files whose detected_licenses name the license (top N)
    # files dropped as non_permissive, per license that made the decision (top N): see deciding_licenses
    dropped_licenses: dict[str, Count]
    kept_sizes: SizeStats
    dropped_sizes: SizeStats
    repositories: int  # distinct repositories with a kept file
    top_repos_by_files: list[tuple[str, int, int]]  # (repo_name, files, bytes)
    top_repos_by_bytes: list[tuple[str, int, int]]
    largest_files: list[dict]  # repo_name, path, language, length_bytes


def _parquet_files(directory: str) -> list[tuple[pafs.FileSystem, str]]:
    """The Parquet files under ``directory`` (local, s3:// or gs://), as (file system, path) pairs."""
    fs, _ = storage.filesystem(directory)
    return [(fs, path) for path in storage.list_files(directory, ".parquet")]


def _open(file: tuple[pafs.FileSystem, str]) -> pq.ParquetFile:
    fs, path = file
    return pq.ParquetFile(fs.open_input_file(path))


# Columns a manifest may lack, typed so that list operations on them still apply (to nulls).
_MISSING_TYPES = {"detected_licenses": pl.List(pl.String), "length_bytes": pl.Int64}


def _batches(paths: list[tuple[pafs.FileSystem, str]], columns: list[str]):
    for path in paths:
        pf = _open(path)
        present = [c for c in columns if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=present):
            frame = pl.from_arrow(batch)
            missing = [c for c in columns if c not in present]
            if missing:  # an older shard, or a document source's, without the column: nulls of its type
                frame = frame.with_columns(*(pl.lit(None, dtype=_MISSING_TYPES.get(c)).alias(c) for c in missing))
            yield frame


def _rows(paths: list[tuple[pafs.FileSystem, str]]) -> int:
    return sum(_open(p).metadata.num_rows for p in paths)


def _top(counter: dict[str, Count], n: int) -> dict[str, Count]:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1].files, -kv[1].bytes, kv[0]))
    return dict(ranked[:n])


def deciding_licenses(detail: str, permissive: frozenset[str], non_license: frozenset[str]) -> list[str]:
    """The licenses that made the license stage drop a file, from its drop detail, as license_type decides:
    its GHArchive license when set (then nothing detected matters), else the detected licenses that are
    neither permissive nor non-licenses. A permissive license found beside a GPL one decided nothing and is
    not named: drawing it as dropped would say MIT files were removed for being MIT."""
    gha = _GHA_DETAIL.search(detail or "")
    gha_id = gha.group(1).strip() if gha else "None"
    if gha_id not in ("None", NOASSERTION):
        return [f"{gha_id} (GHArchive)"]
    found = _LICENSES_DETAIL.search(detail or "")
    detected = {n.strip() for n in (found.group(1).split(",") if found else [])} - {"", "none detected"}
    others = detected - permissive - non_license
    if detected & permissive:
        others.discard(UNKNOWN_REFERENCE)
    return sorted(others) or ([f"{NOASSERTION} (GHArchive)"] if gha_id == NOASSERTION else [])


def _license_lists(dataset: str) -> tuple[frozenset[str], frozenset[str]]:
    """The permissive and non-license lists the build classified with: its recipe's, else the shipped ones."""
    from stack_v2.recipe import parse_recipe

    params: dict = {}
    for name, read in (
        ("recipe.yaml", lambda text: (text, "recipe.yaml")),
        ("run.json", lambda text: (json.loads(text)["recipe"]["text"], "run.json")),
    ):
        path = storage.join(dataset, name)
        if storage.exists(path):
            try:
                stage = parse_recipe(*read(storage.read_text(path))).stage("license")
            except (StackV2Error, KeyError, ValueError):
                break
            params = stage.params if stage else {}
            break
    return load_permissive(params.get("permissive")), load_non_license(params.get("non_license"))


def load_report(dataset: str) -> dict:
    path = storage.join(dataset, "report.json")
    if not storage.exists(path):
        raise StackV2Error(f"{dataset}: no report.json (not a stack-v2 build output)")
    return json.loads(storage.read_text(path))


def collect(dataset: str, top: int = 15, repos_per_pass: int = REPOS_PER_PASS) -> DatasetStats:
    """Read report.json and aggregate the manifest and the dropped table of ``dataset``."""
    if top < 1:
        raise StackV2Error(f"--top {top}: must be at least 1")
    report = load_report(dataset)
    manifest = _parquet_files(storage.join(dataset, "manifest"))
    dropped = _parquet_files(storage.join(dataset, "dropped"))
    license_types: dict[str, Count] = {}
    detected: dict[str, Count] = {}
    kept_sizes, dropped_sizes = SizeStats(), SizeStats()
    largest = pl.DataFrame(
        schema={"repo_name": pl.String, "path": pl.String, "language": pl.String, "length_bytes": pl.Int64}
    )
    for frame in _batches(
        manifest, ["repo_name", "path", "language", "length_bytes", "license_type", "detected_licenses"]
    ):
        frame = frame.with_columns(pl.col("length_bytes").fill_null(0).cast(pl.Int64))
        kept_sizes.add(frame["length_bytes"].to_numpy())
        kinds = frame.group_by(pl.col("license_type").fill_null(NO_LICENSE_STAGE)).agg(
            pl.len().alias("files"), pl.col("length_bytes").sum().alias("bytes")
        )
        for kind, files, nbytes in kinds.iter_rows():
            license_types.setdefault(kind, Count()).add(files, nbytes)
        names = (
            frame.select("detected_licenses", "length_bytes")
            .explode("detected_licenses")
            .drop_nulls("detected_licenses")
            .group_by("detected_licenses")
            .agg(pl.len().alias("files"), pl.col("length_bytes").sum().alias("bytes"))
        )
        for name, files, nbytes in names.iter_rows():
            detected.setdefault(name, Count()).add(files, nbytes)
        candidates = frame.select("repo_name", "path", "language", "length_bytes").top_k(top, by="length_bytes")
        largest = pl.concat([largest, candidates.cast(largest.schema)]).top_k(top, by="length_bytes")
    dropped_licenses: dict[str, Count] = {}
    permissive, non_license = _license_lists(dataset)
    for frame in _batches(dropped, ["stage", "reason", "detail", "length_bytes"]):
        lengths = frame["length_bytes"].drop_nulls().cast(pl.Int64).to_numpy()
        dropped_sizes.add(lengths)
        named = frame.filter((pl.col("stage") == "license") & (pl.col("reason") == "non_permissive"))
        for detail, nbytes in named.select("detail", pl.col("length_bytes").fill_null(0)).iter_rows():
            for name in deciding_licenses(detail, permissive, non_license):
                dropped_licenses.setdefault(name, Count()).add(1, nbytes)
    for stage in report.get("stages", []):
        if stage["stage"] == "license":
            for reason, c in stage.get("reasons", {}).get("dropped", {}).items():
                license_types.setdefault(reason, Count()).add(c["files"], c["bytes"])
    repositories, by_files, by_bytes = _top_repositories(manifest, top, repos_per_pass)
    largest = largest.sort(["length_bytes", "repo_name", "path"], descending=[True, False, False])
    return DatasetStats(
        dataset=dataset,
        report=report,
        top=top,
        shards={"manifest": len(manifest), "dropped": len(dropped)},
        license_types=dict(sorted(license_types.items(), key=lambda kv: (-kv[1].files, kv[0]))),
        detected_licenses=_top(detected, top),
        dropped_licenses=_top(dropped_licenses, top),
        kept_sizes=kept_sizes,
        dropped_sizes=dropped_sizes,
        repositories=repositories,
        top_repos_by_files=by_files,
        top_repos_by_bytes=by_bytes,
        largest_files=largest.to_dicts(),
    )


def _top_repositories(manifest: list[tuple[pafs.FileSystem, str]], top: int, repos_per_pass: int):
    """Distinct repositories, and the top ``top`` by files and by bytes, exact, in as many passes over the
    manifest's repo_name and length_bytes columns as it takes to hold at most ``repos_per_pass`` repositories."""
    passes = max(1, math.ceil(_rows(manifest) / repos_per_pass))
    repositories = 0
    best_files: list[tuple[str, int, int]] = []
    best_bytes: list[tuple[str, int, int]] = []
    for part in range(passes):
        acc = pl.DataFrame(schema={"repo_name": pl.String, "files": pl.Int64, "bytes": pl.Int64})
        pending, pending_rows = [], 0
        for frame in _batches(manifest, ["repo_name", "length_bytes"]):
            frame = frame.with_columns(pl.col("repo_name").cast(pl.String).fill_null(""))
            if passes > 1:
                frame = frame.filter(pl.col("repo_name").hash(seed=0) % passes == part)
            counts = frame.group_by("repo_name").agg(
                pl.len().cast(pl.Int64).alias("files"),
                pl.col("length_bytes").fill_null(0).sum().cast(pl.Int64).alias("bytes"),
            )
            pending.append(counts)
            pending_rows += counts.height
            if pending_rows > max(1_000_000, acc.height):  # merge now and then, not per batch
                acc, pending, pending_rows = _merge_counts(acc, pending), [], 0
        acc = _merge_counts(acc, pending)
        repositories += acc.height
        best_files = _best(best_files, acc, ("files", "bytes"), top)
        best_bytes = _best(best_bytes, acc, ("bytes", "files"), top)
    return repositories, best_files, best_bytes


def _best(best: list, acc: pl.DataFrame, order: tuple[str, str], top: int) -> list[tuple[str, int, int]]:
    """The ``top`` rows of ``best`` and ``acc`` by ``order`` (descending), ties by repo_name."""
    head = acc.sort([*order, "repo_name"], descending=[True, True, False]).head(top).rows(named=True)
    rows = [dict(zip(("repo_name", "files", "bytes"), r)) for r in best] + head
    rows.sort(key=lambda r: (-r[order[0]], -r[order[1]], r["repo_name"]))
    return [(r["repo_name"], r["files"], r["bytes"]) for r in rows[:top]]


def _merge_counts(acc: pl.DataFrame, pending: list[pl.DataFrame]) -> pl.DataFrame:
    if not pending:
        return acc
    return pl.concat([acc, *pending]).group_by("repo_name").agg(pl.col("files").sum(), pl.col("bytes").sum())


def top_languages(languages: dict, top: int) -> list[tuple[str, int, int]]:
    """(language, files, bytes) of the ``top`` largest languages by bytes, then one "other" row for the rest."""
    ranked = sorted(
        ((name, c["files"], c["bytes"]) for name, c in languages.items()), key=lambda r: (-r[2], -r[1], r[0])
    )
    head, tail = ranked[:top], ranked[top:]
    if tail:
        head.append((f"other ({len(tail)} languages)", sum(r[1] for r in tail), sum(r[2] for r in tail)))
    return head
