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

This module runs the checks over a dataset (``check``) and is the command line; the checks themselves are in
``manifest_tables`` (over whole tables) and ``manifest_swhid`` (each manifest row's SWHID), what they report
in ``manifest_result``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence

import polars as pl

from stack_v2.errors import StackV2Error
from stack_v2.io.schema import DATA_SCHEMA, FILE_SCHEMA, MANIFEST_SCHEMA
from stack_v2.manifest_result import DEFAULT_LIMIT, CheckResult
from stack_v2.manifest_swhid import check_swhids
from stack_v2.manifest_tables import (
    KEY,
    check_duplicates,
    check_ids,
    check_language_dirs,
    check_optouts,
    cross_check,
    list_shards,
    read_shard,
)
from stack_v2.optout import OptOutMatcher, OptOutRequest, load_requests

# Columns read from the shards: every file-level column (never ``content``), plus ``swhid`` in the manifest.
_COMPARED = tuple(FILE_SCHEMA.names)

# a JSON-lines file, several, the requests themselves, or a matcher
Optouts = None | str | os.PathLike | OptOutMatcher | Iterable[OptOutRequest] | Iterable[str | os.PathLike]


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
    manifest_files, data_files = list_shards(dataset_dir, result)
    result.files = len(manifest_files) + len(data_files)

    # A column missing from some shard is a schema violation; it is left out of the column comparison.
    common = set(_COMPARED) - set(KEY)
    frames = [read_shard(result, dataset_dir, rel, MANIFEST_SCHEMA, (*_COMPARED, "swhid")) for rel in manifest_files]
    frames = [f for f in frames if f is not None]
    common = common.intersection(*(f.columns for f in frames))
    manifest = pl.concat(frames, how="diagonal_relaxed") if frames else None
    frames = [read_shard(result, dataset_dir, rel, DATA_SCHEMA, _COMPARED) for rel in data_files]
    frames = [f for f in frames if f is not None]
    common = common.intersection(*(f.columns for f in frames))
    data = pl.concat(frames, how="diagonal_relaxed") if frames else None
    del frames

    if manifest is None:
        manifest = pl.DataFrame(schema={**{k: pl.String for k in KEY}, "_file": pl.String, "_row": pl.Int64})
    if data is None:
        data = pl.DataFrame(schema={**{k: pl.String for k in KEY}, "_file": pl.String, "_row": pl.Int64})
    result.manifest_rows, result.data_rows = manifest.height, data.height

    check_ids(result, manifest)
    check_ids(result, data)
    manifest = check_swhids(result, manifest, exhaustive=exhaustive)
    check_duplicates(result, manifest, "the manifest")
    check_duplicates(result, data, "data/")
    data = cross_check(result, manifest, data, [c for c in _COMPARED if c in common])
    check_language_dirs(result, data)
    if matcher is not None:
        check_optouts(result, matcher, manifest)
        check_optouts(result, matcher, data)
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
