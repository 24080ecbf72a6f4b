"""Identical documents: one kept, the others dropped, before a document source's near-dedup.

The code build removes identical files in ``exact_dedup`` before ``near_dedup``, which then relies on each
blob id being one record. A document source has no such stage, and the same text does arrive twice (a
README in an sdist and as the wheel's long description; a notebook forked unchanged), so the build runs
this one right before ``near_dedup``: documents are grouped by ``blob_id`` (the sha1 of their text) and the
one with the smallest ``content_id`` is kept; the others are dropped as ``identical``, naming it. An
identical pair is a near-duplicate pair at Jaccard 1.0, so this is the paper's near-dedup, done exactly.
"""

from __future__ import annotations

import apache_beam as beam

from stack_v2.params import Parameters
from stack_v2.stages.base import DROPPED, Drop, routed
from stack_v2.stages.stage import Stage

STAGE = "identical_documents"


def _decide(keyed):
    _, documents = keyed
    keeper, *others = sorted(documents, key=lambda d: d.content_id)
    yield from routed(STAGE, keeper, keeper)
    for document in others:
        yield from routed(STAGE, document, Drop("identical", f"keeper={keeper.content_id}"))


class DropIdenticalDocuments(beam.PTransform):
    """Document -> {'kept': one Document per text, 'dropped': DroppedRows of the others}."""

    def expand(self, documents):
        out = (
            documents
            | "ByText" >> beam.Map(lambda d: (d.blob_id, d))
            | "SameText" >> beam.GroupByKey()
            | "KeepOne" >> beam.FlatMap(_decide).with_outputs(DROPPED, main="kept")
        )
        return {"kept": out.kept, "dropped": out[DROPPED]}


# Not a recipe stage: a document build adds it before near_dedup (document_build.construct_documents).
DEFINITION = Stage(STAGE, lambda config, context: DropIdenticalDocuments(), parameters=Parameters({}))
