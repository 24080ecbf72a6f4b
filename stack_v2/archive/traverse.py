"""List the files of each origin's default branch from the graph export, as a Beam transform.

The steps mirror the paper's Spark jobs (docs/the-stack-v2.md §2, §3.1) as key joins:

1. ``origin_visit_status``: per origin, the latest ``full`` visit that has a snapshot;
2. ``snapshot_branch``: that snapshot's default branch (HEAD through aliases, else main, else master);
3. ``release`` then ``revision``: the branch's root directory, revision and dates;
4. ``directory_entry``: the tree walked one level at a time, at most ``max_depth`` levels, each distinct
   root once; submodules (``rev`` entries) are skipped. The table crosses a shuffle once, into bucket files
   (stack_v2.archive.directory_buckets); a level then shuffles only its frontier and reads the listings it
   needs from those files, so a level costs what its frontier holds, and an empty level nothing. With a
   single bucket (a small export) the levels run in place, in one step of the pipeline;
5. ``content`` / ``skipped_content``: sha1 (the store key) and length of each file;
6. back to every origin whose default branch has that root.

Nothing is dropped silently: an origin or SWHID that yields no files, and each directory left
unexpanded at the depth limit, comes out as a ``TraversalProblem``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import apache_beam as beam

from stack_v2 import storage
from stack_v2.archive import directory_buckets
from stack_v2.archive import traverse_steps as steps
from stack_v2.archive.graph_io import ReadGraphTable
from stack_v2.archive.location import ArchiveLocation
from stack_v2.archive.selection import latest_full_visit
from stack_v2.archive.traverse_steps import PROBLEMS
from stack_v2.joins import JoinSmallToLarge
from stack_v2.records import TraversalProblem

MAX_DEPTH = 64  # the paper's traversal depth (docs/the-stack-v2.md §3.1)


class ListDefaultBranchFiles(beam.PTransform):
    """PBegin -> {'files': FileOccurrence, 'problems': TraversalProblem}.

    ``origins`` restricts the listing to those origin URLs; ``swhids`` (parsed ``SelectedSWHID``s)
    adds snapshots, revisions or directories to list directly. With neither, every origin is listed.
    ``scratch_dir`` (local, ``s3://`` or ``gs://``) must be readable and writable by every worker: the
    directory listings' bucket files go there, and the caller deletes it once the pipeline has finished.
    ``buckets`` overrides their number (by default about one per 64 MB of the table's ORC files).
    """

    def __init__(
        self,
        location: ArchiveLocation,
        origins: Sequence[str] = (),
        swhids: Sequence = (),
        max_depth: int = MAX_DEPTH,
        *,
        scratch_dir: str,
        buckets: int | None = None,
    ):
        super().__init__()
        if max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {max_depth}")
        if buckets is not None and buckets < 1:
            raise ValueError(f"buckets must be at least 1, got {buckets}")
        self._location = location
        self._origins = sorted(set(origins))
        self._swhids = list(swhids)
        self._max_depth = max_depth
        self._by_origin = bool(self._origins) or not self._swhids
        # A directory of its own per transform: two traversals, or two runs, never share (or cache) a bucket.
        self._bucket_dir = storage.join(storage.absolute(scratch_dir), f"directory-buckets-{uuid.uuid4().hex[:12]}")
        self._buckets = buckets

    def _read(self, p, table: str, columns: list[str], fn, label: str | None = None):
        return p | (label or f"Read {table}") >> ReadGraphTable(self._location, table, columns, fn)

    def expand(self, pbegin):
        p = pbegin.pipeline if hasattr(pbegin, "pipeline") else pbegin
        problems = []
        snapshot_wanted, revision_wanted, directory_roots, release_wanted = [], [], [], []
        if isinstance(pbegin, beam.pvalue.PCollection):  # ListRevisionFiles: revisions the pipeline found
            revision_wanted.append(pbegin | "GivenRevisions" >> beam.Map(steps.revision_wanted))

        if self._by_origin:
            origin_filter = frozenset(self._origins) if self._origins else None
            visits = self._read(
                p,
                "origin_visit_status",
                ["origin", "visit", "date", "status", "snapshot"],
                lambda b: steps.visit_elements(b, origin_filter),
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
                    | "NoVisit" >> beam.FlatMap(steps.missing_origin)
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
                p, "snapshot_branch", ["snapshot_id", "name", "target", "target_type"], steps.branch_elements
            )
            routed = _join_and_route(
                "Snapshot",
                branches,
                snapshot_wanted,
                steps.after_snapshot,
                problems,
                reduce_small=steps.resolve_snapshot,
            )
            revision_wanted.append(routed.revision)
            release_wanted.append(routed.release)
            directory_roots.append(routed.directory)

        if release_wanted:
            releases = self._read(p, "release", ["id", "target", "target_type"], steps.release_elements)
            routed = _join_and_route("Release", releases, release_wanted, steps.after_release, problems)
            revision_wanted.append(routed.revision)
            directory_roots.append(routed.directory)
            problems.append(
                routed.release
                | "NestedRelease"
                >> beam.Map(
                    lambda kv: TraversalProblem(
                        steps.subject(kv[1]), "unsupported_target", f"release of release {kv[0]}"
                    )
                )
            )

        if revision_wanted:
            revisions = self._read(
                p, "revision", ["id", "directory", "date", "committer_date"], steps.revision_elements
            )
            after = (
                (revisions, _flatten(revision_wanted, "RevisionsWanted"))
                | "JoinRevision" >> JoinSmallToLarge()
                | "RootDirectory" >> beam.FlatMap(steps.after_revision).with_outputs(PROBLEMS, main="roots")
            )
            problems.append(after[PROBLEMS])
            directory_roots.append(after.roots)

        roots = _flatten(directory_roots, "Roots", p)  # (root directory, ctx)
        files, depth_problems = self._walk(p, roots)
        problems.append(depth_problems)
        occurrences = (
            (roots, files)
            | "JoinOrigins" >> JoinSmallToLarge(emit_small_only=True)
            | "Occurrences" >> beam.FlatMap(steps.occurrences).with_outputs(PROBLEMS, main="files")
        )
        problems.append(occurrences[PROBLEMS])
        return {"files": occurrences.files, PROBLEMS: _flatten(problems, "Problems", p)}

    def _walk(self, p, roots):
        """Distinct roots -> (root, (path, content_id, sha1, length, perms, status)) for every file."""
        # The listings cross one shuffle, by bucket, into sorted bucket files; the side input of their paths
        # holds every level back until all are written. A level is then one GroupByKey of its frontier (by
        # bucket) and one ParDo that reads the listings it needs and expands: an empty level moves and
        # reads nothing. With one bucket, a level's frontier is one group, on one worker: a shuffle would only
        # hand it back, so one step walks every level in place (and the pipeline has one step, not max_depth).
        buckets = self._buckets or directory_buckets.bucket_count(self._location)
        bucket_files = (
            self._read(
                p,
                directory_buckets.TABLE,
                directory_buckets.COLUMNS,
                lambda batch: steps.bucketed_entry_elements(batch, buckets),
            )
            | "ListingsByBucket" >> beam.GroupByKey()
            | "WriteBuckets" >> beam.ParDo(steps.WriteBucket(self._bucket_dir))
        )
        paths = beam.pvalue.AsDict(bucket_files)
        frontier = (
            roots
            | "RootIds" >> beam.Map(lambda kv: kv[0])
            | "DistinctRoots" >> beam.Distinct()
            | "Level0" >> beam.Map(steps.root_item, buckets)
        )
        levels = self._max_depth if buckets == 1 else 1  # per step
        file_levels = []
        for step in range(1, self._max_depth // levels + 1):
            expanded = (
                frontier
                | f"Group{step}" >> beam.GroupByKey()
                | f"Expand{step}"
                >> beam.ParDo(steps.ExpandLevel(buckets, levels), paths).with_outputs(
                    steps.ExpandLevel.FILES, main="dirs"
                )
            )
            file_levels.append(expanded[steps.ExpandLevel.FILES])
            frontier = expanded.dirs
        depth_problems = frontier | "DepthLimit" >> beam.Map(steps.depth_problem, self._max_depth)
        contents = [
            self._read(p, table, ["sha1_git", "sha1", "length", "status"], steps.content_elements, f"Read {table}")
            for table in ("content", "skipped_content")
        ]
        files = (
            (_flatten(contents, "Contents"), _flatten(file_levels, "Files"))
            | "JoinContent" >> JoinSmallToLarge()
            | "Blob" >> beam.FlatMap(steps.after_content)
        )
        return files, depth_problems


class ListRevisionFiles(ListDefaultBranchFiles):
    """PCollection of revision ids (sha1_git hex) -> {'files': FileOccurrence, 'problems': TraversalProblem}: the
    files of each revision's tree, whatever origin it belongs to (``revision_id`` says which revision a file is
    of; ``origin`` is None). A revision the export lacks is a problem ``revision_not_in_export`` whose subject
    is its SWHID. The pull-request source lists its base and head trees with it."""

    def __init__(self, location: ArchiveLocation, max_depth: int = MAX_DEPTH, *, scratch_dir: str, buckets=None):
        super().__init__(location, (), (), max_depth, scratch_dir=scratch_dir, buckets=buckets)
        self._by_origin = False


def _join_and_route(name: str, table, wanted: list, after, problems: list, reduce_small=None):
    """Join wanted ids with their table rows, then route each result by its target's type."""
    joined = (
        (table, _flatten(wanted, f"{name}sWanted"))
        | f"Join{name}" >> JoinSmallToLarge(reduce_small=reduce_small)
        | f"{name}Target" >> beam.FlatMap(after).with_outputs(PROBLEMS, main="targets")
    )
    routed = joined.targets | f"Route{name}" >> beam.FlatMap(steps.route_target).with_outputs(
        PROBLEMS, "revision", "release", "directory"
    )
    problems += [joined[PROBLEMS], routed[PROBLEMS]]
    return routed


def _flatten(pcolls: list, label: str, p=None):
    if not pcolls:
        return p | label >> beam.Create([])
    return tuple(pcolls) | label >> beam.Flatten()
