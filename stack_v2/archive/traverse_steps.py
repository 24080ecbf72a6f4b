"""The per-element steps of ListDefaultBranchFiles (stack_v2.archive.traverse), each a plain function.

Graph-table rows become keyed elements (``*_elements``); after each key join, a step turns the joined
element into the next join's keys, a FileOccurrence, or a TraversalProblem (tagged ``problems``).
"""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam import pvalue, typehints
from apache_beam.metrics import Metrics

from stack_v2.archive import directory_buckets
from stack_v2.archive.directory_buckets import bucket_of
from stack_v2.archive.selection import Branch, DefaultBranch, Visit, default_branch
from stack_v2.joins import UNMATCHED
from stack_v2.records import FileOccurrence, TraversalProblem, decode_path, repo_name_from_origin

PROBLEMS = "problems"
NS = "traverse"

# A root context: where a root directory was reached from. Plain tuples keep coders cheap.
# (origin, snapshot_id, branch_name, revision_id, revision_date, committer_date, visit_date)
_Ctx = tuple


def _micros(column: pa.Array) -> list:
    return column.cast(pa.int64()).to_pylist()


# ------------------------------------------------------------------------------ table -> elements


def visit_elements(batch: pa.RecordBatch, origins: frozenset[str] | None) -> Iterable:
    """origin_visit_status rows -> (origin, Visit) for full visits with a snapshot."""
    mask = pc.and_(pc.equal(batch.column("status"), "full"), pc.is_valid(batch.column("snapshot")))
    if origins is not None:
        mask = pc.and_(mask, pc.is_in(batch.column("origin"), pa.array(sorted(origins), pa.string())))
    batch = batch.filter(mask)
    return (
        (origin, Visit(visit, date, snapshot))
        for origin, visit, date, snapshot in zip(
            batch.column("origin").to_pylist(),
            batch.column("visit").to_pylist(),
            _micros(batch.column("date")),
            batch.column("snapshot").to_pylist(),
        )
    )


def branch_elements(batch: pa.RecordBatch) -> Iterable:
    """snapshot_branch rows -> (snapshot_id, (name, Branch))."""
    return (
        (snapshot, (name, Branch(target, target_type)))
        for snapshot, name, target, target_type in zip(*(c.to_pylist() for c in batch.columns))
        if target is not None
    )


def release_elements(batch: pa.RecordBatch) -> Iterable:
    """release rows -> (id, (target, target_type))."""
    return ((rid, (target, ttype)) for rid, target, ttype in zip(*(c.to_pylist() for c in batch.columns)))


def revision_elements(batch: pa.RecordBatch) -> Iterable:
    """revision rows -> (id, (directory, date, committer_date))."""
    return (
        (rid, (directory, date, cdate))
        for rid, directory, date, cdate in zip(
            batch.column("id").to_pylist(),
            batch.column("directory").to_pylist(),
            _micros(batch.column("date")),
            _micros(batch.column("committer_date")),
        )
    )


def bucketed_entry_elements(batch: pa.RecordBatch, buckets: int) -> Iterable:
    """directory_entry rows -> (bucket of directory_id, (directory_id, name, type, target, perms))."""
    return ((bucket_of(row[0], buckets), row) for row in zip(*(c.to_pylist() for c in batch.columns)))


def content_elements(batch: pa.RecordBatch) -> Iterable:
    """content / skipped_content rows -> (sha1_git, (sha1, length, status))."""
    return (
        (sha1_git, (sha1, length, status))
        for sha1_git, sha1, length, status in zip(*(c.to_pylist() for c in batch.columns))
        if sha1_git is not None
    )


# ------------------------------------------------------------------------------------- join steps


def resolve_snapshot(branches: list) -> DefaultBranch | str:
    return default_branch(dict(branches))


def after_snapshot(joined):
    """(snapshot, resolved, (origin, visit_date)) -> ('revision'|'release'|'directory', target, ctx)."""
    snapshot_id, resolved, (origin, visit_date) = joined
    if isinstance(resolved, list) and not resolved:
        resolved = "snapshot_not_in_export"
    if isinstance(resolved, str):
        Metrics.counter(NS, resolved).inc()
        yield pvalue.TaggedOutput(
            PROBLEMS, TraversalProblem(origin or f"swh:1:snp:{snapshot_id}", resolved, f"snapshot {snapshot_id}")
        )
        return
    ctx = (origin, snapshot_id, decode_path(resolved.name), None, None, None, visit_date)
    yield resolved.target_type, resolved.target, ctx


def route_target(element):
    kind, target, ctx = element
    if kind in ("revision", "release", "directory"):
        yield pvalue.TaggedOutput(kind, (target, ctx))
    else:
        yield pvalue.TaggedOutput(
            PROBLEMS,
            TraversalProblem(subject(ctx), "unsupported_target", f"default branch points to a {kind} {target}"),
        )


def after_release(joined):
    release_id, rows, ctx = joined
    if not rows:
        yield pvalue.TaggedOutput(PROBLEMS, TraversalProblem(subject(ctx), "release_not_in_export", release_id))
        return
    target, target_type = rows[0]
    yield target_type, target, ctx


def after_revision(joined):
    revision_id, rows, ctx = joined
    if not rows:
        yield pvalue.TaggedOutput(PROBLEMS, TraversalProblem(subject(ctx), "revision_not_in_export", revision_id))
        return
    directory, date, committer_date = rows[0]
    origin, snapshot_id, branch, _, _, _, visit_date = ctx
    yield directory, (origin, snapshot_id, branch, revision_id, date, committer_date, visit_date)


def revision_wanted(revision_id: str):
    """A revision to list, with a context naming it (its SWHID is the subject of its problems)."""
    return revision_id, (None, None, None, revision_id, None, None, None)


def subject(ctx: _Ctx) -> str:
    origin, snapshot_id, _branch, revision_id = ctx[:4]
    if origin:
        return origin
    if snapshot_id:
        return f"swh:1:snp:{snapshot_id}"
    return f"swh:1:rev:{revision_id}" if revision_id else "unknown"


# A frontier item: a directory reached from a root by a path, keyed by the directory's bucket.
# (bucket, (directory_id, root, prefix)); plain tuples keep coders cheap.


def root_item(root: str, buckets: int):
    return bucket_of(root, buckets), (root, root, b"")


class WriteBucket(beam.DoFn):
    """(bucket, rows) -> (bucket, path of its Parquet file): the one time listings cross a shuffle."""

    def __init__(self, directory: str):
        self._directory = directory

    def setup(self):
        self._rows = Metrics.counter(NS, "bucket_rows_written")

    def process(self, grouped):
        bucket, rows = grouped
        path = directory_buckets.bucket_path(self._directory, bucket)
        self._rows.inc(directory_buckets.write_bucket(path, rows))
        yield bucket, path


class ExpandLevel(beam.DoFn):
    """(bucket, frontier items) -> the next level's items, (bucket of subdir, (subdir, root, prefix/)), and the
    files, tagged FILES: (content id, (root, path, perms)). The listings come from the bucket's file (side input
    ``paths``: bucket -> file, complete before any level starts). Two passes over the group, as JoinSmallToLarge
    makes: the wanted directories first, then the items streamed (a runner that pages large groups never holds
    them).

    ``levels`` > 1 walks that many levels in place, each level's subdirectories held in memory for the next, and
    emits the items of the level after: only with one bucket, where every subdirectory is in the group's bucket."""

    FILES = "files"

    def __init__(self, buckets: int, levels: int = 1):
        if levels > 1 and buckets != 1:
            raise ValueError(f"levels in place need a single bucket, got {buckets}")
        self._buckets, self._levels = buckets, levels

    def infer_output_type(self, input_type):
        # What Beam would infer from the generator (a union with TaggedOutput) fails the next level's
        # GroupByKey type check; the main output is a (bucket, frontier item) pair.
        return typehints.Tuple[typehints.Any, typehints.Any]

    def setup(self):
        self._submodules = Metrics.counter(NS, "submodules_skipped")
        self._no_entries = Metrics.counter(NS, "directories_without_entries")

    def process(self, grouped, paths):
        bucket, items = grouped
        bucket_file = paths.get(bucket)  # none: no directory of the export falls in this bucket
        for _ in range(self._levels - 1):
            subdirs = []
            for out in self._expand(bucket_file, items):
                if isinstance(out, pvalue.TaggedOutput):
                    yield out
                else:
                    subdirs.append(out[1])
            if not subdirs:
                return
            items = subdirs
        yield from self._expand(bucket_file, items)

    def _expand(self, bucket_file, items):
        listings = directory_buckets.read_listings(bucket_file, (item[0] for item in items)) if bucket_file else {}
        for directory_id, root, prefix in items:
            entries = listings.get(directory_id)
            if entries is None:
                self._no_entries.inc()  # an empty tree (git has none, other VCS do) or one absent from the export
                continue
            for name, kind, target, perms in entries:
                path = prefix + name
                if kind == "dir":
                    yield bucket_of(target, self._buckets), (target, root, path + b"/")
                elif kind == "file":
                    yield pvalue.TaggedOutput(self.FILES, (target, (root, path, perms)))
                else:
                    self._submodules.inc()


def depth_problem(item, max_depth: int):
    _bucket, (directory_id, root, prefix) = item
    Metrics.counter(NS, "depth_limit").inc()
    return TraversalProblem(
        f"swh:1:dir:{root}",
        "depth_limit",
        f"directory {directory_id} at /{decode_path(prefix)} is deeper than {max_depth} levels",
    )


def after_content(joined):
    content_id, rows, (root, path, perms) = joined
    if rows:
        # content wins over skipped_content when a blob is in both
        sha1, length, status = sorted(rows, key=lambda r: r[2] == "absent")[0]
    else:
        sha1, length, status = None, None, "missing"
    Metrics.counter(NS, f"files_{status}").inc()
    yield root, (path, content_id, sha1, length, perms, status)


def occurrences(joined):
    root, ctxs, file = joined
    if file is UNMATCHED:
        for ctx in ctxs:
            yield pvalue.TaggedOutput(PROBLEMS, TraversalProblem(subject(ctx), "no_files", f"root directory {root}"))
        return
    path, content_id, sha1, length, perms, status = file
    for origin, snapshot_id, branch, revision_id, date, cdate, visit_date in ctxs:
        yield FileOccurrence(
            origin=origin,
            repo_name=repo_name_from_origin(origin),
            snapshot_id=snapshot_id,
            branch_name=branch,
            revision_id=revision_id,
            revision_date=date,
            committer_date=cdate,
            visit_date=visit_date,
            directory_id=root,
            path=decode_path(path),
            blob_id=sha1,
            content_id=content_id,
            length=length,
            perms=perms,
            content_status=status,
        )


def missing_origin(joined):
    origin, visits, marker = joined
    if not visits:
        yield TraversalProblem(origin, "no_full_visit", "no full visit with a snapshot in origin_visit_status")
