"""PII redaction (docs/the-stack-v2.md §8.1): the shards hold redacted content, the manifest the counts.

The core replaces emails, public IP addresses, keys and passwords (and names, when an NER model is given)
with ``stack_v2.pii.redact`` and records what it did in ``pii_redactions``: a compact JSON of counts per
type, e.g. ``{"email":2,"ip_address":1}``, or None when nothing was redacted. Nothing is dropped.

A notebook (a path ending ``.ipynb``: go-enry's ``Jupyter Notebook`` is that extension) is redacted in the
text of its cells and outputs and stays valid notebook JSON (``stack_v2.pii.notebook``); the recipes run
this stage before ``notebooks``, so its scripts and structured forms are made from the redacted notebook.
The decision is the path's, as ``redact`` takes it, so the raw blob and its path reproduce the shard.

A trainer who downloads the raw blob named by a manifest row gets the shard's content back with
``redact(raw_text, seed_key=row.blob_id, path=row.path)`` (``seed_key_of`` below; same ``REDACTOR_VERSION``
and detect-secrets version). ``length_bytes`` and the content statistics still describe the original blob,
which is what ``blob_id`` names.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

from stack_v2.params import Float, Optional, Path, Str, param
from stack_v2.pii import REDACTOR_VERSION, counts_json, redact
from stack_v2.records import FileRecord
from stack_v2.stages.base import ApplyCore
from stack_v2.stages.stage import Stage

STAGE = "pii"


@dataclass(frozen=True, slots=True)
class PiiConfig:
    ner_model: str | None = param(None, Optional(Path()))  # a token-classification model directory; None: no names
    ner_device: str = param("cpu", Str())  # a torch device: cpu, cuda, cuda:0, ...
    ner_min_score: float = param(0.5, Float(0, 1))


def seed_key_of(record) -> str:
    """What IP replacements are keyed on: the blob id (sha1), or the sha1_git when the blob id is unknown."""
    return record.blob_id or record.content_id


class PiiRedactor:
    """FileRecord -> the record with redacted ``content`` and ``pii_redactions`` set."""

    def __init__(self, config: PiiConfig):
        self._names = None
        if config.ner_model:
            from stack_v2.pii.ner import NameDetector

            self._names = NameDetector(config.ner_model, min_score=config.ner_min_score, device=config.ner_device)

    def __call__(self, record: FileRecord) -> FileRecord:
        if record.content is None:
            return record._replace(pii_redactions=None)
        text, counts = redact(record.content, seed_key=seed_key_of(record), path=record.path, name_detector=self._names)
        return record._replace(content=text, pii_redactions=counts_json(counts))


def make_redactor(config: PiiConfig = PiiConfig()) -> PiiRedactor:
    """The stage's core (call it once per worker: ``ApplyCore`` does, in ``DoFn.setup``)."""
    return PiiRedactor(config)


def core_factory(config: PiiConfig = PiiConfig()) -> Callable[[], PiiRedactor]:
    """A picklable ``make_core`` for ``ApplyCore(STAGE, ...)``."""
    return functools.partial(make_redactor, config)


def _redaction_entries(record: FileRecord):
    """report.json's pii section: files redacted, and spans per type."""
    if record.pii_redactions:
        yield ("@pii", "files_redacted", ""), (1, 0)
        for kind, n in json.loads(record.pii_redactions).items():
            yield ("@pii", "spans", kind), (n, 0)


def RedactPii(config: PiiConfig = PiiConfig()) -> ApplyCore:
    """FileRecord -> {'kept': redacted records, 'dropped', 'stats': redaction counts for report.json}."""
    return ApplyCore(STAGE, core_factory(config), stats=_redaction_entries)


def card_section(report: dict) -> list[str]:
    """The card's section on the redaction."""
    pii = report.get("pii")
    if not pii:
        return []
    lines: list[str] = []
    spans = pii.get("spans", {})
    lines += [
        "",
        "## PII redaction",
        "",
        f"{pii.get('files_redacted', {}).get('all', 0):,} files had personal data or secrets replaced "
        "(`<EMAIL>`, `<KEY>`, `<PASSWORD>`, `<NAME>`, public IPs by one of five private addresses), "
        f"with stack-v2's redactor version {REDACTOR_VERSION} and detect-secrets "
        f"{version('detect-secrets')}; the manifest's `pii_redactions` gives the counts per file, and "
        "`stack_v2.loader` re-applies the same redaction to blobs fetched from the archive.",
        "",
        "| type | spans |",
        "|---|---:|",
    ]
    for kind, n in spans.items():
        lines.append(f"| {kind} | {n:,} |")
    return lines


DEFINITION = Stage(
    STAGE, lambda config, context: RedactPii(config), PiiConfig, requires=("fetch_decode",), card=card_section
)
