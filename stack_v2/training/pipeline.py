"""The export's Beam pipeline: a dataset's files -> training documents in Parquet shards (and packed tokens).

1. Read: one work item per input shard, either a data shard (its ``repo_name``, ``path``, ``language``,
   ``content`` columns) or, with an archive, a manifest shard whose contents ``stack_v2.loader.load_files``
   fetches by blob_id, verified, decoded and redacted as the build did. A file that cannot round-trip
   (``format.leave_out_reason``) is counted and goes no further.
2. Group by repository (code datasets): the shuffle moves ``(repo_name, (path, language, content))`` per
   file, nothing else. Document datasets skip it: each record is a document.
3. Render (``format.render_repository``): a repository's documents, each a row keyed by a seeded hash of
   (repository, part), which orders documents within a shard in a seeded random order.
4. Write: documents go to ``data/train-NNNNN-of-MMMMM.parquet`` by a stable hash of their key (the second
   shuffle, each document's row once), the number of shards from their total size (one Combine); one worker
   writes a shard, counting its tokens piece by piece in one tokenization pass (and, with ``pack``, writing
   its packed token shard beside it).

Every step also emits counts (dicts of tuple keys), summed by one Combine and written to ``stats_path``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from stack_v2 import storage
from stack_v2.io.parquet import shard_name, stable_bucket, write_parquet_atomic
from stack_v2.training.format import (
    File,
    FormatConfig,
    hash64,
    is_fim_candidate,
    leave_out_reason,
    render_record,
    render_repository,
)

STATS = "stats"
SHARD_NAME = "train"
DOCUMENT_SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("repo_name", pa.string()),
        ("num_files", pa.int64()),
        ("num_tokens", pa.int64()),
        ("languages", pa.list_(pa.string())),
        ("fim_files", pa.int64()),
        ("has_metadata", pa.bool_()),
        ("part", pa.int64()),
        ("num_parts", pa.int64()),
        ("source", pa.string()),
        ("id", pa.string()),
    ]
)
_BATCH_ROWS = 1024
_TOKENIZE_DOCS = 64  # documents tokenized at once while writing: bounds the ids held


@dataclass(frozen=True)
class ExportJob:
    """What the pipeline needs, picklable for the workers."""

    inputs: tuple[str, ...]  # shard URIs: data shards, or manifest shards when content_uri is set
    output_dir: str  # the run's version directory
    source: str  # the dataset's source (software-heritage, github-issues, ...)
    is_code: bool  # files grouped by repository (else one document per record)
    config: FormatConfig
    content_uri: str | None = None  # fetch contents from this content store (manifest shards as input)
    unsigned: bool = False
    tokenizer: str | None = None
    pack: bool = False
    shard_bytes: int = 256 * 1024 * 1024
    stats_path: str = ""


def merge_counts(dicts) -> dict:
    total: Counter = Counter()
    for d in dicts:
        total.update(d)
    return dict(total)


def _doc_key(seed: int, *names: str) -> str:
    """Unique per document; sorting by it puts a shard's documents in a seeded random order."""
    return f"{hash64(seed, 'document', *names):016x}\0" + "\0".join(names)


class _Read(beam.DoFn):
    """An input shard -> (repo_name, (path, language, content)) per renderable file (code), or document rows."""

    def __init__(self, job: ExportJob):
        self._job = job

    def _rows(self, uri: str):
        job = self._job
        if job.content_uri is not None:
            from stack_v2.loader import load_files  # the build's own fetch, verification, decoding and redaction

            yield from load_files(
                uri, job.content_uri, columns=["repo_name", "path", "language"], unsigned=job.unsigned
            )
            return
        columns = ["repo_name", "path", "language"] if job.is_code else ["content_id", "repo_name"]
        fs, path = storage.filesystem(uri)
        with fs.open_input_file(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=_BATCH_ROWS, columns=[*columns, "content"]):
                yield from batch.to_pylist()

    def process(self, uri: str):
        job, counts = self._job, Counter()
        s = job.config.sentinels
        for row in self._rows(uri):
            content = row["content"]
            nbytes = len(content.encode("utf-8", "surrogatepass"))
            counts["files_in"] += 1
            counts["bytes_in"] += nbytes
            reason = leave_out_reason(s, row.get("repo_name"), row.get("path") if job.is_code else None, content)
            if reason is not None:
                counts[("left_out", reason, "files")] += 1
                counts[("left_out", reason, "bytes")] += nbytes
                continue
            counts["files"] += 1
            counts["bytes"] += nbytes
            if job.is_code:
                yield row["repo_name"], (row["path"], row["language"], content)  # a plain tuple: cheap to encode
            else:
                document = render_record(content, None, job.config)
                counts["documents"] += 1
                key, out = _row(document, _doc_key(job.config.seed, row["content_id"]), job.source, row["content_id"])
                out["repo_name"] = row.get("repo_name")  # the repository an issue or PR belongs to; no header
                yield beam.pvalue.TaggedOutput("documents", (key, out))
        yield beam.pvalue.TaggedOutput(STATS, dict(counts))


def _row(document, key: str, source: str, doc_id: str) -> tuple[str, dict]:
    text = document.text
    ends, at = [], 0
    for piece in document.pieces:
        at += len(piece)
        ends.append(at)
    row = {
        "text": text,
        "repo_name": document.repo_name,
        "num_files": document.num_files,
        "num_tokens": None,
        "languages": sorted({lang for lang in document.languages if lang is not None}),
        "fim_files": document.fim_files,
        "has_metadata": document.has_metadata,
        "part": document.part,
        "num_parts": document.num_parts,
        "source": source,
        "id": doc_id,
        "_piece_ends": ends,  # for token counts per piece (language), dropped when written
        "_piece_languages": document.languages,
    }
    return key, row


class _Render(beam.DoFn):
    """(repo_name, files) -> its documents as (key, row); counts."""

    def __init__(self, job: ExportJob):
        self._job = job

    def process(self, element):
        repo_name, files = element
        job = self._job
        documents = render_repository(repo_name, [File(*f) for f in files], job.config)
        counts: Counter = Counter()
        for document in documents:
            yield _row(document, _doc_key(job.config.seed, repo_name, str(document.part)), job.source, repo_name)
            counts["documents"] += 1
            counts["metadata_documents"] += document.has_metadata
            counts["fim_files"] += document.fim_files
            counts["fim_spm"] += document.fim_spm
        if documents:
            counts["repositories"] += 1
            counts["metadata_repositories"] += documents[0].has_metadata
            counts["split_repositories"] += len(documents) > 1
            counts["fim_candidate_repositories"] += is_fim_candidate(job.config, repo_name)
        yield beam.pvalue.TaggedOutput(STATS, dict(counts))


class _WriteShard(beam.DoFn):
    """((index, count), [(key, row)]) -> one Parquet shard (rows sorted by key), its packed token shard with
    ``pack``; counts, tokens per language included."""

    def __init__(self, job: ExportJob):
        self._job = job

    def setup(self):
        self._tokenizer = None
        if self._job.tokenizer:
            from stack_v2.tokens.tokenizer import load_tokenizer

            self._tokenizer = load_tokenizer(self._job.tokenizer)

    def process(self, element):
        (index, count), keyed = element
        job = self._job
        rows = [row for _, row in sorted((kv for kv in keyed if kv is not None), key=lambda kv: kv[0])]
        counts: Counter = Counter()
        name = shard_name(SHARD_NAME, index, count)
        writer = None
        if job.pack:
            from stack_v2.tokens.packed import PackedShardWriter

            vocab = self._tokenizer.get_vocab_size(with_added_tokens=True)
            writer = PackedShardWriter(storage.join(job.output_dir, "packed", name[: -len(".parquet")]), vocab)
        for start in range(0, len(rows), _TOKENIZE_DOCS):
            batch = rows[start : start + _TOKENIZE_DOCS]
            if self._tokenizer is not None:
                self._count_tokens(batch, writer, counts)
        for row in rows:
            counts["bytes_out"] += len(row["text"].encode("utf-8", "surrogatepass"))
            del row["_piece_ends"], row["_piece_languages"]
        if writer is not None:
            writer.close()
        write_parquet_atomic(storage.join(job.output_dir, "data", name), rows, DOCUMENT_SCHEMA)
        counts["shards"] += 1
        yield dict(counts)

    def _count_tokens(self, rows: list[dict], writer, counts: Counter) -> None:
        from stack_v2.tokens.tokenizer import encode

        pieces, owners = [], []
        for i, row in enumerate(rows):
            begin = 0
            for end, language in zip(row["_piece_ends"], row["_piece_languages"]):
                pieces.append(row["text"][begin:end])
                owners.append((i, language))
                begin = end
        ids: list[list[int]] = [[] for _ in rows]
        # Each piece starts with a special token, which the tokenizer splits out before anything else: the
        # document's ids are its pieces' ids one after the other (tests check it against the whole text).
        for (i, language), piece_ids in zip(owners, encode(self._tokenizer, pieces)):
            ids[i] += piece_ids
            counts[("tokens", language or "")] += len(piece_ids)
        for row, doc_ids in zip(rows, ids):
            row["num_tokens"] = len(doc_ids)
            if writer is not None:
                writer.add(doc_ids)


class _WriteStats(beam.DoFn):
    def __init__(self, path: str):
        self._path = path

    def process(self, counts: dict):
        items = [[list(k) if isinstance(k, tuple) else [k], v] for k, v in sorted(counts.items(), key=str)]
        storage.write_text(self._path, json.dumps(items) + "\n")


def read_stats(path: str) -> dict:
    """The pipeline's summed counts, tuple keys restored (one-part keys are plain strings)."""
    items = json.loads(storage.read_text(path))
    return {(tuple(k) if len(k) > 1 else k[0]): v for k, v in items}


def construct(p, job: ExportJob) -> None:
    read = (
        p
        | "Inputs" >> beam.Create(list(job.inputs))
        | "Spread" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(_Read(job)).with_outputs(STATS, "documents", main="files")
    )
    stats = [read[STATS]]
    if job.is_code:
        rendered = (
            read.files
            | "ByRepository" >> beam.GroupByKey()
            | "Render" >> beam.ParDo(_Render(job)).with_outputs(STATS, main="documents")
        )
        documents = rendered.documents
        stats.append(rendered[STATS])
    else:
        documents = read.documents
    target = max(1, job.shard_bytes)
    shard_count = (
        documents
        | "Sizes" >> beam.MapTuple(lambda key, row: len(row["text"]))
        | "Total" >> beam.CombineGlobally(sum)
        | "ShardCount" >> beam.Map(lambda total: max(1, -(-total // target)))
    )

    def assign(item, count):
        key, _row = item
        return (stable_bucket(key, count), count), item

    # Every shard of the count is written, empty ones too, so the names have no gaps.
    every_shard = shard_count | "EveryShard" >> beam.FlatMap(lambda count: [((i, count), None) for i in range(count)])
    written = (
        (documents | "Assign" >> beam.Map(assign, beam.pvalue.AsSingleton(shard_count)), every_shard)
        | "WithEveryShard" >> beam.Flatten()
        | "ByShard" >> beam.GroupByKey()
        | "Write" >> beam.ParDo(_WriteShard(job))
    )
    stats.append(written)
    (
        stats
        | "AllStats" >> beam.Flatten()
        | "SumStats" >> beam.CombineGlobally(merge_counts)
        | "WriteStats" >> beam.ParDo(_WriteStats(job.stats_path))
    )
