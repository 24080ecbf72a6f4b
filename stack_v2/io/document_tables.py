"""The tables of a document source's dataset (GitHub issues, and the other non-repository sources): data
shards with the documents, the manifest (the same rows without ``content``), in the Hugging Face layout
``data/train-NNNNN-of-MMMMM.parquet`` and ``manifest/part-NNNNN-of-MMMMM.parquet``. The dropped table is
the code build's (``io.schema.DROPPED_SCHEMA``).

Columns: the ``Document`` fields every source has, then the source's own (``meta_fields``: name, Arrow
type, meaning), then ``content`` in the data shards.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa

from stack_v2.documents import Document

COMMON_FIELDS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("content_id", pa.string(), "the source's stable name of the document, e.g. `github-issue:owner/repo#12`"),
    ("blob_id", pa.string(), "sha1 of the document as the source made it (before PII redaction)"),
    ("repo_name", pa.string(), "the GitHub repository it belongs to (`owner/repo`), or null"),
    ("path", pa.string(), "where in its source, e.g. `issues/12`"),
    ("length_bytes", pa.int64(), "UTF-8 bytes of the document before redaction"),
    ("pii_redactions", pa.string(), "JSON counts per type of what PII redaction replaced; null when nothing"),
)
CONTENT = ("content", pa.string(), "the document: the training text")

MetaFields = Sequence[tuple[str, pa.DataType, str]]


def document_schema(meta_fields: MetaFields, *, content: bool) -> pa.Schema:
    fields = [*COMMON_FIELDS, *meta_fields, *([CONTENT] if content else [])]
    return pa.schema([pa.field(name, kind) for name, kind, _ in fields])


def field_meanings(meta_fields: MetaFields) -> dict[str, str]:
    return {name: meaning for name, _, meaning in (*COMMON_FIELDS, *meta_fields, CONTENT)}


def document_row(document: Document, meta_names: Sequence[str], *, content: bool) -> dict:
    meta = json.loads(document.meta)
    row = {name: getattr(document, name) for name, _, _ in COMMON_FIELDS}
    row.update((name, meta.get(name)) for name in meta_names)
    if content:
        row["content"] = document.content
    return row


def document_key(row: dict) -> str:
    """Names a row for shard assignment and order: unique per document."""
    return row["content_id"]
