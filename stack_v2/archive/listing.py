"""Run the default-branch traversal as a Beam pipeline and bring its (sorted) results back.

Used by ``stack-v2 archive files``, which prints to a terminal: results, and the traversal's bucket files,
pass through a local temporary directory, so use it with a local runner (DirectRunner, Portable with
LOOPBACK, local Dask).
The build pipeline uses ``ListDefaultBranchFiles`` itself and never gathers the files.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from stack_v2.archive.location import ArchiveLocation
from stack_v2.archive.traverse import MAX_DEPTH, ListDefaultBranchFiles
from stack_v2.archive.traverse_steps import PROBLEMS
from stack_v2.records import FileOccurrence, TraversalProblem


def _to_json(record) -> str:
    return json.dumps(record._asdict(), ensure_ascii=False, sort_keys=True)


def list_files(
    location: ArchiveLocation,
    *,
    origins: Sequence[str] = (),
    swhids: Sequence = (),
    max_depth: int = MAX_DEPTH,
    beam_args: Sequence[str] = (),
) -> tuple[list[FileOccurrence], list[TraversalProblem]]:
    """Files of each selected origin's default branch, sorted by (origin, root, path), and the problems."""
    with tempfile.TemporaryDirectory(prefix="stack-v2-files-") as tmp:
        options = PipelineOptions(list(beam_args))
        with beam.Pipeline(options=options) as p:
            # The traversal's bucket files go to this local directory too, deleted with it.
            out = p | "List" >> ListDefaultBranchFiles(
                location,
                origins=origins,
                swhids=swhids,
                max_depth=max_depth,
                scratch_dir=os.path.join(tmp, "traversal"),
            )
            (
                out["files"]
                | "FilesJson" >> beam.Map(_to_json)
                | "WriteFiles" >> beam.io.WriteToText(os.path.join(tmp, "files"))
            )
            (
                out[PROBLEMS]
                | "ProblemsJson" >> beam.Map(_to_json)
                | "WriteProblems" >> beam.io.WriteToText(os.path.join(tmp, "problems"))
            )
        files = [FileOccurrence(**d) for d in _read_json_lines(os.path.join(tmp, "files*"))]
        problems = [TraversalProblem(**d) for d in _read_json_lines(os.path.join(tmp, "problems*"))]
    files.sort(key=lambda r: (r.origin or "", r.directory_id, r.path))
    problems.sort()
    return files, problems


def _read_json_lines(pattern: str):
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
