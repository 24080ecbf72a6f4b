"""``stack-v2 export``: a dataset's current version -> training documents, published atomically.

The output is a directory of versions like a dataset's (``stack_v2.io.publish``): the export writes
``versions/<id>/`` (``data/train-*.parquet``, ``packed/`` with ``pack``, ``report.json``, ``README.md``,
``report.html``) under the output's lock and then moves the ``current`` pointer, so a reader sees the previous
export or the new one, never a mix; a failed export publishes nothing and an output it created is removed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace

import apache_beam as beam
import yaml

from stack_v2 import storage
from stack_v2.errors import StackV2Error
from stack_v2.io import publish
from stack_v2.runners import pipeline_options
from stack_v2.sources import SOFTWARE_HERITAGE
from stack_v2.training.format import FormatConfig
from stack_v2.training.pipeline import ExportJob, construct, read_stats
from stack_v2.training.report import build_report, card_text, html_text

OUTPUTS = ("data", "packed", "report.json", "README.md", "report.html")
COMMAND = "export"


@dataclass(frozen=True)
class ExportRequest:
    dataset: str  # a dataset root (its current version is read) or a version directory
    output: str
    config: FormatConfig = FormatConfig()
    tokenizer: str | None = None
    pack: bool = False
    archive: str | None = None  # fetch contents from this archive's content store, by the manifest's blob_id
    unsigned: bool = False
    shard_bytes: int = 256 * 1024 * 1024


def _shards(root: str, table: str) -> list[str]:
    uri = storage.join(root, table)
    paths = storage.list_files(uri, ".parquet")
    if storage.is_remote(uri):
        prefix = storage.scheme(uri) + "://"
        return [prefix + p for p in paths]
    return paths


def _source_of(root: str, dataset: str) -> str:
    """The recipe's ``source:`` (software-heritage or a document source), from the recipe.yaml a build writes."""
    try:
        text = storage.read_text(storage.join(root, "recipe.yaml"))
    except FileNotFoundError:
        raise StackV2Error(f"dataset {dataset}: no recipe.yaml (not the output of stack-v2 build)") from None
    raw = yaml.safe_load(text) or {}
    return str(raw.get("source", SOFTWARE_HERITAGE))


def check_tokenizer(path: str, config: FormatConfig):
    """Load the tokenizer (one line naming it when it cannot be read) and check that every sentinel is one of
    its special tokens: otherwise the sentinels would be split into pieces and counted as text."""
    from stack_v2.tokens.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(path)
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    missing = [s for s in config.sentinels.all() if s not in special]
    if missing:
        raise StackV2Error(f"tokenizer {path}: {', '.join(missing)} not among its special tokens")
    return tokenizer


def _check_output(output: str, dataset: str) -> None:
    if output.rstrip("/") == dataset.rstrip("/"):
        raise StackV2Error(f"--output {output}: must differ from --dataset")
    version = publish.current_version(output)
    if version is None:
        others = [n for n in storage.list_names(output) if n not in (publish.VERSIONS, publish.LOCK)]
        if others:  # files of something else: never adopted or overwritten
            raise StackV2Error(f"--output {output}: not empty and not an export ({', '.join(others[:3])}, ...)")
        return
    try:
        report = json.loads(storage.read_text(storage.join(publish.version_dir(output, version), "report.json")))
    except (FileNotFoundError, ValueError):
        report = {}
    if COMMAND not in report:  # publishing here would delete another kind of dataset's versions
        raise StackV2Error(f"--output {output}: holds a dataset that is not an export; choose another directory")


def export(req: ExportRequest, beam_args=()) -> dict:
    """Run the export; returns its report (also written to ``<output>/report.json``)."""
    dataset = storage.absolute(storage.check_uri(req.dataset, "dataset"))
    output = storage.absolute(storage.check_uri(req.output))
    if not storage.is_dir(dataset):
        raise StackV2Error(f"dataset {req.dataset}: no such directory")
    dataset_version = publish.current_version(dataset)
    root = publish.version_dir(dataset, dataset_version) if dataset_version else dataset  # read as one whole
    source = _source_of(root, req.dataset)
    is_code = source == SOFTWARE_HERITAGE
    if req.archive is not None and not is_code:
        raise StackV2Error(
            f"--archive: dataset {req.dataset} is a {source} dataset, whose contents are in its data shards"
        )
    table = "manifest" if req.archive is not None else "data"
    inputs = _shards(root, table)
    if not inputs:
        hint = "" if req.archive is not None else " (a manifest-only copy? --archive URI fetches the contents)"
        raise StackV2Error(f"dataset {req.dataset}: no {table} shards under {root}{hint}")
    tokenizer = check_tokenizer(req.tokenizer, req.config) if req.tokenizer else None
    if req.pack and tokenizer is None:
        raise StackV2Error("--pack: needs --tokenizer (packed shards hold token ids)")
    _check_output(output, dataset)
    options = pipeline_options(beam_args)
    content_uri = None
    if req.archive is not None:
        from stack_v2.archive.location import ArchiveLocation

        content_uri = ArchiveLocation(req.archive, unsigned=req.unsigned).absolute().content_uri()
    created = not storage.exists(output)
    version = publish.new_version_id()
    publish.acquire(output, version, COMMAND)
    run_dir = publish.version_dir(output, version)
    job = ExportJob(
        inputs=tuple(inputs),
        output_dir=run_dir,
        source=source,
        is_code=is_code,
        config=req.config,
        content_uri=content_uri,
        unsigned=req.unsigned,
        tokenizer=req.tokenizer,
        pack=req.pack,
        shard_bytes=req.shard_bytes,
        stats_path=storage.join(run_dir, ".export-stats.json"),
    )
    published = False
    try:
        _run(job, options, req.dataset)
        stats = read_stats(job.stats_path)
        storage.delete(job.stats_path)
        report = build_report(
            stats,
            replace(req, dataset=dataset, output=output),
            source=source,
            dataset_version=dataset_version,
            content_from="archive" if req.archive is not None else "data shards",
            tokenizer=tokenizer,
        )
        storage.write_text(storage.join(run_dir, "report.json"), json.dumps(report, indent=2) + "\n")
        storage.write_text(storage.join(run_dir, "README.md"), card_text(report))
        storage.write_text(storage.join(run_dir, "report.html"), html_text(report))
        publish.publish(output, version, OUTPUTS)
        published = True
        return report
    finally:
        if not published:
            storage.delete(run_dir)
        publish.release(output, version)
        if not published and created:
            storage.delete(output)


def _run(job: ExportJob, options, dataset: str) -> None:
    beam_log = logging.getLogger("apache_beam")
    level = beam_log.level
    if beam_log.getEffectiveLevel() > logging.INFO:  # a worker's error is reported once, below, not as a traceback
        beam_log.setLevel(logging.CRITICAL)
    try:
        with beam.Pipeline(options=options) as p:
            construct(p, job)
    except Exception as exc:
        cause = _stack_v2_error(exc)
        if cause is None:
            raise  # a bug: keeps its traceback
        raise StackV2Error(f"export of {dataset}: {cause}") from exc
    finally:
        beam_log.setLevel(level)


def _stack_v2_error(exc: BaseException) -> str | None:
    """The one-line message of the StackV2Error a worker raised (a missing blob, an unreadable shard):
    runners re-raise it wrapped (DirectRunner as a RuntimeError caused by it, with the step's name)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StackV2Error):
            return " ".join(str(exc).split())
        exc = exc.__cause__ or exc.__context__
    return None
