"""The table-level checks of ``stack-v2 manifest check``: finding and reading the shards (schema), then ids,
duplicate blob ids, data against manifest, language directories and opt-outs over the rows of all shards."""

from __future__ import annotations

import os
from collections.abc import Sequence

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from stack_v2.manifest_result import CheckResult, fmt
from stack_v2.optout import OptOutMatcher

KEY = ("blob_id", "repo_name", "path")
_NULL = "\x00<null>"  # stands for null in join keys (null never equals null in a join)
_HEX40 = r"^[0-9a-f]{40}$"
_REQUIRED_IDS = ("blob_id", "content_id", "directory_id")
_OPTIONAL_IDS = ("revision_id", "snapshot_id")


def read_shard(result: CheckResult, dataset_dir: str, rel: str, expected: pa.Schema, columns: Sequence[str]):
    """The shard's ``columns`` (those present) as a polars frame with ``_file`` and ``_row``; None if unusable."""
    path = os.path.join(dataset_dir, rel)
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a violation, not a crash
        result.add("schema", rel, None, f"not a readable Parquet file: {exc}")
        return None
    have = {f.name: f.type for f in schema}
    missing = [f.name for f in expected if f.name not in have]
    extra = [name for name in have if name not in expected.names]
    wrong = [
        f"{f.name} is {have[f.name]}, expected {f.type}" for f in expected if f.name in have and have[f.name] != f.type
    ]
    problems = (
        ([f"missing columns {', '.join(missing)}"] if missing else [])
        + ([f"unexpected columns {', '.join(extra)}"] if extra else [])
        + wrong
    )
    if problems:
        result.add("schema", rel, None, "; ".join(problems))
    needed = [c for c in columns if c in have]
    if any(c not in have for c in KEY):
        return None  # without the key nothing else can be checked
    try:
        table = pq.read_table(path, columns=needed)
    except Exception as exc:  # noqa: BLE001
        result.add("schema", rel, None, f"unreadable: {exc}")
        return None
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):  # a single column comes back as a Series in some versions
        frame = frame.to_frame()
    return frame.with_columns(pl.lit(rel).alias("_file"), pl.int_range(0, pl.len(), dtype=pl.Int64).alias("_row"))


def check_ids(result: CheckResult, frame: pl.DataFrame) -> None:
    for name in _REQUIRED_IDS + _OPTIONAL_IDS:
        if name not in frame.columns:
            continue
        col = pl.col(name)
        bad = (
            col.is_null() | ~col.str.contains(_HEX40)
            if name in _REQUIRED_IDS
            else col.is_not_null() & ~col.str.contains(_HEX40)
        )
        for file, row, value in frame.filter(bad).select("_file", "_row", name).iter_rows():
            result.add("ids", file, row, f"{name} {fmt(value)} is not 40 lower-case hex digits")


def check_duplicates(result: CheckResult, frame: pl.DataFrame, table: str) -> None:
    dup = frame.filter(pl.col("blob_id").is_not_null() & pl.col("blob_id").is_duplicated())
    if dup.is_empty():
        return
    groups = (
        dup.sort("_file", "_row")
        .group_by("blob_id", maintain_order=True)
        .agg(pl.col("_file"), pl.col("_row"), pl.len().alias("n"))
    )
    for blob_id, files, rows, n in groups.iter_rows():
        others = ", ".join(f"{f} row {r}" for f, r in list(zip(files, rows))[1:6]) + (" ..." if n > 6 else "")
        result.add(
            "duplicate_blob_id", files[0], rows[0], f"blob_id {blob_id} is on {n} rows of {table} (also {others})"
        )


def _keyed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(k).fill_null(_NULL).alias(f"_k_{k}") for k in KEY)


def cross_check(
    result: CheckResult, manifest: pl.DataFrame, data: pl.DataFrame, compared: Sequence[str]
) -> pl.DataFrame:
    """data vs manifest both ways, and column by column (``compared``, the columns every shard has);
    returns data with ``_origin`` from its manifest row."""
    keys = [f"_k_{k}" for k in KEY]
    m, d = _keyed(manifest), _keyed(data)

    def key_text(row_values) -> str:
        return ", ".join(f"{k}={fmt(v)}" for k, v in zip(KEY, row_values))

    for file, row, *key in (
        d.join(m.select(keys), on=keys, how="anti").sort("_file", "_row").select("_file", "_row", *KEY).iter_rows()
    ):
        result.add("data_not_in_manifest", file, row, f"no manifest row has {key_text(key)}")
    for file, row, *key in (
        m.join(d.select(keys), on=keys, how="anti").sort("_file", "_row").select("_file", "_row", *KEY).iter_rows()
    ):
        result.add("manifest_not_in_data", file, row, f"no data row has {key_text(key)}")

    compared = [c for c in compared if c in m.columns and c in d.columns]
    m_first = m.sort("_file", "_row").unique(subset=keys, keep="first", maintain_order=True)
    m_side = m_first.select(
        *keys,
        pl.col("_file").alias("_m_file"),
        pl.col("_row").alias("_m_row"),
        pl.col("_origin"),
        *(pl.col(c).alias(f"_m_{c}") for c in compared),
    )
    joined = d.join(m_side, on=keys, how="left").sort("_file", "_row")
    for c in compared:
        try:
            differs = pl.col(c).ne_missing(pl.col(f"_m_{c}"))
            bad = joined.filter(pl.col("_m_file").is_not_null() & differs)
        except Exception:  # noqa: BLE001 - a column whose types differ (already a schema violation)
            continue
        for file, row, value, m_file, m_row, m_value in bad.select(
            "_file", "_row", c, "_m_file", "_m_row", f"_m_{c}"
        ).iter_rows():
            result.add("mismatch", file, row, f"{c} is {fmt(value)}, {m_file} row {m_row} has {fmt(m_value)}")
    return joined.select(*[c for c in data.columns], "_origin")


def check_language_dirs(result: CheckResult, data: pl.DataFrame) -> None:
    if "language" not in data.columns:
        return
    expected_dir = pl.col("language").str.replace_all("/", "_", literal=True)
    actual_dir = pl.col("_file").str.split("/").list.get(1)
    bad = data.filter(expected_dir.is_null() | expected_dir.ne(actual_dir))
    for file, row, language in bad.select("_file", "_row", "language").iter_rows():
        result.add("language_dir", file, row, f"language {fmt(language)} does not belong in {os.path.dirname(file)}/")


def check_optouts(result: CheckResult, matcher: OptOutMatcher, frame: pl.DataFrame) -> None:
    if not len(matcher) or frame.is_empty():
        return
    pairs = frame.select("repo_name", "_origin").unique()
    verdicts = {}
    for repo_name, origin in pairs.iter_rows():
        req = matcher.matches(repo_name, origin)
        if req is not None:
            verdicts[(repo_name, origin)] = req
    if not verdicts:
        return
    names = {name for name, _ in verdicts}
    wanted = pl.col("repo_name").is_in(sorted(n for n in names if n is not None))
    if None in names:
        wanted = wanted | pl.col("repo_name").is_null()
    hits = frame.filter(wanted).sort("_file", "_row")
    for file, row, repo_name, origin in hits.select("_file", "_row", "repo_name", "_origin").iter_rows():
        req = verdicts.get((repo_name, origin))
        if req is None:
            continue
        via = f" (origin {origin})" if origin else ""
        result.add("opted_out", file, row, f"repository {repo_name}{via} is opted out by {req.describe()}")


def list_shards(dataset_dir: str, result: CheckResult) -> tuple[list[str], list[str]]:
    manifest_dir = os.path.join(dataset_dir, "manifest")
    manifest = []
    if not os.path.isdir(manifest_dir):
        result.add("schema", "manifest/", None, "missing (expected manifest/part-NNNNN-of-MMMMM.parquet)")
    else:
        manifest = sorted(f"manifest/{n}" for n in os.listdir(manifest_dir) if n.endswith(".parquet"))
        if not manifest:
            result.add("schema", "manifest/", None, "holds no .parquet shard")
    data = []
    data_dir = os.path.join(dataset_dir, "data")
    if os.path.isdir(data_dir):
        for root, _dirs, names in os.walk(data_dir):
            for name in names:
                if not name.endswith(".parquet"):
                    continue
                rel = os.path.relpath(os.path.join(root, name), dataset_dir).replace(os.sep, "/")
                if rel.count("/") != 2:
                    result.add("schema", rel, None, "misplaced: data shards live in data/<language>/")
                else:
                    data.append(rel)
    return manifest, sorted(data)
