"""An independent verifier of a built dataset (``stack-v2 manifest check --dataset DIR [--optouts FILE]``).

It reads the outputs as files, not the pipeline's code paths, and reports every way they disagree with the
promised layout (README: ``data/<language>/train-*.parquet``, ``manifest/part-*.parquet`` with ``swhid``):

- ``schema``: a shard's columns or Arrow types differ from the data or manifest schema; a file is unreadable
  or misplaced; ``manifest/`` is missing.
- ``ids``: ``blob_id``, ``content_id``, ``directory_id`` not 40 lower-case hex digits, ``revision_id`` and
  ``snapshot_id`` neither null nor 40 hex digits.
- ``swhid``: a manifest row's ``swhid`` does not parse with swh.model, or disagrees with its row: the core id
  must be ``swh:1:cnt:<content_id>``; ``origin`` must be present and give the row's ``repo_name`` (by
  ``records.repo_name_from_origin``, the manifest keeping no origin column); ``visit`` must be
  ``swh:1:snp:<snapshot_id>`` (absent when snapshot_id is null); ``anchor`` ``swh:1:rev:<revision_id>``, or
  ``swh:1:dir:<directory_id>`` when there is no revision; ``path`` ``/<path>`` as raw bytes (``\\xNN`` escapes
  of non-UTF-8 names turned back into bytes, as ``io.rows.path_bytes``); no ``lines`` qualifier.
- ``duplicate_blob_id``: a blob_id on more than one row of the manifest, or of data/ (one line per blob).
- ``data_not_in_manifest`` / ``manifest_not_in_data``: rows keyed by (blob_id, repo_name, path).
- ``mismatch``: a data row and its manifest row disagree on another column.
- ``language_dir``: a data row whose ``language`` does not belong in its ``data/<language>/`` directory.
- ``opted_out``: a row of a repository that an opt-out request covers (manifest rows by their SWHID's origin
  and repo_name, data rows by their manifest row's origin, else their repo_name).

Each violation is one line, ``<kind>: <file> row <n>: <what>`` (rows count from 0 within the file); at most
``limit`` lines per kind are listed, then ``<kind>: ... and N more``. Content columns are never read: memory
goes with the number of rows times the metadata columns.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from swh.model.swhids import ObjectType

from stack_v2.errors import StackV2Error
from stack_v2.io.rows import path_bytes
from stack_v2.io.schema import DATA_SCHEMA, FILE_SCHEMA, MANIFEST_SCHEMA
from stack_v2.optout import OptOutMatcher, OptOutRequest, load_requests
from stack_v2.records import repo_name_from_origin
from stack_v2.swhids import parse_swhid, render_file_swhid

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
KEY = ("blob_id", "repo_name", "path")
_NULL = "\x00<null>"  # stands for null in join keys (null never equals null in a join)
_HEX40 = r"^[0-9a-f]{40}$"
_REQUIRED_IDS = ("blob_id", "content_id", "directory_id")
_OPTIONAL_IDS = ("revision_id", "snapshot_id")
_SWHID_COLUMNS = ("content_id", "directory_id", "revision_id", "snapshot_id", "repo_name", "path", "swhid")
# Columns read from the shards: every file-level column (never ``content``), plus ``swhid`` in the manifest.
_COMPARED = tuple(FILE_SCHEMA.names)

# The fast path (see _check_swhids): ids of 40 hex digits, and an origin guessed from the text, of plain URL
# characters (nothing swh.model escapes, no whitespace), so that the guess is what swh.model would parse when
# the text equals the rendering of the row with it.
_HEX40_RE = re.compile(r"[0-9a-f]{40}")
_PLAIN_ORIGIN = re.compile(r"[A-Za-z0-9:/._~+@-]+")
_ORIGIN_QUALIFIER = re.compile(r";origin=([^;]*)")

# a JSON-lines file, several, the requests themselves, or a matcher
Optouts = None | str | os.PathLike | OptOutMatcher | Iterable[OptOutRequest] | Iterable[str | os.PathLike]


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


def _matcher(optouts: Optouts) -> OptOutMatcher | None:
    if optouts is None:
        return None
    if isinstance(optouts, OptOutMatcher):
        return optouts
    if isinstance(optouts, (str, os.PathLike)):
        return OptOutMatcher(load_requests(optouts))
    items = list(optouts)
    if all(isinstance(item, (str, os.PathLike)) for item in items):  # several files (every one validated first)
        return OptOutMatcher([request for path in items for request in load_requests(path)])
    return OptOutMatcher(items)


def _fmt(value) -> str:
    return "null" if value is None else repr(value)


def _read_shard(result: CheckResult, dataset_dir: str, rel: str, expected: pa.Schema, columns: Sequence[str]):
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


def _check_ids(result: CheckResult, frame: pl.DataFrame) -> None:
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
            result.add("ids", file, row, f"{name} {_fmt(value)} is not 40 lower-case hex digits")


def canonical_swhid(
    content_id: str, origin: str, snapshot_id: str | None, revision_id: str | None, directory_id: str, path: str
) -> str:
    """The SWHID a manifest row should carry (the build's renderer, ``stack_v2.swhids.render_file_swhid``)."""
    return render_file_swhid(content_id, origin, snapshot_id, revision_id, directory_id, b"/" + path_bytes(path))


def _fast_swhid_row(row: dict) -> tuple[bool, str | None]:
    """(True, origin) when the row's SWHID is exactly the canonical one built from its columns and an origin
    of plain characters: then it parses with swh.model and agrees with every column (by construction), and
    only the origin-to-repo_name check remains. (False, None) sends the row to swh.model's parser."""
    text = row.get("swhid")
    m = _ORIGIN_QUALIFIER.search(text) if text else None
    if m is None or not _PLAIN_ORIGIN.fullmatch(m.group(1)) or row.get("path") is None:
        return False, None
    ids = [row.get("content_id"), row.get("revision_id") or row.get("directory_id")]
    if row.get("snapshot_id") is not None:
        ids.append(row["snapshot_id"])
    if not all(isinstance(i, str) and _HEX40_RE.fullmatch(i) for i in ids):
        return False, None
    origin = m.group(1)
    expected = canonical_swhid(
        row["content_id"], origin, row.get("snapshot_id"), row.get("revision_id"), row.get("directory_id"), row["path"]
    )
    return (True, origin) if text == expected else (False, None)


def _origin_problems(origin: str, row: dict) -> list[str]:
    """The origin qualifier must give the row's repo_name (the manifest keeps no origin column)."""
    if "repo_name" not in row or repo_name_from_origin(origin) == row["repo_name"]:
        return []
    derived = _fmt(repo_name_from_origin(origin))
    return [f"swhid origin {origin} gives repo_name {derived}, the row has {_fmt(row['repo_name'])}"]


def _check_swhid_row(row: dict, exhaustive: bool = False) -> tuple[str | None, list[str]]:
    """(origin from the SWHID or None, problems) for one manifest row (with swh.model's parser when
    ``exhaustive`` or when the row is not in canonical form)."""
    text = row.get("swhid")
    if text is None:
        return None, ["swhid is null"]
    if not exhaustive and {"snapshot_id", "revision_id", "directory_id"} <= row.keys():
        fast, origin = _fast_swhid_row(row)
        if fast:
            return origin, _origin_problems(origin, row)
    try:
        q = parse_swhid(text)
    except Exception as exc:  # noqa: BLE001 - swh.model raises ValidationError and others
        return None, [f"swhid {text!r} does not parse: {exc}"]
    problems = []
    content_id = row.get("content_id")
    core = f"swh:1:{q.object_type.value}:{q.object_id.hex()}"
    if q.object_type != ObjectType.CONTENT or q.object_id.hex() != content_id:
        problems.append(f"swhid core id is {core}, the content_id column gives swh:1:cnt:{content_id}")
    if q.origin is None:
        problems.append("swhid has no origin qualifier")
    else:
        problems.extend(_origin_problems(q.origin, row))
    if "snapshot_id" in row:
        snapshot = row["snapshot_id"]
        expected_visit = f"swh:1:snp:{snapshot}" if snapshot else None
        visit = str(q.visit) if q.visit else None
        if visit != expected_visit:
            problems.append(f"swhid visit is {_fmt(visit)}, snapshot_id gives {_fmt(expected_visit)}")
    if "revision_id" in row and "directory_id" in row:
        if row["revision_id"]:
            expected_anchor = f"swh:1:rev:{row['revision_id']}"
        else:
            expected_anchor = f"swh:1:dir:{row['directory_id']}"
        anchor = str(q.anchor) if q.anchor else None
        if anchor != expected_anchor:
            problems.append(f"swhid anchor is {_fmt(anchor)}, revision_id/directory_id give {expected_anchor}")
    path = row.get("path")
    if path is not None:
        expected_path = b"/" + path_bytes(path)
        if q.path != expected_path:
            problems.append(f"swhid path qualifier is {_fmt(q.path)}, the path column gives {expected_path!r}")
    if q.lines is not None:
        problems.append("swhid has a lines qualifier (a file-level manifest has none)")
    return q.origin, problems


def _check_swhids(result: CheckResult, frame: pl.DataFrame, exhaustive: bool = False) -> pl.DataFrame:
    """Checks each row's SWHID; returns the frame with an ``_origin`` column (the SWHID's origin).

    swh.model's parser costs about 0.15 ms a row; rows whose SWHID is exactly the canonical form of their
    columns skip it (same verdict, about 30 times faster). The first row of every shard, and every row when
    ``exhaustive``, goes through swh.model all the same."""
    if "swhid" not in frame.columns:  # already a schema violation
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias("_origin"))
    names = [c for c in _SWHID_COLUMNS if c in frame.columns]
    origins = []
    for values in frame.select("_file", "_row", *names).iter_rows():
        file, row_index, row = values[0], values[1], dict(zip(names, values[2:]))
        origin, problems = _check_swhid_row(row, exhaustive=exhaustive or row_index == 0)
        origins.append(origin)
        for what in problems:
            result.add("swhid", file, row_index, what)
    return frame.with_columns(pl.Series("_origin", origins, dtype=pl.String))


def _check_duplicates(result: CheckResult, frame: pl.DataFrame, table: str) -> None:
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


def _cross_check(
    result: CheckResult, manifest: pl.DataFrame, data: pl.DataFrame, compared: Sequence[str]
) -> pl.DataFrame:
    """data vs manifest both ways, and column by column (``compared``, the columns every shard has);
    returns data with ``_origin`` from its manifest row."""
    keys = [f"_k_{k}" for k in KEY]
    m, d = _keyed(manifest), _keyed(data)

    def key_text(row_values) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in zip(KEY, row_values))

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
            result.add("mismatch", file, row, f"{c} is {_fmt(value)}, {m_file} row {m_row} has {_fmt(m_value)}")
    return joined.select(*[c for c in data.columns], "_origin")


def _check_language_dirs(result: CheckResult, data: pl.DataFrame) -> None:
    if "language" not in data.columns:
        return
    expected_dir = pl.col("language").str.replace_all("/", "_", literal=True)
    actual_dir = pl.col("_file").str.split("/").list.get(1)
    bad = data.filter(expected_dir.is_null() | expected_dir.ne(actual_dir))
    for file, row, language in bad.select("_file", "_row", "language").iter_rows():
        result.add("language_dir", file, row, f"language {_fmt(language)} does not belong in {os.path.dirname(file)}/")


def _check_optouts(result: CheckResult, matcher: OptOutMatcher, frame: pl.DataFrame) -> None:
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


def _shards(dataset_dir: str, result: CheckResult) -> tuple[list[str], list[str]]:
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


def check(
    dataset_dir: str | os.PathLike, optouts: Optouts = None, limit: int = DEFAULT_LIMIT, exhaustive: bool = False
) -> CheckResult:
    """Verify a dataset directory; the result lists violations (``.lines()``) and counts them per kind.

    ``optouts``: a JSON-lines file of opt-out requests (or a list of files), the requests, or a matcher.
    ``exhaustive``: parse every SWHID with swh.model (by default rows already in canonical form skip the parser).
    Raises StackV2Error when the directory does not exist or the opt-out file is malformed (before reading the
    dataset).
    """
    dataset_dir = os.fspath(dataset_dir)
    matcher = _matcher(optouts)
    if not os.path.isdir(dataset_dir):
        raise StackV2Error(f"{dataset_dir}: no such dataset directory")
    result = CheckResult(dataset_dir=dataset_dir, limit=limit)
    manifest_files, data_files = _shards(dataset_dir, result)
    result.files = len(manifest_files) + len(data_files)

    # A column missing from some shard is a schema violation; it is left out of the column comparison.
    common = set(_COMPARED) - set(KEY)
    frames = [_read_shard(result, dataset_dir, rel, MANIFEST_SCHEMA, (*_COMPARED, "swhid")) for rel in manifest_files]
    frames = [f for f in frames if f is not None]
    common = common.intersection(*(f.columns for f in frames))
    manifest = pl.concat(frames, how="diagonal_relaxed") if frames else None
    frames = [_read_shard(result, dataset_dir, rel, DATA_SCHEMA, _COMPARED) for rel in data_files]
    frames = [f for f in frames if f is not None]
    common = common.intersection(*(f.columns for f in frames))
    data = pl.concat(frames, how="diagonal_relaxed") if frames else None
    del frames

    if manifest is None:
        manifest = pl.DataFrame(schema={**{k: pl.String for k in KEY}, "_file": pl.String, "_row": pl.Int64})
    if data is None:
        data = pl.DataFrame(schema={**{k: pl.String for k in KEY}, "_file": pl.String, "_row": pl.Int64})
    result.manifest_rows, result.data_rows = manifest.height, data.height

    _check_ids(result, manifest)
    _check_ids(result, data)
    manifest = _check_swhids(result, manifest, exhaustive=exhaustive)
    _check_duplicates(result, manifest, "the manifest")
    _check_duplicates(result, data, "data/")
    data = _cross_check(result, manifest, data, [c for c in _COMPARED if c in common])
    _check_language_dirs(result, data)
    if matcher is not None:
        _check_optouts(result, matcher, manifest)
        _check_optouts(result, matcher, data)
    return result


def check_dataset(
    dataset_dir: str | os.PathLike, optouts: Optouts = None, limit: int = DEFAULT_LIMIT, exhaustive: bool = False
) -> list[str]:
    """The violations of a dataset directory, one line each (empty when it passes); see ``check``."""
    return check(dataset_dir, optouts=optouts, limit=limit, exhaustive=exhaustive).lines()


# --- command line: `stack-v2 manifest check` (cli.py wires ``add_arguments`` and ``run``) -----------------------


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--dataset", required=True, help="a dataset directory written by stack-v2 build")
    parser.add_argument(
        "--optouts",
        action="append",
        help="opt-out requests (JSON lines, manifests/OPTOUT_FORMAT.md): report any row of a "
        "repository they cover (repeatable)",
    )
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="violations listed per kind (default 50)")
    parser.add_argument(
        "--exhaustive",
        action="store_true",
        help="parse every SWHID with swh.model (slower; by default canonical ones skip it)",
    )
    return parser


def run(args: argparse.Namespace, out=None, err=None) -> int:
    """Print violations to ``out`` (stdout) and a summary to ``err`` (stderr); 0 when none, 1 otherwise."""
    out = out or sys.stdout
    err = err or sys.stderr
    result = check(args.dataset, optouts=args.optouts, limit=args.limit, exhaustive=getattr(args, "exhaustive", False))
    for line in result.lines():
        print(line, file=out)
    print(result.summary(), file=err)
    return 0 if result.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stack_v2.manifest_check --dataset DIR [--optouts FILE]``; exit 2 on bad input."""
    parser = add_arguments(argparse.ArgumentParser(prog="stack-v2 manifest check", description=__doc__.split("\n")[0]))
    args = parser.parse_args(argv)
    try:
        return run(args)
    except StackV2Error as exc:
        print(f"stack-v2 manifest check: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
