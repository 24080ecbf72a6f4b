"""The documentation source as Beam transforms: package distributions -> documentation pages as ``Document``s
(the rules are ``stack_v2.package_docs``'s).

``ReadPackageDocs(files)`` spreads the distributions (sdists ``.tar.gz``/``.zip``, wheels ``.whl``) over the
workers, reads each whole (a distribution is a few MB) and extracts its documentation: one document per
documentation file, README and long description. Outcomes, in stage ``package_docs``:

- a document per page, its ``path`` ``<distribution>:<member>``;
- a documentation member left out (binary, undecodable, too large, empty, not convertible) is dropped or
  failed by its rule, under the same path;
- a distribution that cannot be read, or has no package metadata, fails by its file name.

A document's ``language`` is ``<package> documentation``: with the recipe's ``near_dedup`` stage at its
default scope (by language), pages are deduplicated within their package at the paper's 0.7 threshold (the
paper deduplicated within each documentation website).
"""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows

from stack_v2 import storage
from stack_v2.counters import count_outcome
from stack_v2.documents import Document, sha1_hex
from stack_v2.package_docs.extract import PackageDoc, PackageDocs, extract_docs
from stack_v2.records import DroppedRow
from stack_v2.stages.base import DROPPED, STATS, error_detail
from stack_v2.verdicts import INPUT, KEPT, Fail, outcome_of

STAGE = "package_docs"
SUFFIXES = (".tar.gz", ".tgz", ".zip", ".whl")


def _document(doc: PackageDoc) -> Document:
    meta = {"package": doc.package, "version": doc.version, "kind": doc.kind, "content_type": doc.content_type}
    return Document(
        blob_id=sha1_hex(doc.content),
        content_id=f"package-doc:{doc.archive}:{doc.path}",
        repo_name=None,
        origin=None,
        path=f"{doc.archive}:{doc.path}",
        language=f"{doc.package} documentation",
        content=doc.content,
        length_bytes=len(doc.content.encode("utf-8")),
        pii_redactions=None,
        meta=json.dumps(meta, ensure_ascii=False, sort_keys=True),
    )


class _Extract(beam.DoFn):
    def start_bundle(self):
        self._input = 0

    def finish_bundle(self):
        if self._input:
            yield pvalue.TaggedOutput(STATS, GlobalWindows.windowed_value(((STAGE, INPUT, ""), (self._input, 0))))

    def _out(self, where: str, verdict):
        self._input += 1
        outcome = outcome_of(verdict)
        count_outcome(STAGE, outcome, verdict.reason, 0)
        return pvalue.TaggedOutput(
            DROPPED, DroppedRow(None, None, where, STAGE, outcome, verdict.reason, verdict.detail, 0)
        )

    def process(self, uri: str):
        name = storage.basename(uri)
        try:
            result = extract_docs(name, storage.read_bytes(uri))
        except Exception as exc:  # an unreadable file, or a bug: the distribution fails by name
            result = Fail("unreadable_archive", error_detail(exc))
        if not isinstance(result, PackageDocs):
            yield self._out(name, result)
            return
        for member, verdict in result.skipped:
            yield self._out(f"{name}:{member}", verdict)
        for doc in result.docs:
            self._input += 1
            document = _document(doc)
            count_outcome(STAGE, KEPT, "", document.length_bytes)
            yield document


class ReadPackageDocs(beam.PTransform):
    """Distribution URIs -> {'kept': Document, 'dropped': DroppedRow, 'stats': report entries}."""

    def __init__(self, files: list[str]):
        super().__init__()
        self._files = sorted(files)

    def expand(self, pbegin):
        out = (
            pbegin
            | "Distributions" >> beam.Create(self._files)
            | "SpreadDistributions" >> beam.Reshuffle()
            | "Extract" >> beam.ParDo(_Extract()).with_outputs(DROPPED, STATS, main="kept")
        )
        return {"kept": out.kept, "dropped": out[DROPPED], STATS: out[STATS]}
