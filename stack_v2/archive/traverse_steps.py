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


def entry_elements(batch: pa.RecordBatch) -> Iterable:
    """directory_entry rows -> (directory_id, (name, type, target, perms))."""
    return (
        (d, (name, kind, target, perms))
        for d, name, kind, target, perms in zip(*(c.to_pylist() for c in batch.columns))
    )


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


def subject(ctx: _Ctx) -> str:
    origin, snapshot_id, _branch, revision_id = ctx[:4]
    if origin:
        return origin
    if snapshot_id:
        return f"swh:1:snp:{snapshot_id}"
    return f"swh:1:rev:{revision_id}" if revision_id else "unknown"


# A level's group holds the directory's listing and the frontier items that reached it, told apart by tag.
LISTING, FRONTIER = 0, 1


def tag_listing(directory_id, entries):
    return directory_id, (LISTING, tuple(entries))


def tag_root(root):
    return root, (FRONTIER, (root, b""))


class ExpandLevel(beam.DoFn):
    """(dir, [(LISTING, entries) | (FRONTIER, (root, prefix))]) -> the next level's frontier,
    (subdir, (FRONTIER, (root, prefix/))), and the files: the join with the listing and the expansion in
    one step, so a level costs one GroupByKey and one ParDo. Two passes over the group, as JoinSmallToLarge
    makes: the listing first, then the frontier streamed (a runner that pages large groups never holds it)."""

    FILES = "files"

    def infer_output_type(self, input_type):
        # What Beam would infer from the generator (a union with TaggedOutput) fails the next level's
        # GroupByKey type check; the main output is a (directory, tagged frontier item) pair.
        return typehints.Tuple[typehints.Any, typehints.Any]

    def setup(self):
        self._submodules = Metrics.counter(NS, "submodules_skipped")
        self._no_entries = Metrics.counter(NS, "directories_without_entries")

    def process(self, grouped):
        _directory_id, tagged = grouped
        listings = [value for tag, value in tagged if tag == LISTING]
        for tag, value in tagged:
            if tag != FRONTIER:
                continue
            root, prefix = value
            if not listings:
                self._no_entries.inc()  # an empty tree (git has none, other VCS do) or one absent from the export
            for name, kind, target, perms in (entry for listing in listings for entry in listing):
                path = prefix + name
                if kind == "dir":
                    yield target, (FRONTIER, (root, path + b"/"))
                elif kind == "file":
                    yield pvalue.TaggedOutput(self.FILES, (target, (root, path, perms)))
                else:
                    self._submodules.inc()


def depth_problem(item, max_depth: int):
    directory_id, (_frontier, (root, prefix)) = item
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
