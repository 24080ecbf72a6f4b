"""Regenerate a dataset's manifest and shards from an existing build, applying opt-out requests.

No stage of the build runs again. A Beam pipeline (so it scales with the dataset, one shard per work
item) does it in two passes over the Parquet shards:

1. the manifest shards' distinct (repo_name, origin) pairs are matched against the requests (origins
   come from the SWHID's ``origin=`` qualifier); the opted-out repository names, few even for a large
   release, become a side input;
2. every manifest and data shard is read once: a shard without an opted-out repository is linked (or
   copied) unchanged, the others are rewritten without those rows, under the same name and schema.

Removed files go to ``dropped/`` (stage ``optout``, reason ``opted_out``, the request in the detail);
``report.json`` gains (or extends) an ``optout`` stage so the accounting still holds; the card says how
many requests and files; ``optout-audit.jsonl`` gets one line per request (the request as written,
files and repositories removed, when). ``--group-by-repo`` also writes ``manifest-by-repo/``, the
repository-grouped form of the train sets (docs/the-stack-v2.md §11.4).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections import defaultdict
from collections.abc import Sequence

import apache_beam as beam
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from stack_v2.errors import StackV2Error
from stack_v2.io import publish
from stack_v2.io.card import write_card
from stack_v2.io.grouped import WriteRepoManifest
from stack_v2.io.layout import AUDIT_LOG, GROUPED, OUTPUTS
from stack_v2.io.parquet import WriteShardedParquet, write_parquet_atomic
from stack_v2.io.report import accounting_violations
from stack_v2.io.rows import dropped_key
from stack_v2.io.schema import DROPPED_SCHEMA
from stack_v2.optout.match import OptOutMatcher
from stack_v2.optout.requests import OptOutRequest, audit_entry
from stack_v2.report_html import write_report_or_warn
from stack_v2.runners import pipeline_options
from stack_v2.stages import registry
from stack_v2.stages.optout import REASON, STAGE  # the same stage and reason in dropped/ as a build's
from stack_v2.swhids import swhid_origin

# A SWHID without its per-file parts (core id, path): the same for every file of a repository visit.
_PER_FILE_PARTS = r"^swh:1:cnt:[0-9a-f]{40}|;path=[^;]*"
_REWRITTEN_TABLES = ("manifest", "data")
_HANDLED = {"manifest", "data", "dropped", "report.json", "README.md", AUDIT_LOG, GROUPED}


def _shards(dataset: str, table: str) -> list[str]:
    root = os.path.join(dataset, table)
    found = []
    for directory, _dirs, files in os.walk(root):
        found += [os.path.relpath(os.path.join(directory, f), dataset) for f in files if f.endswith(".parquet")]
    return sorted(found)


class _FindOptedOut(beam.DoFn):
    """A manifest shard -> (repo_name, request index) for each opted-out repository in it."""

    def __init__(self, dataset: str, requests: list[OptOutRequest]):
        self._dataset, self._requests = dataset, requests

    def setup(self):
        self._matcher = OptOutMatcher(self._requests)
        self._index = {id(r): i for i, r in enumerate(self._matcher.requests)}

    def process(self, rel: str):
        table = pl.from_arrow(pq.read_table(os.path.join(self._dataset, rel), columns=["repo_name", "swhid"]))
        # swh.model's parser costs ~0.1 ms: it reads one SWHID per repository visit, not one per file.
        visits = table.with_columns(pl.col("swhid").str.replace_all(_PER_FILE_PARTS, "").alias("_visit"))
        samples = visits.unique(subset=["repo_name", "_visit"]).select("repo_name", "swhid")
        pairs = {(repo_name, swhid_origin(swhid)) for repo_name, swhid in samples.iter_rows()}
        for repo_name, origin in pairs:
            request = self._matcher.matches(repo_name, origin)
            if request is not None:
                yield repo_name, self._index[id(request)]


def _link_or_copy(src: str, dst: str) -> None:
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.link(src, dst)  # unchanged shards are not rewritten, not even copied when the disk allows
    except OSError:
        shutil.copy2(src, dst)


class _RewriteShard(beam.DoFn):
    """A shard -> the same shard under ``run_dir`` without opted-out rows; removed rows (manifest only)
    as dropped rows and counts; kept manifest rows for the repository-grouped form when asked."""

    KEPT_ROWS = "kept_rows"
    REMOVED = "removed"

    def __init__(self, dataset: str, run_dir: str, requests: list[OptOutRequest], group_by_repo: bool):
        self._dataset, self._run_dir, self._requests, self._group = dataset, run_dir, requests, group_by_repo

    def process(self, rel: str, opted_out: dict):
        src, dst = os.path.join(self._dataset, rel), os.path.join(self._run_dir, rel)
        is_manifest = rel.startswith("manifest" + os.sep)
        names = pq.read_schema(src).names
        removed_mask = None
        if opted_out:
            repos = pq.read_table(src, columns=["repo_name"]).column("repo_name")
            removed_mask = pa.compute.is_in(repos, value_set=pa.array(sorted(opted_out), pa.string()))
            removed_mask = removed_mask.fill_null(False)
        any_removed = removed_mask is not None and pa.compute.any(removed_mask).as_py()
        if not any_removed:
            _link_or_copy(src, dst)
            table = pq.read_table(src) if (is_manifest and self._group) else None
        else:
            full = pq.read_table(src)
            table = full.filter(pa.compute.invert(removed_mask))
            write_parquet_atomic(dst, table.to_pylist(), full.schema)
            if is_manifest:
                gone = full.filter(removed_mask).select(
                    [c for c in ("blob_id", "repo_name", "path", "length_bytes", "language") if c in names]
                )
                for row in gone.to_pylist():
                    request = self._requests[opted_out[row["repo_name"]]]
                    yield beam.pvalue.TaggedOutput(self.REMOVED, (opted_out[row["repo_name"]], row, request.describe()))
        if is_manifest and self._group and table is not None:
            for row in table.to_pylist():
                yield beam.pvalue.TaggedOutput(self.KEPT_ROWS, (row["repo_name"], row))


def _dropped_row(element) -> tuple:
    _index, row, described = element
    return (
        "",
        {
            "blob_id": row["blob_id"],
            "repo_name": row["repo_name"],
            "path": row["path"],
            "stage": STAGE,
            "outcome": "dropped",
            "reason": REASON,
            "detail": f"request={described}",
            "length_bytes": row.get("length_bytes"),
        },
        1,
    )


class _WriteStats(beam.DoFn):
    def __init__(self, path: str):
        self._path = path

    def process(self, entries):
        stats: dict = {"requests": defaultdict(lambda: [0, 0, set()]), "languages": defaultdict(lambda: [0, 0])}
        for index, row, _described in entries:
            per = stats["requests"][index]
            per[0] += 1
            per[1] += row.get("length_bytes") or 0
            per[2].add(row["repo_name"])
            lang = stats["languages"][row.get("language") or "unknown"]
            lang[0] += 1
            lang[1] += row.get("length_bytes") or 0
        out = {
            "requests": {
                str(i): {"files": f, "bytes": b, "repositories": sorted(r)}
                for i, (f, b, r) in stats["requests"].items()
            },
            "languages": {k: {"files": f, "bytes": b} for k, (f, b) in stats["languages"].items()},
        }
        with open(self._path, "w", encoding="utf-8") as f:
            json.dump(out, f)


def _construct(p, dataset: str, run_dir: str, requests: list[OptOutRequest], group_by_repo: bool, stamp: str):
    manifest_shards = _shards(dataset, "manifest")
    all_shards = [rel for table in _REWRITTEN_TABLES for rel in _shards(dataset, table)]
    opted_out = (
        p
        | "ManifestShards" >> beam.Create(manifest_shards)
        | "FindOptedOut" >> beam.ParDo(_FindOptedOut(dataset, requests))
        | "OneRequestPerRepo" >> beam.CombinePerKey(min)  # the first request in file order names it
    )
    rewritten = (
        p
        | "AllShards" >> beam.Create(all_shards)
        | "Rewrite"
        >> beam.ParDo(
            _RewriteShard(dataset, run_dir, requests, group_by_repo), beam.pvalue.AsDict(opted_out)
        ).with_outputs(_RewriteShard.REMOVED, _RewriteShard.KEPT_ROWS)
    )
    removed = rewritten[_RewriteShard.REMOVED]
    (
        removed
        | "DroppedRows" >> beam.Map(_dropped_row)
        | "WriteDropped"
        >> WriteShardedParquet(
            os.path.join(run_dir, "dropped"), f"optout-{stamp}", DROPPED_SCHEMA, dropped_key, target_rows=1_000_000
        )
    )
    (
        removed
        | "AllRemoved" >> beam.combiners.ToList()
        | "WriteStats" >> beam.ParDo(_WriteStats(os.path.join(run_dir, ".optout-stats.json")))
    )
    if group_by_repo:
        rewritten[_RewriteShard.KEPT_ROWS] | "Grouped" >> WriteRepoManifest(run_dir)


def _audit_lines(dataset: str) -> list[dict]:
    path = os.path.join(dataset, AUDIT_LOG)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _updated_report(report: dict, stats: dict, requests: list[OptOutRequest], applied_at: str) -> dict:
    files = sum(s["files"] for s in stats["requests"].values())
    nbytes = sum(s["bytes"] for s in stats["requests"].values())
    stages = report["stages"]
    last = stages[-1] if stages else None
    if last is not None and last["stage"] == STAGE:  # a later application extends the same stage
        stage = last
    else:
        kept = dict(last["kept"]) if last else {"files": 0, "bytes": 0}
        stage = {
            "stage": STAGE,
            "input": kept,
            "kept": dict(kept),
            "dropped": {"files": 0, "bytes": 0},
            "failed": {"files": 0, "bytes": 0},
            "reasons": {"dropped": {}, "failed": {}},
        }
        stages.append(stage)
    stage["kept"] = {"files": stage["kept"]["files"] - files, "bytes": stage["kept"]["bytes"] - nbytes}
    stage["dropped"] = {"files": stage["dropped"]["files"] + files, "bytes": stage["dropped"]["bytes"] + nbytes}
    reason = stage["reasons"]["dropped"].setdefault(REASON, {"files": 0, "bytes": 0})
    reason["files"] += files
    reason["bytes"] += nbytes
    totals = report["totals"]
    totals["kept"] = dict(stage["kept"])
    totals["dropped"] = {"files": totals["dropped"]["files"] + files, "bytes": totals["dropped"]["bytes"] + nbytes}
    for language, c in stats["languages"].items():
        entry = report.get("languages", {}).get(language)
        if entry:
            entry["files"] -= c["files"]
            entry["bytes"] -= c["bytes"]
            if entry["files"] <= 0:
                del report["languages"][language]
    section = report.setdefault(
        "optouts", {"files_removed": 0, "bytes_removed": 0, "repositories_removed": 0, "applications": []}
    )
    repos = {r for s in stats["requests"].values() for r in s["repositories"]}
    section["files_removed"] += files
    section["bytes_removed"] += nbytes
    section["repositories_removed"] += len(repos)
    section["applications"].append(
        {
            "applied_at": applied_at,
            "requests": len(requests),
            "files_removed": files,
            "repositories_removed": len(repos),
        }
    )
    if files:  # `stack-v2 tokens` counted files that are gone: no count rather than a wrong one
        report.pop("tokens", None)
    violations = accounting_violations(report)
    report["accounting"] = "ok" if not violations else violations
    return report


def _recipe_of(dataset: str, report: dict):
    from stack_v2.recipe import load_recipe

    saved = os.path.join(dataset, "recipe.yaml")
    return load_recipe(saved if os.path.isfile(saved) else report.get("run", {}).get("recipe"))


def regenerate(
    dataset: str,
    output: str,
    requests: list[OptOutRequest],
    *,
    group_by_repo: bool = False,
    beam_args: Sequence[str] = (),
    only_if_changed: bool = False,
) -> dict:
    """Write ``output`` from ``dataset`` without the opted-out repositories; returns a summary.

    ``output`` may be ``dataset`` itself (in place). ``manifest-by-repo/`` is written with ``group_by_repo``
    or when ``dataset`` has it. Either way the new outputs are a new version of
    ``output``, published at the end under its lock (``io.publish``), so a reader never sees a mix.
    With ``only_if_changed``, nothing is written when no file is removed and every request is already in
    the audit log (applying the same requests twice changes nothing).
    """

    dataset, output = os.path.abspath(dataset), os.path.abspath(output)
    source = publish.resolve(dataset)  # the current version, read as one whole
    report_path = os.path.join(source, "report.json")
    if not os.path.isdir(os.path.join(source, "manifest")) or not os.path.isfile(report_path):
        raise StackV2Error(f"dataset {dataset}: no manifest/ or report.json (not a stack-v2 build output)")
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    # a dataset that has the grouped manifest (a train recipe's build) keeps it, rewritten without the opt-outs
    write_grouped = group_by_repo or os.path.isdir(os.path.join(source, GROUPED))
    options = pipeline_options(beam_args)  # the runner: stack_v2/runners.py
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    version = publish.new_version_id()
    publish.acquire(output, version, "optout apply" if output == dataset else "manifest regenerate")
    run_dir = publish.version_dir(output, version)
    published = False
    try:
        publish.check_layout(output, OUTPUTS)
        source = publish.resolve(dataset)  # again: adopting a flat dataset in place moved its files
        with beam.Pipeline(options=options) as p:
            _construct(p, source, run_dir, requests, write_grouped, stamp)
        with open(os.path.join(run_dir, ".optout-stats.json"), encoding="utf-8") as f:
            stats = json.load(f)
        os.remove(os.path.join(run_dir, ".optout-stats.json"))
        removed = sum(s["files"] for s in stats["requests"].values())
        audit = _audit_lines(source)
        seen = {json.dumps(line.get("request"), sort_keys=True) for line in audit}
        new_requests = [r for r in requests if json.dumps(r.to_audit_dict(), sort_keys=True) not in seen]
        summary = {
            "files_removed": removed,
            "bytes_removed": sum(s["bytes"] for s in stats["requests"].values()),
            "repositories_removed": len({r for s in stats["requests"].values() for r in s["repositories"]}),
            "requests": len(requests),
            "new_requests": len(new_requests),
            "changed": True,
        }
        if only_if_changed and removed == 0 and not new_requests and output == dataset and not group_by_repo:
            summary["changed"] = False
            return summary
        applied_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        for entry in os.listdir(source):  # everything else (dropped/, recipe, other outputs) as it was
            if entry.startswith(".") or entry == "run.json" or (entry in _HANDLED and entry != "dropped"):
                continue
            src = os.path.join(source, entry)
            if os.path.isdir(src):
                for directory, _dirs, files in os.walk(src):
                    for name in files:
                        path = os.path.join(directory, name)
                        _link_or_copy(path, os.path.join(run_dir, os.path.relpath(path, source)))
            else:
                _link_or_copy(src, os.path.join(run_dir, entry))
        report = _updated_report(report, stats, requests, applied_at)
        with open(os.path.join(run_dir, "report.json"), "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        recipe = _recipe_of(source, report)
        write_card(os.path.join(run_dir, "README.md"), report, recipe, *registry.card_parts(report, recipe.stage_names))
        write_report_or_warn(run_dir)  # the plots follow the opt-outs (the report/ copied above is the old one)
        with open(os.path.join(run_dir, AUDIT_LOG), "w", encoding="utf-8") as f:
            for line in audit:
                f.write(json.dumps(line) + "\n")
            for index, request in enumerate(requests):
                s = stats["requests"].get(str(index), {"files": 0, "bytes": 0, "repositories": []})
                entry = audit_entry(
                    request, s["files"], s["bytes"], s["repositories"], applied_at, os.path.basename(output)
                )
                f.write(json.dumps(entry) + "\n")
        # Opt-outs are a legal duty: the version that still holds the removed files is not kept.
        publish.publish(output, version, OUTPUTS, keep_previous=False)
        published = True
        return summary
    finally:
        if not published:
            shutil.rmtree(run_dir, ignore_errors=True)
        publish.release(output, version)
