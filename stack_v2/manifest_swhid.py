"""Does a manifest row's SWHID agree with its columns: the canonical SWHID of a row, the fast path for rows
already in that form, and swh.model's parser for the others (see ``manifest_check`` for what is checked)."""

from __future__ import annotations

import re

import polars as pl
from swh.model.swhids import ObjectType

from stack_v2.io.rows import path_bytes
from stack_v2.manifest_result import CheckResult, fmt
from stack_v2.records import repo_name_from_origin
from stack_v2.swhids import parse_swhid, render_file_swhid

_SWHID_COLUMNS = ("content_id", "directory_id", "revision_id", "snapshot_id", "repo_name", "path", "swhid")

# The fast path (see check_swhids): ids of 40 hex digits, and an origin guessed from the text, of plain URL
# characters (nothing swh.model escapes, no whitespace), so that the guess is what swh.model would parse when
# the text equals the rendering of the row with it.
_HEX40_RE = re.compile(r"[0-9a-f]{40}")
_PLAIN_ORIGIN = re.compile(r"[A-Za-z0-9:/._~+@-]+")
_ORIGIN_QUALIFIER = re.compile(r";origin=([^;]*)")


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
    derived = fmt(repo_name_from_origin(origin))
    return [f"swhid origin {origin} gives repo_name {derived}, the row has {fmt(row['repo_name'])}"]


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
            problems.append(f"swhid visit is {fmt(visit)}, snapshot_id gives {fmt(expected_visit)}")
    if "revision_id" in row and "directory_id" in row:
        if row["revision_id"]:
            expected_anchor = f"swh:1:rev:{row['revision_id']}"
        else:
            expected_anchor = f"swh:1:dir:{row['directory_id']}"
        anchor = str(q.anchor) if q.anchor else None
        if anchor != expected_anchor:
            problems.append(f"swhid anchor is {fmt(anchor)}, revision_id/directory_id give {expected_anchor}")
    path = row.get("path")
    if path is not None:
        expected_path = b"/" + path_bytes(path)
        if q.path != expected_path:
            problems.append(f"swhid path qualifier is {fmt(q.path)}, the path column gives {expected_path!r}")
    if q.lines is not None:
        problems.append("swhid has a lines qualifier (a file-level manifest has none)")
    return q.origin, problems


def check_swhids(result: CheckResult, frame: pl.DataFrame, exhaustive: bool = False) -> pl.DataFrame:
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
