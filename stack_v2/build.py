"""The build: archive in; Parquet shards, SWHID manifest, dropped table, report and card out.

Layout of a dataset version (fixed):
    data/<language>/train-NNNNN-of-MMMMM.parquet   the-stack-v2 columns + content
    manifest/part-NNNNN-of-MMMMM.parquet           the-stack-v2 columns + swhid
    dropped/part-NNNNN-of-MMMMM.parquet            blob_id, repo_name, path, stage, outcome, reason, detail
    manifest-by-repo/part-NNNNN-of-MMMMM.parquet   one row per repository (recipe output.group_by_repo)
    report.json                                    files and bytes per stage and reason, checked
    README.md                                      dataset card

The output is a local directory or an object-store prefix (``s3://``, ``gs://``; ``stack_v2.storage``). A build
takes the output's lock, its pipeline writes ``<output>/versions/<run id>/``, and only a run that finished,
accounted for every file and stayed within its failure budget is published, by replacing the output's
pointer to its current version (``io.publish``): a crashed, failed or concurrent run never changes what
readers see. ``run_build`` = ``start_build`` (lock, submit, and by default wait) + ``finish_build`` (checks,
card, report, publish); a launcher that may not wait (a Dataflow Flex Template) leaves ``run.json`` in the
run directory and the lock held, and ``stack-v2 finish`` completes (or ``--rollback`` drops) the run later.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions

from stack_v2 import progress, storage
from stack_v2.archive.location import ArchiveLocation
from stack_v2.archive.traverse import ListDefaultBranchFiles
from stack_v2.document_build import construct_documents
from stack_v2.finish import delete_traversal_scratch, finish_build
from stack_v2.funnel import Funnel, apply_stages, made_stages
from stack_v2.io import publish
from stack_v2.io import report as rep
from stack_v2.io.grouped import WriteRepoManifest
from stack_v2.io.layout import OUTPUTS
from stack_v2.io.parquet import WriteShardedParquet
from stack_v2.io.rows import data_row, dropped_dict, dropped_key, file_key, language_dir, manifest_row
from stack_v2.io.schema import DATA_SCHEMA, DROPPED_SCHEMA, MANIFEST_SCHEMA
from stack_v2.recipe import Recipe
from stack_v2.runners import pipeline_options
from stack_v2.runs import RUN_INFO, RunFailed, StartedBuild, abandon, run_dir_of
from stack_v2.stages import optout, registry
from stack_v2.stages.stage import Stage, StageContext
from stack_v2.tool_versions import tool_versions


@dataclass(frozen=True)
class BuildRequest:
    location: ArchiveLocation
    output_dir: str
    recipe: Recipe
    origins: Sequence[str] = ()
    swhids: Sequence = ()
    optouts: Sequence = ()  # OptOutRequests honoured right after repository selection
    allow_missing: bool = False  # requested origins or SWHIDs that yield nothing are reported, not fatal
    checkpoint: object = None  # an io.checkpoint.Checkpoint opened for this build (open_checkpoint), or None
    inputs: Sequence[str] = ()  # a document source's input files (input_files.match_files); location is None


def planned_stages(req: BuildRequest) -> list[tuple[Stage, object]]:
    """The recipe's stages with their typed configs, in order, plus the build's own: opt-outs right after
    repository selection when the build has requests."""
    plan = [(registry.STAGES[spec.name], registry.STAGES[spec.name].config(spec.params)) for spec in req.recipe.stages]
    if req.optouts:
        plan.insert(1, (optout.DEFINITION, optout.OptOutConfig(tuple(req.optouts))))
    return plan


def construct(p: beam.Pipeline, req: BuildRequest, run_dir: str) -> list[str]:
    """Add the whole build to pipeline ``p``, writing under ``run_dir``; returns the funnel's stages (the
    names report.json counts, in the order records pass them)."""
    recipe = req.recipe
    if recipe.document_source is not None:  # GitHub issues and the other sources of documents
        return construct_documents(p, recipe.document_source, req, run_dir)
    context = StageContext(req.location, run_dir, recipe.output, req.checkpoint)
    records = p | "List" >> ListDefaultBranchFiles(
        req.location, origins=req.origins, swhids=req.swhids, scratch_dir=storage.join(run_dir, ".traversal")
    )
    funnel = apply_stages(Funnel(records), made_stages(planned_stages(req), context))
    records, chain = funnel.records, funnel.chain
    counts = [*funnel.counts, rep.count_records(records, funnel.counted_as, languages=True)]  # languages too
    all_dropped = tuple(funnel.dropped) | "AllDropped" >> beam.Flatten()
    counts.append(rep.count_dropped(all_dropped, "Dropped"))
    (
        tuple(counts)
        | "Counts" >> beam.Flatten()
        | "Report" >> rep.WriteReport(os.path.join(run_dir, "report.json"), chain, registry.filter_stages())
    )

    out = recipe.output
    has_content = "fetch_decode" in recipe.stage_names
    if has_content:
        (
            records
            | "DataRows" >> beam.Map(lambda r: (language_dir(r.language or "unknown"), r, len(r.content or "")))
            | "WriteData"
            >> WriteShardedParquet(
                os.path.join(run_dir, "data"),
                "train",
                DATA_SCHEMA,
                file_key,
                target_bytes=out["target_shard_bytes"],
                to_row=data_row,  # records move to the writers, content compressed (stack_v2/packed_text.py)
            )
        )
    (
        records
        | "ManifestRows" >> beam.Map(lambda r: ("", manifest_row(r), 1))
        | "WriteManifest"
        >> WriteShardedParquet(
            os.path.join(run_dir, "manifest"),
            "part",
            MANIFEST_SCHEMA,
            file_key,
            target_rows=out["manifest_rows_per_shard"],
        )
    )
    if out["group_by_repo"]:  # manifest rows only: no content moves through the grouping
        (
            records
            | "RepoManifestRows" >> beam.Map(lambda r: (r.repo_name or "", manifest_row(r)))
            | "Grouped" >> WriteRepoManifest(run_dir)
        )
    (
        all_dropped
        | "DroppedRows" >> beam.Map(lambda r: ("", dropped_dict(r), 1))
        | "WriteDropped"
        >> WriteShardedParquet(
            os.path.join(run_dir, "dropped"),
            "part",
            DROPPED_SCHEMA,
            dropped_key,
            target_rows=out["dropped_rows_per_shard"],
        )
    )
    return chain


def run_build(req: BuildRequest, beam_args: Sequence[str] = (), *, show_progress: bool = False) -> dict:
    """Run the build; on success its version becomes ``req.output_dir``'s current one."""
    started = start_build(req, beam_args, wait=True, show_progress=show_progress)
    return finish_build(req.output_dir, started.run_id, started.result)


def start_build(
    req: BuildRequest, beam_args: Sequence[str] = (), *, wait: bool = True, show_progress: bool = False
) -> StartedBuild:
    """Take the output's lock and submit the build's pipeline, writing into ``<output>/versions/<run id>/``;
    with ``wait`` (the default) return when it has finished. Without, return once the runner accepted the
    job (a Dataflow Flex Template's launcher must exit then) and leave the lock to ``finish_build``.
    ``show_progress`` draws a progress bar on stderr while a local runner works (stack_v2/progress.py)."""
    output_dir = storage.absolute(storage.check_uri(req.output_dir))
    options = pipeline_options(beam_args)  # --runner DaskRunner and the other runners: stack_v2/runners.py
    run_id = publish.new_version_id()
    publish.acquire(output_dir, run_id, "build", detached=not wait)
    run_dir = run_dir_of(output_dir, run_id)
    try:
        publish.check_layout(output_dir, OUTPUTS)
        storage.write_text(storage.join(run_dir, RUN_INFO), json.dumps(_run_info(req, run_id), indent=2) + "\n")
        chain: list[str] = []
        with progress.Watch(lambda: chain, enabled=show_progress and wait and _runs_here(options)) as watch:
            p = beam.Pipeline(options=options)
            # Local paths absolute: workers may run with another working directory (a worker pool, a cluster).
            location = req.location.absolute() if req.location is not None else None
            chain += construct(p, replace(req, location=location, output_dir=output_dir), run_dir)
            watch.start()
            result = p.run()
            if wait:
                state = str(result.wait_until_finish() or getattr(result, "state", ""))
                if any(bad in state.upper() for bad in ("FAILED", "CANCELLED", "DRAINED")):
                    raise RunFailed(f"build of {output_dir}: the pipeline ended in state {state}")
    except BaseException as exc:
        if wait:  # the pipeline ended (or never ran): nothing reads the traversal's bucket files any more
            _delete_scratch(run_dir)
        abandon(output_dir, run_id, exc)
        raise
    return StartedBuild(output_dir, run_id, result, finished=wait)


def _delete_scratch(run_dir: str) -> None:
    try:
        delete_traversal_scratch(run_dir)
    except Exception:  # noqa: BLE001 - best effort: the run's error is what the user must see
        pass


def _runs_here(options) -> bool:
    """Whether the runner's workers are on this machine (or may be), so that progress can reach us."""
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    return "Dataflow" not in str(runner)


def _run_info(req: BuildRequest, run_id: str) -> dict:
    return {
        "run_id": run_id,
        "started_at": time.time(),
        "archive": req.location.describe() if req.location is not None else None,
        "source": req.recipe.source,
        "inputs": list(req.inputs),
        # where fetch_decode's outcomes were persisted (and whether taken from there): the run's provenance
        "checkpoint": {"uri": req.checkpoint.uri, "resume": req.checkpoint.resume} if req.checkpoint else None,
        "recipe": {"name": req.recipe.name, "path": req.recipe.path, "text": req.recipe.text},
        "origins": list(req.origins),
        "swhids": [s.core for s in req.swhids],
        "swhid_origins": [s.origin for s in req.swhids],
        "allow_missing": req.allow_missing,
        "tool_versions": tool_versions(
            req.recipe
        ),  # where the build was launched (Dataflow's workers run the same image)
        "optouts": [{"request": r.to_audit_dict(), "line": r.line, "source": r.source} for r in req.optouts],
    }
