"""The record of the sources that are not repository files (GitHub issues, pull requests, Kaggle notebooks,
documentation): one training document with the fields the shared stages read.

The shared stage cores (decontamination, PII redaction, near-dedup, opt-outs) read a record's
``content``, ``path``, ``blob_id``, ``content_id``, ``repo_name``, ``origin``, ``language`` and
``length_bytes`` and set ``content`` and ``pii_redactions``; a ``Document`` has exactly those, so the
stages run on it unchanged. What is particular to a source (an issue's number and counts, a notebook's
kernel ids) is ``meta``, a JSON object the source's writer turns into columns.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple, Optional

import apache_beam as beam

from stack_v2.packed_text import reduce_packed


class Document(NamedTuple):
    blob_id: str  # sha1 of the document as the source made it (before redaction): its id in dropped/
    content_id: str  # the source's stable name of it, e.g. "github-issue:owner/repo#12"
    repo_name: Optional[str]  # owner/repo on GitHub, when the document belongs to a repository
    origin: Optional[str]  # the repository's URL (opt-outs match it), or None
    path: str  # where in its source, e.g. "issues/12", a notebook's file, a package member
    language: str  # the source's name for near-dedup and the card, e.g. "GitHub Issues"
    content: str
    length_bytes: int  # of the content as the source made it, UTF-8
    pii_redactions: Optional[str]  # set by the pii stage (JSON counts per type), None when nothing
    meta: str  # JSON object of the source's own fields

    def __reduce__(self):  # content pickles compressed: stack_v2/packed_text.py
        return reduce_packed(self, _CONTENT)


_CONTENT = Document._fields.index("content")
beam.coders.registry.register_coder(Document, beam.coders.RowCoder)


def sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()
