"""List the files of each origin's default branch from the graph export, as a Beam transform.

The steps mirror the paper's Spark jobs (docs/the-stack-v2.md §2, §3.1) as key joins:

1. ``origin_visit_status``: per origin, the latest ``full`` visit that has a snapshot;
2. ``snapshot_branch``: that snapshot's default branch (HEAD through aliases, else main, else master);
3. ``release`` then ``revision``: the branch's root directory, revision and dates;
4. ``directory_entry``: the tree walked one level per join, at most ``max_depth`` levels, each
   distinct root once; submodules (``rev`` entries) are skipped;
5. ``content`` / ``skipped_content``: sha1 (the store key) and length of each file;
6. back to every origin whose default branch has that root.

Nothing is dropped silently: an origin or SWHID that yields no files, and each directory left
unexpanded at the depth limit, comes out as a ``TraversalProblem``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from stack_v2.archive.graph_io import ReadGraphTable
from stack_v2.archive.location import ArchiveLocation
from stack_v2.archive.selection import Branch, DefaultBranch, Visit, default_branch, latest_full_visit
from stack_v2.joins import UNMATCHED, JoinSmallToLarge
from stack_v2.records import FileOccurrence, TraversalProblem, decode_path, repo_name_from_origin

MAX_DEPTH = 64  # the paper's traversal depth (docs/the-stack-v2.md §3.1)
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


def _resolve_snapshot(branches: list) -> DefaultBranch | str:
    return default_branch(dict(branches))


def _after_snapshot(joined):
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


def _route_target(element):
    kind, target, ctx = element
    if kind in ("revision", "release", "directory"):
        yield pvalue.TaggedOutput(kind, (target, ctx))
    else:
        yield pvalue.TaggedOutput(
            PROBLEMS,
            TraversalProblem(_subject(ctx), "unsupported_target", f"default branch points to a {kind} {target}"),
        )


def _after_release(joined):
    release_id, rows, ctx = joined
    if not rows:
        yield pvalue.TaggedOutput(PROBLEMS, TraversalProblem(_subject(ctx), "release_not_in_export", release_id))
        return
    target, target_type = rows[0]
    yield target_type, target, ctx


def _after_revision(joined):
    revision_id, rows, ctx = joined
    if not rows:
        yield pvalue.TaggedOutput(PROBLEMS, TraversalProblem(_subject(ctx), "revision_not_in_export", revision_id))
        return
    directory, date, committer_date = rows[0]
    origin, snapshot_id, branch, _, _, _, visit_date = ctx
    yield directory, (origin, snapshot_id, branch, revision_id, date, committer_date, visit_date)


def _subject(ctx: _Ctx) -> str:
    origin, snapshot_id, _branch, revision_id = ctx[:4]
    if origin:
        return origin
    if snapshot_id:
        return f"swh:1:snp:{snapshot_id}"
    return f"swh:1:rev:{revision_id}" if revision_id else "unknown"


class _ExpandLevel(beam.DoFn):
    """(dir, entries, (root, prefix)) -> next level's (subdir, (root, prefix/)) and files."""

    FILES = "files"

    def setup(self):
        self._submodules = Metrics.counter(NS, "submodules_skipped")
        self._no_entries = Metrics.counter(NS, "directories_without_entries")

    def process(self, joined):
        directory_id, listings, (root, prefix) = joined
        if not listings:
            self._no_entries.inc()  # an empty tree (git has none, other VCS do) or one absent from the export
        for name, kind, target, perms in (entry for listing in listings for entry in listing):
            path = prefix + name
            if kind == "dir":
                yield target, (root, path + b"/")
            elif kind == "file":
                yield pvalue.TaggedOutput(self.FILES, (target, (root, path, perms)))
            else:
                self._submodules.inc()


def _depth_problem(item, max_depth: int):
    directory_id, (root, prefix) = item
    Metrics.counter(NS, "depth_limit").inc()
    return TraversalProblem(
        f"swh:1:dir:{root}",
        "depth_limit",
        f"directory {directory_id} at /{decode_path(prefix)} is deeper than {max_depth} levels",
    )


def _after_content(joined):
    content_id, rows, (root, path, perms) = joined
    if rows:
        # content wins over skipped_content when a blob is in both
        sha1, length, status = sorted(rows, key=lambda r: r[2] == "absent")[0]
    else:
        sha1, length, status = None, None, "missing"
    Metrics.counter(NS, f"files_{status}").inc()
    yield root, (path, content_id, sha1, length, perms, status)


def _occurrences(joined):
    root, ctxs, file = joined
    if file is UNMATCHED:
        for ctx in ctxs:
            yield pvalue.TaggedOutput(PROBLEMS, TraversalProblem(_subject(ctx), "no_files", f"root directory {root}"))
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


def _missing_origin(joined):
    origin, visits, marker = joined
    if not visits:
        yield TraversalProblem(origin, "no_full_visit", "no full visit with a snapshot in origin_visit_status")


# ------------------------------------------------------------------------------------- transform


class ListDefaultBranchFiles(beam.PTransform):
    """PBegin -> {'files': FileOccurrence, 'problems': TraversalProblem}.

    ``origins`` restricts the listing to those origin URLs; ``swhids`` (parsed ``SelectedSWHID``s)
    adds snapshots, revisions or directories to list directly. With neither, every origin is listed.
    """

    def __init__(
        self, location: ArchiveLocation, origins: Sequence[str] = (), swhids: Sequence = (), max_depth: int = MAX_DEPTH
    ):
        super().__init__()
        if max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {max_depth}")
        self._location = location
        self._origins = sorted(set(origins))
        self._swhids = list(swhids)
        self._max_depth = max_depth
        self._by_origin = bool(self._origins) or not self._swhids

    def _read(self, p, table: str, columns: list[str], fn, label: str | None = None):
        return p | (label or f"Read {table}") >> ReadGraphTable(self._location, table, columns, fn)

    def expand(self, pbegin):
        p = pbegin.pipeline if hasattr(pbegin, "pipeline") else pbegin
        problems = []
        snapshot_wanted, revision_wanted, directory_roots, release_wanted = [], [], [], []

        if self._by_origin:
            origin_filter = frozenset(self._origins) if self._origins else None
            visits = self._read(
                p,
                "origin_visit_status",
                ["origin", "visit", "date", "status", "snapshot"],
                lambda b: visit_elements(b, origin_filter),
            )
            latest = visits | "LatestVisit" >> beam.CombinePerKey(latest_full_visit)
            snapshot_wanted.append(
                latest | "BySnapshot" >> beam.Map(lambda kv: (kv[1].snapshot_id, (kv[0], kv[1].date)))
            )
            if self._origins:
                requested = p | "RequestedOrigins" >> beam.Create([(o, True) for o in self._origins])
                problems.append(
                    (latest, requested)
                    | "JoinRequested" >> JoinSmallToLarge()
                    | "NoVisit" >> beam.FlatMap(_missing_origin)
                )

        for i, sel in enumerate(self._swhids):
            ctx = (sel.origin, sel.visit, None, None, None, None, None)
            if sel.object_type == "snp":
                snapshot_wanted.append(p | f"SWHID{i}" >> beam.Create([(sel.object_id, (sel.origin, None))]))
            elif sel.object_type == "rev":
                revision_wanted.append(p | f"SWHID{i}" >> beam.Create([(sel.object_id, ctx)]))
            else:
                directory_roots.append(p | f"SWHID{i}" >> beam.Create([(sel.object_id, ctx)]))

        if snapshot_wanted:
            branches = self._read(
                p, "snapshot_branch", ["snapshot_id", "name", "target", "target_type"], branch_elements
            )
            routed = _join_and_route(
                "Snapshot", branches, snapshot_wanted, _after_snapshot, problems, reduce_small=_resolve_snapshot
            )
            revision_wanted.append(routed.revision)
            release_wanted.append(routed.release)
            directory_roots.append(routed.directory)

        if release_wanted:
            releases = self._read(p, "release", ["id", "target", "target_type"], release_elements)
            routed = _join_and_route("Release", releases, release_wanted, _after_release, problems)
            revision_wanted.append(routed.revision)
            directory_roots.append(routed.directory)
            problems.append(
                routed.release
                | "NestedRelease"
                >> beam.Map(
                    lambda kv: TraversalProblem(_subject(kv[1]), "unsupported_target", f"release of release {kv[0]}")
                )
            )

        if revision_wanted:
            revisions = self._read(p, "revision", ["id", "directory", "date", "committer_date"], revision_elements)
            after = (
                (revisions, _flatten(revision_wanted, "RevisionsWanted"))
                | "JoinRevision" >> JoinSmallToLarge()
                | "RootDirectory" >> beam.FlatMap(_after_revision).with_outputs(PROBLEMS, main="roots")
            )
            problems.append(after[PROBLEMS])
            directory_roots.append(after.roots)

        roots = _flatten(directory_roots, "Roots", p)  # (root directory, ctx)
        files, depth_problems = self._walk(p, roots)
        problems.append(depth_problems)
        occurrences = (
            (roots, files)
            | "JoinOrigins" >> JoinSmallToLarge(emit_small_only=True)
            | "Occurrences" >> beam.FlatMap(_occurrences).with_outputs(PROBLEMS, main="files")
        )
        problems.append(occurrences[PROBLEMS])
        return {"files": occurrences.files, PROBLEMS: _flatten(problems, "Problems", p)}

    def _walk(self, p, roots):
        """Distinct roots -> (root, (path, content_id, sha1, length, perms, status)) for every file."""
        # One element per directory (its whole listing), grouped once: each level's join then moves
        # directories, not entries, about ten times fewer elements per level.
        listings = (
            self._read(p, "directory_entry", ["directory_id", "name", "type", "target", "perms"], entry_elements)
            | "ListingByDirectory" >> beam.GroupByKey()
            | "Listing" >> beam.MapTuple(lambda directory, entries: (directory, tuple(entries)))
        )
        frontier = (
            roots
            | "RootIds" >> beam.Map(lambda kv: kv[0])
            | "DistinctRoots" >> beam.Distinct()
            | "Level0" >> beam.Map(lambda root: (root, (root, b"")))
        )
        file_levels = []
        for depth in range(1, self._max_depth + 1):
            expanded = (
                (listings, frontier)
                | f"Join{depth}" >> JoinSmallToLarge()
                | f"Expand{depth}" >> beam.ParDo(_ExpandLevel()).with_outputs(_ExpandLevel.FILES, main="dirs")
            )
            file_levels.append(expanded[_ExpandLevel.FILES])
            frontier = expanded.dirs
        depth_problems = frontier | "DepthLimit" >> beam.Map(_depth_problem, self._max_depth)
        contents = [
            self._read(p, table, ["sha1_git", "sha1", "length", "status"], content_elements, f"Read {table}")
            for table in ("content", "skipped_content")
        ]
        files = (
            (_flatten(contents, "Contents"), _flatten(file_levels, "Files"))
            | "JoinContent" >> JoinSmallToLarge()
            | "Blob" >> beam.FlatMap(_after_content)
        )
        return files, depth_problems


def _join_and_route(name: str, table, wanted: list, after, problems: list, reduce_small=None):
    """Join wanted ids with their table rows, then route each result by its target's type."""
    joined = (
        (table, _flatten(wanted, f"{name}sWanted"))
        | f"Join{name}" >> JoinSmallToLarge(reduce_small=reduce_small)
        | f"{name}Target" >> beam.FlatMap(after).with_outputs(PROBLEMS, main="targets")
    )
    routed = joined.targets | f"Route{name}" >> beam.FlatMap(_route_target).with_outputs(
        PROBLEMS, "revision", "release", "directory"
    )
    problems += [joined[PROBLEMS], routed[PROBLEMS]]
    return routed


def _flatten(pcolls: list, label: str, p=None):
    if not pcolls:
        return p | label >> beam.Create([])
    return tuple(pcolls) | label >> beam.Flatten()
