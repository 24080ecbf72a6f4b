"""The build: archive in; Parquet shards, SWHID manifest, dropped table, report and card out.

Layout of the output directory (fixed):
    data/<language>/train-NNNNN-of-MMMMM.parquet   the-stack-v2 columns + content
    manifest/part-NNNNN-of-MMMMM.parquet           the-stack-v2 columns + swhid
    dropped/part-NNNNN-of-MMMMM.parquet            blob_id, repo_name, path, stage, outcome, reason, detail
    report.json                                    files and bytes per stage and reason, checked
    README.md                                      dataset card

The pipeline writes into ``<output>/.run-<id>/``; only a run that finished replaces the previous
outputs, so a crashed run never leaves a dataset that looks complete.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

import apache_beam as beam

from stack_v2.archive.location import ArchiveLocation
from stack_v2.archive.traverse import PROBLEMS, ListDefaultBranchFiles
from stack_v2.errors import StackV2Error
from stack_v2.io import report as rep
from stack_v2.io.card import write_card
from stack_v2.io.metrics_report import metrics_check
from stack_v2.io.parquet import WriteShardedParquet, write_parquet_atomic
from stack_v2.io.rows import data_row, dropped_dict, dropped_key, file_key, language_dir, manifest_row
from stack_v2.io.schema import DATA_SCHEMA, DROPPED_SCHEMA, MANIFEST_SCHEMA, STRUCTURED_NOTEBOOK_SCHEMA
from stack_v2.licenses.classify import load_permissive
from stack_v2.licenses.detect import default_cache_path
from stack_v2.recipe import Recipe
from stack_v2.runners import pipeline_options
from stack_v2.quality.rules import FILTERS
from stack_v2.stages.base import ApplyCore
from stack_v2.stages.exact_dedup import ExactDedup
from stack_v2.stages.fetch_decode import FetchDecode, FetchDecodeConfig
from stack_v2.stages.language import make_classifier
from stack_v2.neardedup.minhash import MinHashConfig
from stack_v2.stages.license import ClassifyLicenses, LicenseConfig
from stack_v2.stages.near_dedup import NearDedup
from stack_v2.stages.decontaminate import Decontaminate
from stack_v2.stages.doc_language import DocLanguage
from stack_v2.stages.quality import QualityFilter, SelectLanguages
from stack_v2.regenerate import AUDIT_LOG, GROUPED, audit_entry
from stack_v2.report_html import REPORT_DIR, write_report_or_warn
from stack_v2.stages.pii import PiiConfig
from stack_v2.stages.pii import core_factory as pii_core_factory
from stack_v2.stages.malware import MalwareConfig, ScanMalware, malware_disabled_message
from stack_v2.stages.notebooks import SCRIPTS, STRUCTURED, ConvertNotebooks, NotebooksConfig
from stack_v2.stages.optout import STAGE as OPTOUT_STAGE
from stack_v2.stages.optout import OptOut
from stack_v2.stages.select_repos import SelectRepositories

# what a build writes (and a rebuild replaces, opt-out log and grouped manifest of earlier runs included)
OUTPUTS = ("data", "manifest", "dropped", "report.json", "README.md", "recipe.yaml", AUDIT_LOG, GROUPED,
           "jupyter-scripts", "jupyter-structured", REPORT_DIR)
NOTEBOOKS = "notebooks"


@dataclass(frozen=True)
class BuildRequest:
    location: ArchiveLocation
    output_dir: str
    recipe: Recipe
    origins: Sequence[str] = ()
    swhids: Sequence = ()
    optouts: Sequence = ()  # OptOutRequests honoured right after repository selection


def _stage_transform(spec, location: ArchiveLocation):
    if spec.name == "license":
        params = spec.params
        cache = default_cache_path() if params["cache_path"] == "default" else params["cache_path"]
        return ClassifyLicenses(location, LicenseConfig(float(params["deadline"]), int(params["max_bytes"]), cache,
                                                        params["permissive"], params["non_license"],
                                                        int(params["concurrency"])))  # fmt: skip
    if spec.name == "exact_dedup":
        return ExactDedup(load_permissive(spec.params["permissive"]))
    if spec.name == "fetch_decode":
        return FetchDecode(location, FetchDecodeConfig(spec.params["max_length"], spec.params["concurrency"]))
    if spec.name == "language":
        return ApplyCore("language", make_classifier)
    if spec.name == "near_dedup":
        params = dict(spec.params)
        batch_size = int(params.pop("batch_size"))
        return NearDedup(MinHashConfig(**params), batch_size)
    if spec.name == "select_languages":
        return SelectLanguages(spec.params)
    if spec.name in FILTERS:
        return QualityFilter(spec.name, spec.params)
    if spec.name == "decontaminate":
        return Decontaminate(spec.params)
    if spec.name == "pii":
        return ApplyCore("pii", pii_core_factory(PiiConfig(**spec.params)))
    if spec.name == "malware":
        return ScanMalware(MalwareConfig.from_params(spec.params))
    if spec.name == "doc_language":
        p = spec.params
        if not p["model_path"]:
            raise StackV2Error("stage doc_language: model_path is required (fastText's lid.176.bin or .ftz, by path)")
        return DocLanguage(p["model_path"], p["keep_languages"], float(p["min_probability"]))
    raise ValueError(f"no transform for stage {spec.name}")  # the recipe loader rejects unknown stages


_REPORT_NAMES = {"select_repositories": "select"}  # stage name in dropped/ and report.json


def _redaction_entries(record):
    """report.json's pii section: files redacted, and spans per type."""
    if record.pii_redactions:
        yield ("@pii", "files_redacted", ""), (1, 0)
        for kind, n in json.loads(record.pii_redactions).items():
            yield ("@pii", "spans", kind), (n, 0)


def _malware_enabled(params: dict) -> bool:
    """The malware stage runs only with a signature database or a clamd socket; else it says so and is left out."""
    if MalwareConfig.from_params(params).enabled:
        return True
    print(f"[stack-v2] {malware_disabled_message()}", file=sys.stderr)
    return False


def stage_label(name: str) -> str:
    return _REPORT_NAMES.get(name, name)


def construct(p: beam.Pipeline, req: BuildRequest, run_dir: str) -> None:
    """Add the whole build to pipeline ``p``, writing under ``run_dir``."""
    recipe = req.recipe
    listing = p | "List" >> ListDefaultBranchFiles(req.location, origins=req.origins, swhids=req.swhids)
    select = (listing["files"], listing[PROBLEMS]) | "Select" >> SelectRepositories(
        recipe.stage("select_repositories").params["repo_metadata"])  # fmt: skip
    counts = [
        rep.count_records(select["input"], "select", rep.INPUT),
        select["problems"] | "CountProblemInputs" >> beam.Map(lambda r: (("select", rep.INPUT, ""), (1, 0))),
        rep.count_records(select["kept"], "select", rep.KEPT),
    ]
    dropped = [select["dropped"]]
    records = select["kept"]
    stages = [(s.name, functools.partial(_stage_transform, s, req.location)) for s in recipe.stages[1:]
              if s.name != "malware" or _malware_enabled(s.params)]
    if req.optouts:
        stages.insert(0, (OPTOUT_STAGE, functools.partial(OptOut, list(req.optouts))))
    for name, make_transform in stages:
        if name == NOTEBOOKS:  # a branch with its own outputs, not a filter: records go on unchanged
            counts.append(_write_notebooks(records, recipe.stage(NOTEBOOKS).params, run_dir, recipe.output))
            continue
        label = stage_label(name)
        counts.append(rep.count_records(records, label, rep.INPUT))
        out = records | label >> make_transform()
        records = out["kept"]
        dropped.append(out["dropped"])
        if name == "pii":
            counts.append(records | "CountRedactions" >> beam.FlatMap(_redaction_entries))
        counts.append(rep.count_records(records, label, rep.KEPT))
        if "stats" in out:
            counts.append(out["stats"])
    all_dropped = tuple(dropped) | "AllDropped" >> beam.Flatten()
    counts.append(rep.count_dropped(all_dropped, "Dropped"))
    counts.append(rep.count_languages(records))
    stages = ["select"] + [stage_label(name) for name, _ in stages if name != NOTEBOOKS]
    tuple(counts) | "Counts" >> beam.Flatten() | "Report" >> rep.WriteReport(os.path.join(run_dir, "report.json"), stages)

    out = recipe.output
    has_content = "fetch_decode" in recipe.stage_names
    if has_content:
        (
            records
            | "DataRows" >> beam.Map(lambda r: (language_dir(r.language or "unknown"), data_row(r), len(r.content or "")))
            | "WriteData" >> WriteShardedParquet(os.path.join(run_dir, "data"), "train", DATA_SCHEMA, file_key,
                                                 target_bytes=out["target_shard_bytes"])  # fmt: skip
        )
    (
        records
        | "ManifestRows" >> beam.Map(lambda r: ("", manifest_row(r), 1))
        | "WriteManifest" >> WriteShardedParquet(os.path.join(run_dir, "manifest"), "part", MANIFEST_SCHEMA, file_key,
                                                 target_rows=out["manifest_rows_per_shard"])  # fmt: skip
    )
    (
        all_dropped
        | "DroppedRows" >> beam.Map(lambda r: ("", dropped_dict(r), 1))
        | "WriteDropped" >> WriteShardedParquet(os.path.join(run_dir, "dropped"), "part", DROPPED_SCHEMA, dropped_key,
                                                target_rows=out["dropped_rows_per_shard"])  # fmt: skip
    )


def _write_notebooks(records, params: dict, run_dir: str, out: dict):
    """Notebooks' scripts to jupyter-scripts/<language>/, Python notebooks' triplets to jupyter-structured/,
    notebooks with no script form to jupyter-scripts/dropped/; returns their counts for report.json."""
    config = NotebooksConfig(guesslang_model=params["guesslang_model"], structured=bool(params["structured"]))
    converted = records | "Notebooks" >> ConvertNotebooks(config)
    scripts_dir = os.path.join(run_dir, "jupyter-scripts")
    (
        converted[SCRIPTS]
        | "ScriptRows" >> beam.Map(lambda r: (language_dir(r.language or "unknown"), data_row(r), len(r.content or "")))
        | "WriteScripts" >> WriteShardedParquet(scripts_dir, "train", DATA_SCHEMA, file_key,
                                                target_bytes=out["target_shard_bytes"])  # fmt: skip
    )
    (
        converted[STRUCTURED]
        | "StructuredRows" >> beam.Map(lambda r: ("", r._asdict(), len(r.content)))
        | "WriteStructured" >> WriteShardedParquet(os.path.join(run_dir, "jupyter-structured"), "train",
                                                   STRUCTURED_NOTEBOOK_SCHEMA, file_key,
                                                   target_bytes=out["target_shard_bytes"])  # fmt: skip
    )
    (
        converted["dropped"]
        | "NotebookDroppedRows" >> beam.Map(lambda r: ("", dropped_dict(r), 1))
        | "WriteNotebookDropped" >> WriteShardedParquet(os.path.join(scripts_dir, "dropped"), "part", DROPPED_SCHEMA,
                                                        dropped_key, target_rows=out["dropped_rows_per_shard"])  # fmt: skip
    )
    return (
        converted[SCRIPTS] | "CountScripts" >> beam.Map(lambda r: (("@notebooks", "scripts", r.language), (1, 0))),
        converted[STRUCTURED] | "CountStructured" >> beam.Map(lambda r: (("@notebooks", "structured", ""), (1, 0))),
        converted["dropped"] | "CountNoScript" >> beam.Map(lambda d: (("@notebooks", d.outcome, d.reason), (1, 0))),
    ) | "NotebookCounts" >> beam.Flatten()


def run_build(req: BuildRequest, beam_args: Sequence[str] = ()) -> dict:
    """Run the build; on success the outputs replace any previous run's in ``req.output_dir``."""
    os.makedirs(req.output_dir, exist_ok=True)
    for stale in os.listdir(req.output_dir):  # leftovers of crashed runs
        if stale.startswith(".run-"):
            shutil.rmtree(os.path.join(req.output_dir, stale), ignore_errors=True)
    # Local paths absolute: workers may run with another working directory (a worker pool, a cluster).
    run_dir = os.path.join(os.path.abspath(req.output_dir), f".run-{uuid.uuid4().hex[:12]}")
    started = time.time()
    options = pipeline_options(beam_args)  # --runner DaskRunner and the other runners: stack_v2/runners.py
    with beam.Pipeline(options=options) as p:
        construct(p, replace(req, location=req.location.absolute()), run_dir)
    seconds = time.time() - started
    _complete_empty_tables(run_dir)
    with open(os.path.join(run_dir, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    report.update(metrics_check(p.result, report))  # the runner's Beam counters against the report's counts
    report["run"] = {"seconds": round(seconds, 3), "archive": req.location.describe(), "recipe": req.recipe.name,
                     "origins": list(req.origins), "swhids": [s.core for s in req.swhids]}  # fmt: skip
    if req.optouts:
        audit = write_build_audit(run_dir, req.optouts)
        report["optouts"] = {
            "files_removed": sum(a["files_removed"] for a in audit),
            "bytes_removed": sum(a["bytes_removed"] for a in audit),
            "repositories_removed": len({r for a in audit for r in a["repositories_removed"]}),
            "applications": [{"applied_at": audit[0]["applied_at"], "requests": len(audit),
                              "files_removed": sum(a["files_removed"] for a in audit),
                              "repositories_removed": len({r for a in audit for r in a["repositories_removed"]})}],
        }  # fmt: skip
    with open(os.path.join(run_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    write_card(os.path.join(run_dir, "README.md"), report, req.recipe)
    write_report_or_warn(run_dir)  # report/index.html and the card's plots; a plotting failure only warns
    with open(os.path.join(run_dir, "recipe.yaml"), "w", encoding="utf-8") as f:
        f.write(req.recipe.text)  # the recipe as run: manifest regenerate re-renders the card with it
    _replace_outputs(run_dir, req.output_dir)
    return report


def write_build_audit(run_dir: str, requests) -> list[dict]:
    """optout-audit.jsonl for a build: per request, the files and repositories its drops removed."""
    import datetime as dt

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    dropped = pq.read_table(os.path.join(run_dir, "dropped"), columns=["stage", "repo_name", "detail", "length_bytes"])
    dropped = dropped.filter(pc.equal(dropped.column("stage"), OPTOUT_STAGE)).to_pylist()
    applied_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    lines = []
    for request in requests:
        rows = [r for r in dropped if r["detail"] == f"request={request.describe()}"]
        lines.append(audit_entry(request, len(rows), sum(r["length_bytes"] or 0 for r in rows),
                                 sorted({r["repo_name"] for r in rows}), applied_at, "build"))  # fmt: skip
    with open(os.path.join(run_dir, AUDIT_LOG), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    return lines


def _complete_empty_tables(run_dir: str) -> None:
    """An empty manifest or dropped table still gets one (empty) shard with its schema."""
    for name, schema in (("manifest", MANIFEST_SCHEMA), ("dropped", DROPPED_SCHEMA)):
        directory = os.path.join(run_dir, name)
        if not os.path.isdir(directory) or not os.listdir(directory):
            write_parquet_atomic(os.path.join(directory, "part-00000-of-00001.parquet"), [], schema)


def _replace_outputs(run_dir: str, output_dir: str) -> None:
    for name in OUTPUTS:
        old = os.path.join(output_dir, name)
        if os.path.isdir(old):
            shutil.rmtree(old)
        elif os.path.exists(old):
            os.remove(old)
    for name in OUTPUTS:
        new = os.path.join(run_dir, name)
        if os.path.exists(new):
            os.replace(new, os.path.join(output_dir, name))
    shutil.rmtree(run_dir, ignore_errors=True)


def summary_table(report: dict) -> str:
    """The per-stage funnel as a text table (files and MB in, kept, dropped, failed)."""
    rows = [("stage", "in", "kept", "dropped", "failed", "MB in", "MB kept")]
    for st in report["stages"]:
        rows.append((st["stage"], *(f"{st[k]['files']:,}" for k in ("input", "kept", "dropped", "failed")),
                     f"{st['input']['bytes'] / 1e6:,.2f}", f"{st['kept']['bytes'] / 1e6:,.2f}"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join(lines)
