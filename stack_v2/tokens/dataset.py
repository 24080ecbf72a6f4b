"""``stack-v2 tokens``: count a dataset's tokens with a tokenizer, and publish them as a new version.

A Beam pipeline reads the current version's data shards, one shard per work item, batch by batch: each
file's text (``content``; ``text`` in an export) is encoded and its tokens counted per (language, source).
The per-shard counts are combined with ``CombinePerKey(sum)``, a few numbers per language, so no text is
ever shuffled. With ``pack``, the same work item writes the shard's token ids as a packed shard
(``tokens.packed``), one document per row, in row order; ``index.json`` beside them lists the shards in
data-shard order, written last.

The counts go into ``report.json`` (``tokens``, shaped by ``tokens.summary``), the card (``README.md``) and
the HTML report, in a new version of the dataset published as ``regenerate`` publishes its own: every other
file of the current version is hard-linked into it (copied where links are impossible, server-side on
object stores), the lock held throughout, the pointer moved last; a failure deletes the new version and
leaves the current one as it was.

Language: the shards' ``language`` column when they have one (code datasets); a document dataset's records,
which have none, count under ``unknown``, as ``stack-v2 export`` counts them (``by_source`` names them).
Source: ``run.source`` of report.json, else ``source:`` of the dataset's recipe.yaml, else
``software-heritage``.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import apache_beam as beam
import pyarrow.parquet as pq
import yaml

from stack_v2 import storage
from stack_v2.errors import StackV2Error
from stack_v2.io import publish
from stack_v2.io.layout import OUTPUTS, REPORT_DIR
from stack_v2.io.token_card import embed_tokens
from stack_v2.runners import pipeline_options
from stack_v2.sources import SOFTWARE_HERITAGE
from stack_v2.tokens.summary import SECTION, TokenCounts, tokenizer_info
from stack_v2.tokens.tokenizer import encode, load_tokenizer

TEXT_COLUMNS = ("content", "text")  # a build's data shards, an export's
LANGUAGE_COLUMN = "language"
INDEX = "index.json"
INDEX_FORMAT = "stack-v2-packed-tokens-index"
BATCH_ROWS = 256  # rows read and encoded at once: memory is one batch of texts and their ids
_RESULTS = ".tokens-results.json"  # the pipeline's combined output, read back and deleted before publishing
_NOT_CARRIED = {"report.json", "README.md", "run.json", REPORT_DIR}  # rewritten (run.json: the build's own)


def data_shards(root: str) -> list[str]:
    """Paths relative to ``root`` (``/``-separated) of the Parquet shards under ``root/data``, sorted."""
    base = storage.join(root, "data")
    _, prefix = storage.filesystem(base)
    found = storage.list_files(base, ".parquet")
    return sorted("data/" + p[len(prefix) :].strip("/") for p in found if not p.rsplit("/", 1)[-1].startswith("_"))


def pack_prefix(pack_dir: str, rel: str) -> str:
    """Where the packed shard of data shard ``rel`` goes: its path under data/, without ``.parquet``."""
    return storage.join(pack_dir, *rel.removeprefix("data/").removesuffix(".parquet").split("/"))


def source_of(root: str, report: dict) -> str:
    source = (report.get("run") or {}).get("source")
    if source:
        return source
    recipe = storage.join(root, "recipe.yaml")
    if storage.exists(recipe):
        raw = yaml.safe_load(storage.read_text(recipe)) or {}
        if isinstance(raw, dict) and raw.get("source"):
            return str(raw["source"])
    return SOFTWARE_HERITAGE


class _CountShard(beam.DoFn):
    """A data shard -> ((language, source), tokens) per language in it, and (SHARD_STATS, one dict)."""

    SHARD_STATS = "shard_stats"

    def __init__(self, root: str, tokenizer: str, source: str, pack_dir: str | None):
        self._root, self._tokenizer, self._source, self._pack = root, tokenizer, source, pack_dir

    def setup(self):
        self._tok = load_tokenizer(self._tokenizer)  # once per worker process

    def process(self, rel: str):
        from stack_v2.tokens.packed import PackedShardWriter

        uri = storage.join(self._root, *rel.split("/"))
        fs, path = storage.filesystem(uri)
        counts = TokenCounts()
        rows = 0
        writer = PackedShardWriter(pack_prefix(self._pack, rel), self._tok.get_vocab_size()) if self._pack else None
        try:
            with fs.open_input_file(path) as f:
                parquet = pq.ParquetFile(f)
                names = parquet.schema_arrow.names
                text = next((c for c in TEXT_COLUMNS if c in names), None)
                if text is None:
                    raise StackV2Error(f"shard {uri}: no text column ({' or '.join(TEXT_COLUMNS)})")
                columns = [text] + ([LANGUAGE_COLUMN] if LANGUAGE_COLUMN in names else [])
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                    texts = [t or "" for t in batch.column(text).to_pylist()]
                    langs = (
                        batch.column(LANGUAGE_COLUMN).to_pylist() if LANGUAGE_COLUMN in columns else [None] * len(texts)
                    )
                    for ids, language in zip(encode(self._tok, texts), langs, strict=True):
                        counts.add(language, self._source, len(ids))
                        if writer is not None:
                            writer.add(ids)
                    rows += len(texts)
        except OSError as exc:
            raise StackV2Error(f"shard {uri}: cannot be read ({' '.join(str(exc).split())})") from exc
        meta = writer.close() if writer is not None else None
        yield from counts.counts.items()
        stats = {"shard": rel, "documents": rows, "tokens": counts.total, "packed": meta}
        yield beam.pvalue.TaggedOutput(self.SHARD_STATS, stats)


class _WriteResults(beam.DoFn):
    def __init__(self, path: str):
        self._path = path

    def process(self, element, shards):
        counts = [[language, source, n] for (language, source), n in element]
        storage.write_text(self._path, json.dumps({"counts": counts, "shards": shards}))


def _construct(p, root: str, shards: list[str], tokenizer: str, source: str, pack, out: str):
    counted = (
        p
        | "Shards" >> beam.Create(shards)
        | "Reshuffle" >> beam.Reshuffle()  # shard names only: spreads the shards over the workers
        | "Count"
        >> beam.ParDo(_CountShard(root, tokenizer, source, pack)).with_outputs(_CountShard.SHARD_STATS, main="counts")
    )
    shard_stats = counted[_CountShard.SHARD_STATS] | "AllShardStats" >> beam.combiners.ToList()
    (
        counted["counts"]
        | "Sum" >> beam.CombinePerKey(sum)
        | "AllCounts" >> beam.combiners.ToList()
        | "Write" >> beam.ParDo(_WriteResults(out), beam.pvalue.AsSingleton(shard_stats))
    )


def _carry(source: str, run_dir: str) -> None:
    """Every file of ``source`` but the rewritten ones into ``run_dir``: hard links locally (unchanged
    shards are not copied), server-side copies on object stores."""
    for name in storage.list_names(source):
        if name.startswith(".") or name in _NOT_CARRIED:
            continue
        src, dst = storage.join(source, name), storage.join(run_dir, name)
        if storage.is_remote(source):
            storage.copy_tree(src, dst)
        elif os.path.isdir(src):
            for directory, _dirs, files in os.walk(src):
                for f in files:
                    path = os.path.join(directory, f)
                    _link(path, os.path.join(dst, os.path.relpath(path, src)))
        else:
            _link(src, dst)


def _link(src: str, dst: str) -> None:
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def _write_index(pack_dir: str, dataset: str, version: str, tok: dict, shards: list[dict]) -> str:
    entries = [
        {
            "prefix": s["shard"].removeprefix("data/").removesuffix(".parquet"),
            "shard": s["shard"],
            "documents": s["packed"]["documents"],
            "tokens": s["packed"]["tokens"],
        }
        for s in shards
    ]
    index = {
        "format": INDEX_FORMAT,
        "version": 1,
        "dataset": dataset,
        "dataset_version": version,
        "tokenizer": tok,
        "dtype": shards[0]["packed"]["dtype"] if shards else None,
        "documents": sum(e["documents"] for e in entries),
        "tokens": sum(e["tokens"] for e in entries),
        "shards": entries,
    }
    path = storage.join(pack_dir, INDEX)
    storage.write_text(path, json.dumps(index, indent=2) + "\n")
    return path


def count_dataset_tokens(dataset: str, tokenizer: str, *, pack: str | None = None, beam_args=()) -> dict:
    """Count ``dataset``'s tokens with ``tokenizer`` (a tokenizer.json), publish them in a new version, and
    with ``pack`` write packed token shards and their index there. Returns the ``tokens`` section plus
    ``version`` (the new version) and ``index`` (the pack's index file, or None)."""
    dataset = storage.absolute(storage.check_uri(dataset, "dataset"))
    pack = storage.absolute(storage.check_uri(pack, "--pack")) if pack else None
    tok = load_tokenizer(tokenizer if storage.is_remote(tokenizer) else os.path.abspath(tokenizer))
    info = tokenizer_info(tokenizer, tok)  # fails on an unreadable file before the dataset is locked
    options = pipeline_options(beam_args)
    if not storage.is_dir(dataset):
        raise StackV2Error(f"dataset {dataset}: no such directory")
    version = publish.new_version_id()
    publish.acquire(dataset, version, "tokens")
    run_dir = publish.version_dir(dataset, version)
    published = False
    try:
        publish.check_layout(dataset, OUTPUTS)
        source = publish.resolve(dataset)
        report_path = storage.join(source, "report.json")
        if not storage.exists(report_path):
            raise StackV2Error(f"dataset {dataset}: no report.json (not a stack-v2 dataset)")
        report = json.loads(storage.read_text(report_path))
        shards = data_shards(source)
        if not shards:
            raise StackV2Error(f"dataset {dataset}: no data/ shards to count (a manifest-only build has no content)")
        source_name = source_of(source, report)
        if pack:  # an index of an earlier run must not outlive the shards this run overwrites
            _prepare_pack(pack)
        results = storage.join(run_dir, _RESULTS)
        worker_tok = tokenizer if storage.is_remote(tokenizer) else os.path.abspath(tokenizer)
        try:
            with beam.Pipeline(options=options) as p:
                _construct(p, source, shards, worker_tok, source_name, pack, results)
        except Exception as exc:  # noqa: BLE001 - runners wrap a worker's error; the user gets its last line
            raise StackV2Error(f"tokens of {dataset}: {_last_line(exc)}") from exc
        out = json.loads(storage.read_text(results))
        storage.delete(results)
        counts = TokenCounts({(language, src): n for language, src, n in out["counts"]})
        per_shard = sorted(out["shards"], key=lambda s: s["shard"])
        section = counts.to_json(info)
        _carry(source, run_dir)
        report[SECTION] = section
        storage.write_text(storage.join(run_dir, "report.json"), json.dumps(report, indent=2) + "\n")
        card = storage.join(source, "README.md")
        if storage.exists(card):
            storage.write_text(storage.join(run_dir, "README.md"), storage.read_text(card))
            embed_tokens(storage.join(run_dir, "README.md"), section)
        _write_html(run_dir)
        publish.publish(dataset, version, OUTPUTS)
        published = True
        # last: an index names the version whose counts it matches, once that version is the current one
        index = _write_index(pack, dataset, version, info, per_shard) if pack else None
        return {**section, "version": version, "index": index, "shards": len(shards)}
    finally:
        if not published:
            storage.delete(run_dir)
        publish.release(dataset, version)


def _prepare_pack(pack: str) -> None:
    if not storage.is_remote(pack):
        try:
            os.makedirs(pack, exist_ok=True)
        except OSError as exc:
            raise StackV2Error(f"--pack {pack}: cannot be made a directory ({exc.strerror or exc})") from exc
    storage.delete(storage.join(pack, INDEX))


def _last_line(exc: BaseException) -> str:
    """A runner's error as one line: its last line, without Beam's ``[while running '...']``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    return re.sub(r"\s*\[while running '[^']*'\]\s*$", "", lines[-1])


def _write_html(run_dir: str) -> None:
    from stack_v2.report_html import write_report

    try:
        write_report(run_dir)  # the page and plots again, and the plots section of the card
    except StackV2Error:
        raise
    except Exception as exc:  # noqa: BLE001 - the version is not published without its report
        raise StackV2Error(f"HTML report of {run_dir}: {type(exc).__name__}: {exc}") from exc
