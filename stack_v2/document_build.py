"""The pipeline of a document source (``source:`` other than Software Heritage in a recipe): the source's
reader on the ``--input`` files, the recipe's shared stages, and the tables of ``io.document_tables``.

    <run dir>/data/train-NNNNN-of-MMMMM.parquet     the documents (content and the source's columns)
    <run dir>/manifest/part-NNNNN-of-MMMMM.parquet  the same rows without content
    <run dir>/dropped/part-NNNNN-of-MMMMM.parquet   every thread, line or file that did not make it, and why
    <run dir>/report.json                           the funnel, the source's own counts, checked

The reader's kept documents are its stage's output in the funnel (its input is what it counted itself);
opt-out requests are honoured right after it, by repository (``optout`` stage); identical documents are
reduced to one (``identical_documents``) before ``near_dedup``, which relies on that; the rest is the code
build's (``build.start_build`` submits it, ``finish.finish_build`` checks and publishes it).
"""

from __future__ import annotations

import functools
import os

import apache_beam as beam

from stack_v2.funnel import Funnel, apply_stages, made_stages
from stack_v2.io import report as rep
from stack_v2.io.document_tables import document_key, document_row, document_schema
from stack_v2.io.parquet import WriteShardedParquet
from stack_v2.io.rows import dropped_dict, dropped_key
from stack_v2.io.schema import DROPPED_SCHEMA
from stack_v2.sources import DocumentSource
from stack_v2.stages import identical_documents, optout, registry
from stack_v2.stages.stage import StageContext


def construct_documents(p: beam.Pipeline, source: DocumentSource, req, run_dir: str) -> list[str]:
    """Add a document source's whole build to ``p`` (``req``: a build.BuildRequest with ``inputs``); returns
    the funnel's stages."""
    recipe = req.recipe
    context = StageContext(req.location, run_dir, recipe.output, None)
    out = p | source.reader_stage >> source.read(list(req.inputs), context)
    funnel = Funnel(out["kept"], chain=[source.reader_stage], dropped=[out["dropped"]], counts=[out["stats"]])
    funnel.counted_as = [(source.reader_stage, rep.KEPT)]
    plan = [(registry.STAGES[s.name], registry.STAGES[s.name].config(s.params)) for s in recipe.stages]
    if req.optouts:
        plan.insert(0, (optout.DEFINITION, optout.OptOutConfig(tuple(req.optouts))))
    near = next((i for i, (stage, _) in enumerate(plan) if stage.name == "near_dedup"), None)
    if near is not None:  # near-dedup relies on one record per text: the code build's exact_dedup gives it that
        plan.insert(near, (identical_documents.DEFINITION, {}))
    funnel = apply_stages(funnel, made_stages(plan, context))
    documents = funnel.records
    funnel.counts.append(rep.count_records(documents, funnel.counted_as, languages=True))
    all_dropped = tuple(funnel.dropped) | "AllDropped" >> beam.Flatten()
    funnel.counts.append(rep.count_dropped(all_dropped, "Dropped"))
    (
        tuple(funnel.counts)
        | "Counts" >> beam.Flatten()
        | "Report" >> rep.WriteReport(os.path.join(run_dir, "report.json"), funnel.chain, ())
    )
    names = [name for name, _, _ in source.meta_fields]
    output = recipe.output
    # Documents move to the data writers as they are, content compressed (stack_v2/packed_text.py).
    (
        documents
        | "DataRows" >> beam.Map(lambda d: ("", d, len(d.content)))
        | "WriteData"
        >> WriteShardedParquet(
            os.path.join(run_dir, "data"),
            "train",
            document_schema(source.meta_fields, content=True),
            document_key,
            target_bytes=output["target_shard_bytes"],
            to_row=functools.partial(document_row, meta_names=names, content=True),
        )
    )
    (
        documents
        | "ManifestRows" >> beam.Map(lambda d: ("", document_row(d, names, content=False), 1))
        | "WriteManifest"
        >> WriteShardedParquet(
            os.path.join(run_dir, "manifest"),
            "part",
            document_schema(source.meta_fields, content=False),
            document_key,
            target_rows=output["manifest_rows_per_shard"],
        )
    )
    (
        all_dropped
        | "DroppedRows" >> beam.Map(lambda r: ("", dropped_dict(r), 1))
        | "WriteDropped"
        >> WriteShardedParquet(
            os.path.join(run_dir, "dropped"),
            "part",
            DROPPED_SCHEMA,
            dropped_key,
            target_rows=output["dropped_rows_per_shard"],
        )
    )
    return funnel.chain
