"""The build: archive in; Parquet shards, SWHID manifest, dropped table, report and card out.

Layout of a dataset version (fixed):
    data/<language>/train-NNNNN-of-MMMMM.parquet   the-stack-v2 columns + content
    manifest/part-NNNNN-of-MMMMM.parquet           the-stack-v2 columns + swhid
    dropped/part-NNNNN-of-MMMMM.parquet            blob_id, repo_name, path, stage, outcome, reason, detail
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
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import StandardOptions

from stack_v2 import progress, storage
from stack_v2.archive.location import ArchiveLocation
from stack_v2.archive.traverse import ListDefaultBranchFiles
from stack_v2.budget import describe_excess, nothing_listed
from stack_v2.budget import evaluate as evaluate_budget
from stack_v2.errors import StackV2Error
from stack_v2.io import publish
from stack_v2.io import report as rep
from stack_v2.io.card import write_card
from stack_v2.io.layout import AUDIT_LOG, OUTPUTS
from stack_v2.io.metrics_report import metrics_check
from stack_v2.io.parquet import WriteShardedParquet, write_parquet_atomic
from stack_v2.io.rows import data_row, dropped_dict, dropped_key, file_key, language_dir, manifest_row
from stack_v2.io.schema import DATA_SCHEMA, DROPPED_SCHEMA, MANIFEST_SCHEMA
from stack_v2.optout.requests import parse_request
from stack_v2.recipe import Recipe, parse_recipe
from stack_v2.regenerate import audit_entry
from stack_v2.report_html import write_report_or_warn
from stack_v2.runners import pipeline_options
from stack_v2.stages import optout, registry
from stack_v2.stages.stage import Stage, StageContext
from stack_v2.tool_versions import stages_off, tool_versions


@dataclass(frozen=True)
class BuildRequest:
    location: ArchiveLocation
    output_dir: str
    recipe: Recipe
    origins: Sequence[str] = ()
    swhids: Sequence = ()
    optouts: Sequence = ()  # OptOutRequests honoured right after repository selection
    allow_missing: bool = False  # requested origins or SWHIDs that yield nothing are reported, not fatal


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
    context = StageContext(req.location, run_dir, recipe.output)
    records = p | "List" >> ListDefaultBranchFiles(req.location, origins=req.origins, swhids=req.swhids)
    counts, dropped, chain = [], [], []
    for stage, config in planned_stages(req):
        if why := stage.why_off(config):
            print(f"[stack-v2] {why}", file=sys.stderr)
            continue
        out = records | stage.name >> stage.make(config, context)
        if not stage.branch:  # a branch writes outputs of its own and passes every record on
            chain.append(stage.name)
            counts.append(rep.count_records(out.get("input", records), stage.name, rep.INPUT))
            counts.append(rep.count_records(out["kept"], stage.name, rep.KEPT))
            dropped.append(out["dropped"])
        if "stats" in out:
            counts.append(out["stats"])
        records = out["kept"]
    all_dropped = tuple(dropped) | "AllDropped" >> beam.Flatten()
    counts.append(rep.count_dropped(all_dropped, "Dropped"))
    counts.append(rep.count_languages(records))
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
            | "DataRows"
            >> beam.Map(lambda r: (language_dir(r.language or "unknown"), data_row(r), len(r.content or "")))
            | "WriteData"
            >> WriteShardedParquet(
                os.path.join(run_dir, "data"), "train", DATA_SCHEMA, file_key, target_bytes=out["target_shard_bytes"]
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


RUN_INFO = "run.json"  # in the run directory: what finish_build needs when the launcher did not wait
_SHARD = re.compile(r"^(?P<name>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


class RunNotFinished(StackV2Error):
    """The run's pipeline has not finished (or failed): its report or some of its shards are missing."""


class RunFailed(StackV2Error):
    """The run ended without a dataset (pipeline error, failure budget, nothing found): it stays unpublished."""


@dataclass(frozen=True)
class StartedBuild:
    output_dir: str
    run_id: str
    result: object  # the runner's PipelineResult
    finished: bool  # False: submitted only (``wait=False``); ``stack-v2 finish`` completes it

    @property
    def run_dir(self) -> str:
        return run_dir_of(self.output_dir, self.run_id)


def run_dir_of(output_dir: str, run_id: str) -> str:
    """A run writes the version it may become: ``<output>/versions/<run id>/`` (io/publish.py)."""
    return publish.version_dir(output_dir, run_id)


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
            chain += construct(p, replace(req, location=req.location.absolute(), output_dir=output_dir), run_dir)
            watch.start()
            result = p.run()
            if wait:
                state = str(result.wait_until_finish() or getattr(result, "state", ""))
                if any(bad in state.upper() for bad in ("FAILED", "CANCELLED", "DRAINED")):
                    raise RunFailed(f"build of {output_dir}: the pipeline ended in state {state}")
    except BaseException as exc:
        _abandon(output_dir, run_id, exc)
        raise
    return StartedBuild(output_dir, run_id, result, finished=wait)


def _runs_here(options) -> bool:
    """Whether the runner's workers are on this machine (or may be), so that progress can reach us."""
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    return "Dataflow" not in str(runner)


def _abandon(output_dir: str, run_id: str, exc: BaseException) -> None:
    """A run that will not be published: say why in its run.json (kept for inspection), free the lock."""
    run_info = storage.join(run_dir_of(output_dir, run_id), RUN_INFO)
    try:
        info = json.loads(storage.read_text(run_info)) if storage.exists(run_info) else {"run_id": run_id}
        info.update(state="failed", error=" ".join(str(exc).split())[:2000] or type(exc).__name__)
        storage.write_text(run_info, json.dumps(info, indent=2) + "\n")
    except Exception:  # noqa: BLE001 - the store may be what failed; the lock matters more
        pass
    try:
        publish.release(output_dir, run_id)
    except Exception:  # noqa: BLE001 - a lock left behind by a dead process is taken over later
        pass


def _run_info(req: BuildRequest, run_id: str) -> dict:
    return {
        "run_id": run_id,
        "started_at": time.time(),
        "archive": req.location.describe(),
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


def find_run(output_dir: str, run_id: str | None = None) -> str:
    """``run_id`` if ``output_dir`` has that run; without one, the run holding the output's lock."""
    runs = publish.list_versions(output_dir)
    if run_id is None:
        holder = publish.read_lock(output_dir)
        if holder is None:
            raise StackV2Error(
                f"{output_dir}: no run to finish (no build holds the lock; versions there: {', '.join(runs) or 'none'})"
            )
        run_id = holder["run_id"]
    if run_id not in runs:
        raise StackV2Error(f"{output_dir}: no run {run_id!r} (runs there: {', '.join(runs) or 'none'})")
    return run_id


def _check_lock_free_for(output_dir: str, run_id: str) -> None:
    holder = publish.read_lock(output_dir)
    if holder is not None and holder.get("run_id") != run_id and not publish.is_stale(holder):
        raise publish.DatasetLocked(publish.describe_holder(output_dir, holder))


def rollback_build(output_dir: str, run_id: str | None = None) -> str:
    """Drop an unpublished run (its version directory) and free the lock it holds; returns its id."""
    output_dir = storage.absolute(output_dir)
    run_id = find_run(output_dir, run_id)
    if publish.current_version(output_dir) == run_id:
        raise StackV2Error(f"{output_dir}: run {run_id} is the current version already; nothing to roll back")
    _check_lock_free_for(output_dir, run_id)
    storage.delete(run_dir_of(output_dir, run_id))
    publish.release(output_dir, run_id)
    return run_id


def finish_build(output_dir: str, run_id: str | None = None, result=None) -> dict:
    """Turn a finished pipeline's run directory into the dataset: complete the tables, check the accounting,
    the runner's counters (``result``; without it, the shards are checked for completeness), the requested
    origins and the failure budget; write the card, the HTML report, the recipe and the opt-out log; then
    publish the run as the current version. A run past its budget, or one whose requested origins gave
    nothing, is not published: the previous dataset stays current and the run is kept for inspection."""
    output_dir = storage.absolute(output_dir)
    run_id = find_run(output_dir, run_id)
    run_dir = run_dir_of(output_dir, run_id)
    report_path = storage.join(run_dir, "report.json")
    if publish.current_version(output_dir) == run_id:  # published; the clean-up after it was interrupted
        holder = publish.read_lock(output_dir) or {}
        if holder.get("run_id") == run_id:
            publish.clean_up(output_dir, run_id, holder.get("replacing"))
            publish.release(output_dir, run_id)
        return json.loads(storage.read_text(report_path))
    _check_lock_free_for(output_dir, run_id)
    info = json.loads(storage.read_text(storage.join(run_dir, RUN_INFO)))
    if info.get("state") == "failed":
        raise RunFailed(f"{run_dir}: this run failed ({info.get('error', '')}); start a new build")
    recipe = parse_recipe(info["recipe"]["text"], info["recipe"]["path"])
    if not storage.exists(report_path):
        raise RunNotFinished(f"{run_dir}: no report.json yet: the pipeline has not finished (or it failed)")
    report = json.loads(storage.read_text(report_path))
    if result is None:
        check_complete(run_dir, report, has_content="fetch_decode" in recipe.stage_names)
    publish.acquire(output_dir, run_id, "finish" if result is None else "build")
    try:
        report = _complete_run(run_dir, report, recipe, info, result)
        publish.publish(output_dir, run_id, OUTPUTS)
    except BaseException as exc:
        _abandon(output_dir, run_id, exc)
        raise
    publish.release(output_dir, run_id)
    return report


def _complete_run(run_dir: str, report: dict, recipe: Recipe, info: dict, result) -> dict:
    """Everything finish_build writes into the run directory before publishing it; raises RunFailed when the
    run must not be published (report.json then says why)."""
    _complete_empty_tables(run_dir)
    report.update(
        metrics_check(result, report, registry.filter_stages())
    )  # the runner's Beam counters against the report's counts
    report["run"] = {
        "seconds": round(time.time() - info["started_at"], 3),
        "archive": info["archive"],
        "recipe": recipe.name,
        "origins": info["origins"],
        "swhids": info["swhids"],
    }
    report["tool_versions"] = info.get("tool_versions") or tool_versions(recipe)
    report["stages_off"] = stages_off(recipe)
    report["failure_budget"] = evaluate_budget(report, recipe.failure_budget)
    nothing = _requested_but_empty(run_dir, report, info)
    if nothing:
        report["requested_but_empty"] = nothing
    if (nothing and not info.get("allow_missing")) or report["failure_budget"]["exceeded"]:
        report["published"] = False
        storage.write_text(storage.join(run_dir, "report.json"), json.dumps(report, indent=2) + "\n")
        why = (
            f"requested but found nothing: {', '.join(nothing)} (--allow-missing builds without them)"
            if nothing and not info.get("allow_missing")
            else describe_excess(report["failure_budget"])
        )
        raise RunFailed(
            f"build not published, the previous dataset is unchanged: {why}; the run is kept in "
            f"{run_dir} (report.json, dropped/)"
        )
    optouts = [parse_request(o["request"], line=o["line"], source=o["source"]) for o in info["optouts"]]
    if optouts:
        audit = write_build_audit(run_dir, optouts)
        report["optouts"] = {
            "files_removed": sum(a["files_removed"] for a in audit),
            "bytes_removed": sum(a["bytes_removed"] for a in audit),
            "repositories_removed": len({r for a in audit for r in a["repositories_removed"]}),
            "applications": [
                {
                    "applied_at": audit[0]["applied_at"],
                    "requests": len(audit),
                    "files_removed": sum(a["files_removed"] for a in audit),
                    "repositories_removed": len({r for a in audit for r in a["repositories_removed"]}),
                }
            ],
        }
    storage.write_text(storage.join(run_dir, "report.json"), json.dumps(report, indent=2) + "\n")
    write_card(storage.join(run_dir, "README.md"), report, recipe, *registry.card_parts(report, recipe.stage_names))
    write_report_or_warn(run_dir)  # report/index.html and the card's plots; a plotting failure only warns
    storage.write_text(storage.join(run_dir, "recipe.yaml"), recipe.text)  # manifest regenerate re-renders the card
    return report


def _requested_but_empty(run_dir: str, report: dict, info: dict) -> list[str]:
    """The origins and SWHIDs the build was asked for that gave no file (a typo, an object not archived)."""
    requested = {origin: [origin] for origin in info["origins"]}
    for core, origin in zip(info["swhids"], info.get("swhid_origins") or [None] * len(info["swhids"])):
        requested[core] = [core, core.rsplit(":", 1)[-1], origin]
    if not requested:
        return []
    import pyarrow.compute as pc

    fs, path = storage.filesystem(storage.join(run_dir, "dropped"))
    table = pq.read_table(path, filesystem=fs, columns=["stage", "outcome", "reason", "detail"])
    table = table.filter(
        pc.and_(pc.equal(table.column("stage"), registry.FIRST), pc.equal(table.column("outcome"), "failed"))
    )
    problems = list(zip(table.column("detail").to_pylist(), table.column("reason").to_pylist()))
    nothing = nothing_listed(requested, problems)
    select = next((st for st in report["stages"] if st["stage"] == registry.FIRST), None)
    if select is not None and not nothing and select["kept"]["files"] + select["dropped"]["files"] == 0:
        nothing = [f"{subject} (no file listed)" for subject in requested]
    return nothing


def check_complete(run_dir: str, report: dict, has_content: bool) -> None:
    """Without the runner's word that the pipeline succeeded: every shard set under the run directory is
    whole (``-NNNNN-of-MMMMM``: all M present), and the manifest holds as many rows as report.json kept."""
    fs, root = storage.filesystem(run_dir)
    paths = storage.list_files(run_dir, ".parquet")
    sets: dict[tuple[str, str], tuple[int, set[int]]] = {}
    for path in paths:
        match = _SHARD.match(path.rsplit("/", 1)[-1])
        if match:
            key = (path.rsplit("/", 1)[0], match["name"])
            count, seen = sets.setdefault(key, (int(match["count"]), set()))
            seen.add(int(match["index"]))
    for (directory, name), (count, seen) in sorted(sets.items()):
        if len(seen) != count:
            where = directory[len(root) :].lstrip("/") or "."
            raise RunNotFinished(
                f"{run_dir}: {where} has {len(seen)} of {count} {name} shards: "
                "the pipeline has not finished (or it failed)"
            )
    kept = report["totals"]["kept"]["files"]
    for table in ("manifest", *(("data",) if has_content else ())):
        rows = sum(
            pq.ParquetFile(fs.open_input_file(p)).metadata.num_rows for p in paths if p.startswith(f"{root}/{table}/")
        )
        if rows != kept and (rows or kept):
            raise RunNotFinished(
                f"{run_dir}: {table}/ holds {rows:,} rows but report.json kept {kept:,} files: "
                "the pipeline has not finished (or it failed)"
            )


def write_build_audit(run_dir: str, requests) -> list[dict]:
    """optout-audit.jsonl for a build: per request, the files and repositories its drops removed."""
    import datetime as dt

    import pyarrow.compute as pc

    fs, path = storage.filesystem(storage.join(run_dir, "dropped"))
    dropped = pq.read_table(path, filesystem=fs, columns=["stage", "repo_name", "detail", "length_bytes"])
    dropped = dropped.filter(pc.equal(dropped.column("stage"), optout.STAGE)).to_pylist()
    applied_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    lines = []
    for request in requests:
        rows = [r for r in dropped if r["detail"] == f"request={request.describe()}"]
        lines.append(
            audit_entry(
                request,
                len(rows),
                sum(r["length_bytes"] or 0 for r in rows),
                sorted({r["repo_name"] for r in rows}),
                applied_at,
                "build",
            )
        )
    storage.write_text(storage.join(run_dir, AUDIT_LOG), "".join(json.dumps(line) + "\n" for line in lines))
    return lines


def _complete_empty_tables(run_dir: str) -> None:
    """An empty manifest or dropped table still gets one (empty) shard with its schema."""
    for name, schema in (("manifest", MANIFEST_SCHEMA), ("dropped", DROPPED_SCHEMA)):
        directory = storage.join(run_dir, name)
        if not storage.list_files(directory, ".parquet"):
            write_parquet_atomic(storage.join(directory, "part-00000-of-00001.parquet"), [], schema)


def summary_table(report: dict) -> str:
    """The per-stage funnel as a text table (files and MB in, kept, dropped, failed)."""
    rows = [("stage", "in", "kept", "dropped", "failed", "MB in", "MB kept")]
    for st in report["stages"]:
        rows.append(
            (
                st["stage"],
                *(f"{st[k]['files']:,}" for k in ("input", "kept", "dropped", "failed")),
                f"{st['input']['bytes'] / 1e6:,.2f}",
                f"{st['kept']['bytes'] / 1e6:,.2f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join(lines)
