"""Finishing a build: check that its run is complete (every shard set whole, the manifest matching
``report.json``), within its failure budget and not empty of what was requested; write the card, the HTML
report, the recipe and the opt-out audit; then publish the run as the output's current version (or roll it
back). ``stack-v2 finish`` runs this when the launcher did not wait for the pipeline."""

from __future__ import annotations

import json
import time

import pyarrow.parquet as pq

from stack_v2 import storage
from stack_v2.budget import describe_excess, nothing_listed
from stack_v2.budget import evaluate as evaluate_budget
from stack_v2.errors import StackV2Error
from stack_v2.io import publish
from stack_v2.io.card import write_card
from stack_v2.io.document_card import SourceCard, write_document_card
from stack_v2.io.layout import AUDIT_LOG, OUTPUTS
from stack_v2.io.parquet import write_parquet_atomic
from stack_v2.io.schema import DROPPED_SCHEMA, MANIFEST_SCHEMA
from stack_v2.optout.requests import audit_entry, parse_request
from stack_v2.recipe import Recipe, parse_recipe
from stack_v2.report_html import write_report_or_warn
from stack_v2.runs import RUN_INFO, SHARD, RunFailed, RunNotFinished, abandon, run_dir_of
from stack_v2.stages import optout, registry
from stack_v2.tool_versions import stages_off, tool_versions


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


# ---------------------------------------------------------------------------- the traversal's scratch
# build.construct gives the traversal (ListDefaultBranchFiles) this directory of the run for its bucket files of
# directory listings. Once the pipeline has finished nothing reads them, and no version may be published with them.
TRAVERSAL_SCRATCH = ".traversal"


def delete_traversal_scratch(run_dir: str) -> None:
    storage.delete(storage.join(run_dir, TRAVERSAL_SCRATCH))


# ------------------------------------------------------------------------------------------------------------


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
    the shards' completeness (only without ``result``, the runner's word that the pipeline succeeded), the requested
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
        has_content = "fetch_decode" in recipe.stage_names or recipe.document_source is not None
        check_complete(run_dir, report, has_content=has_content)
    delete_traversal_scratch(run_dir)
    publish.acquire(output_dir, run_id, "finish" if result is None else "build")
    try:
        report = _complete_run(run_dir, report, recipe, info, result)
        publish.publish(output_dir, run_id, OUTPUTS)
    except BaseException as exc:
        abandon(output_dir, run_id, exc)
        raise
    publish.release(output_dir, run_id)
    return report


def _complete_run(run_dir: str, report: dict, recipe: Recipe, info: dict, result) -> dict:
    """Everything finish_build writes into the run directory before publishing it; raises RunFailed when the
    run must not be published (report.json then says why)."""
    _complete_empty_tables(run_dir)
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
    _write_card(storage.join(run_dir, "README.md"), report, recipe)
    write_report_or_warn(run_dir)  # report/index.html and the card's plots; a plotting failure only warns
    storage.write_text(storage.join(run_dir, "recipe.yaml"), recipe.text)  # manifest regenerate re-renders the card
    return report


def _write_card(path: str, report: dict, recipe: Recipe) -> None:
    """The code build's card, or a document source's (its rules and counts from its entry in sources)."""
    sections, notes = registry.card_parts(report, recipe.stage_names)
    source = recipe.document_source
    if source is None:
        write_card(path, report, recipe, sections, notes)
        return
    card = SourceCard(source.name, source.title, source.meta_fields, source.card(report), source.notes, source.terms)
    write_document_card(path, report, recipe, card, sections, notes)


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
        match = SHARD.match(path.rsplit("/", 1)[-1])
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
