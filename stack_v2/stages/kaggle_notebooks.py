"""The Kaggle notebooks source as Beam transforms: Meta Kaggle Code notebooks + Meta Kaggle's tables -> scripts
as ``Document``s (the paper's §2.4; the rules are ``stack_v2.kaggle``'s).

``ReadKaggleNotebooks(files)`` takes the input files and sorts them by name: ``KernelVersions.csv``,
``KernelLanguages.csv``, ``KernelVersionDatasetSources.csv`` and ``DatasetVersions.csv`` are the tables (each
optional: without them, notebooks get no script id and no dataset text), every ``.ipynb`` is a notebook named
by its kernel version id. Each table is read as a stream by one worker (a CSV's quoted fields span lines, so
a file is not split); the tables are joined to the notebooks by kernel version id (dataset versions first by
their own id), so no table is held in memory except the small ``KernelLanguages``. Each notebook is then
decided (``decide_kaggle_notebook``): kept as a script, dropped with its rule, or failed (an unreadable
file, a notebook that is not JSON). Stage ``kaggle_notebooks``; a document's ``path`` is the notebook's.
The recipe's ``near_dedup`` stage runs after, as in the paper.
"""

from __future__ import annotations

import io
import json

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows

from stack_v2 import storage
from stack_v2.counters import count_outcome
from stack_v2.documents import Document, sha1_hex
from stack_v2.kaggle import metadata as tables
from stack_v2.kaggle.layout import kernel_version_id
from stack_v2.kaggle.script import KaggleScript, decide_kaggle_notebook
from stack_v2.records import DroppedRow
from stack_v2.stages.base import DROPPED, STATS, error_detail
from stack_v2.verdicts import INPUT, KEPT, Fail, outcome_of

STAGE = "kaggle_notebooks"
LANGUAGE = "Kaggle Notebooks"
TABLE_FILES = {
    f"{name}.csv": name
    for name in (tables.KERNEL_VERSIONS, tables.KERNEL_LANGUAGES, tables.DATASET_SOURCES, tables.DATASET_VERSIONS)
}


def _rows(uri: str, table: str):
    fs, path = storage.filesystem(uri)
    with fs.open_input_stream(path, compression="gzip" if uri.endswith(".gz") else None) as raw:
        yield from tables.read_rows(io.TextIOWrapper(raw, encoding="utf-8", newline=""), table)


def _read_notebook(uri: str):
    """(kernel version id, (path, text or None, why not)); a name without an id keys on the path."""
    name = storage.basename(uri)
    try:
        text, why = storage.read_bytes(uri).decode("utf-8"), ""
    except (OSError, UnicodeDecodeError) as exc:
        text, why = None, error_detail(exc)
    return kernel_version_id(name) or f"unnamed:{uri}", (name, text, why)


def _dataset_links(joined):
    """(dataset version id, {sources: kernel version ids, versions: its row}) -> (kernel version id, link)."""
    version_id, groups = joined
    found = next(iter(groups["versions"]), None)
    for kernel_id in groups["sources"]:
        yield kernel_id, (version_id, found)


class _Decide(beam.DoFn):
    """(kernel version id, {notebook, kernel, links}) -> the notebook's Document or DroppedRow; the notebooks
    are the stage's input, counted per bundle."""

    def start_bundle(self):
        self._input = [0, 0]

    def finish_bundle(self):
        if self._input[0]:
            yield pvalue.TaggedOutput(STATS, GlobalWindows.windowed_value(((STAGE, INPUT, ""), tuple(self._input))))

    def process(self, joined):
        _, groups = joined
        kernel = next(iter(groups["kernel"]), None)
        links = list(groups["links"])
        metadata = tables.kernel_metadata(kernel, [v for v, _ in links], {v: d for v, d in links if d is not None})
        for name, text, why in groups["notebook"]:
            count_outcome(STAGE, INPUT, "", len(text or ""))
            self._input[0] += 1
            if text is None:
                verdict = Fail("unreadable_file", why)
            else:
                try:
                    verdict = decide_kaggle_notebook(name, text, metadata)
                except Exception as exc:  # a bug must not lose the notebook
                    verdict = Fail("error", error_detail(exc))
            if isinstance(verdict, KaggleScript):
                document = _document(verdict, len(text.encode("utf-8")))
                count_outcome(STAGE, KEPT, "", document.length_bytes)
                yield document
            else:
                nbytes = len((text or "").encode("utf-8"))
                count_outcome(STAGE, outcome_of(verdict), verdict.reason, nbytes)
                row = DroppedRow(None, None, name, STAGE, outcome_of(verdict), verdict.reason, verdict.detail, nbytes)
                yield pvalue.TaggedOutput(DROPPED, row)


def _document(script: KaggleScript, notebook_bytes: int) -> Document:
    meta = {
        "kernel_version_id": script.kernel_version_id,
        "script_id": script.script_id,
        "dataset_ids": list(script.dataset_ids),
        "script_language": script.language,
        "template": script.template,
        "notebook_bytes": notebook_bytes,
    }
    return Document(
        blob_id=sha1_hex(script.content),
        content_id=f"kaggle-notebook:{script.kernel_version_id}",
        repo_name=None,
        origin=None,
        path=script.path,
        language=LANGUAGE,
        content=script.content,
        length_bytes=len(script.content.encode("utf-8")),
        pii_redactions=None,
        meta=json.dumps(meta, sort_keys=True),
    )


class ReadKaggleNotebooks(beam.PTransform):
    """Input file URIs -> {'kept': Document, 'dropped': DroppedRow, 'stats': report entries (input counted here)}."""

    def __init__(self, files: list[str]):
        super().__init__()
        self._tables = {TABLE_FILES[storage.basename(f)]: f for f in files if storage.basename(f) in TABLE_FILES}
        self._notebooks = sorted(f for f in files if f.endswith(".ipynb"))

    def _table(self, p, name: str, parse):
        uri = self._tables.get(name)
        return (
            p
            | f"{name}File" >> beam.Create([uri] if uri else [])
            | f"{name}Rows" >> beam.FlatMap(lambda u: (x for row in _rows(u, name) if (x := parse(row)) is not None))
        )

    def expand(self, pbegin):
        p = pbegin.pipeline
        languages = self._table(p, tables.KERNEL_LANGUAGES, lambda r: (tables.parse_id(r.get("Id")), r.get("Name")))
        kernels = self._table(p, tables.KERNEL_VERSIONS, lambda r: r) | "KernelVersion" >> beam.FlatMap(
            lambda row, names: [(k.id, k)] if (k := tables.kernel_version(row, names)) else [],
            beam.pvalue.AsDict(languages),
        )
        sources = self._table(p, tables.DATASET_SOURCES, tables.dataset_source) | "ByDatasetVersion" >> beam.Map(
            lambda link: (link[1], link[0])
        )
        versions = self._table(p, tables.DATASET_VERSIONS, tables.dataset_version) | "VersionById" >> beam.Map(
            lambda v: (v.id, v)
        )
        links = (
            {"sources": sources, "versions": versions}
            | "JoinDatasetVersions" >> beam.CoGroupByKey()
            | "LinksByKernel" >> beam.FlatMap(_dataset_links)
        )
        notebooks = (
            p
            | "Notebooks" >> beam.Create(self._notebooks)
            | "SpreadNotebooks" >> beam.Reshuffle()
            | "ReadNotebook" >> beam.Map(_read_notebook)
        )
        decided = (
            {"notebook": notebooks, "kernel": kernels, "links": links}
            | "JoinKernels" >> beam.CoGroupByKey()
            | "Decide" >> beam.ParDo(_Decide()).with_outputs(DROPPED, STATS, main="kept")
        )
        return {"kept": decided.kept, "dropped": decided[DROPPED], STATS: decided[STATS]}
