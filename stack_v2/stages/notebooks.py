"""Jupyter notebooks' script and structured forms (the paper, §2.4) as a stage.

``ConvertNotebooks``: FileRecord -> {"kept", "scripts", "structured", "dropped"}.

- ``kept``: every input record, unchanged, notebooks included. The Stack v2 keeps notebooks as files
  (go-enry language ``Jupyter Notebook``); the scripts and structured notebooks are extra datasets.
- ``scripts``: for each record with language ``Jupyter Notebook`` that has a script form, a copy whose
  ``content`` is the script, ``language`` its go-enry language (``Python``, ``R``, ...) and ``extension``
  the script's (``py``, ``r``, ...; no dot, like the column), while ``path`` stays the notebook's
  (``nb.ipynb``): blob_id, content_id and path still name the notebook blob the script was made from.
  ``length_bytes`` and the text statistics (``quality.stats``) are the script's, for the filters.
- ``structured``: a ``StructuredNotebook`` row for each of those whose metadata names Python (not a
  guess), with its triplets as JSON and its training text (``notebooks.structured``).
- ``dropped``: a ``DroppedRow`` (stage ``notebooks``) for each notebook with neither form, with the
  reason of ``notebooks.script``: outcome ``dropped`` for ``no_code`` (a decision), ``failed`` for the
  rest (``notebook_parse_error``, ``no_notebook_language``, ...). Such a notebook still continues on
  ``kept``: a row here means "no script", so a stage funnel would count it as kept and as dropped.

The language guesser (for notebooks whose metadata names no language) is ``config.guesslang_model``'s
``GuesslangGuesser``, or any object with ``guess(code) -> (name, probability) | None`` given directly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from stack_v2.io.parquet import WriteShardedParquet
from stack_v2.io.rows import data_row, dropped_dict, dropped_key, file_key, language_dir
from stack_v2.io.schema import DATA_SCHEMA, DROPPED_SCHEMA, STRUCTURED_NOTEBOOK_SCHEMA
from stack_v2.notebooks.guess import Guesser, GuesslangGuesser
from stack_v2.notebooks.parse import NotebookError, error_kind, read_notebook
from stack_v2.notebooks.script import FROM_METADATA, NO_CODE, ScriptConfig, to_script
from stack_v2.notebooks.structured import render, triplets
from stack_v2.params import Bool, Optional, Path, param
from stack_v2.quality.stats import text_stats
from stack_v2.records import FileRecord
from stack_v2.stages.base import DROPPED, Drop, Fail, count_dropped_row, dropped_row
from stack_v2.stages.stage import Stage, StageContext

STAGE = "notebooks"
NOTEBOOK_LANGUAGE = "Jupyter Notebook"  # go-enry's name
SCRIPTS, STRUCTURED = "scripts", "structured"
STRUCTURED_LANGUAGE = "Python"  # the paper, §2.4: the structured form is for Python notebooks only


class StructuredNotebook(NamedTuple):
    """One Python notebook as (markdown, code, output) triplets: the structured dataset's row."""

    blob_id: str | None
    repo_name: str | None
    path: str
    language: str
    cells: str  # JSON list of {"markdown", "code", "output"}; absent parts are null
    content: str  # the training text (structured.render)


beam.coders.registry.register_coder(StructuredNotebook, beam.coders.RowCoder)


@dataclasses.dataclass(frozen=True, slots=True)
class NotebooksConfig:
    script: ScriptConfig = dataclasses.field(default_factory=ScriptConfig)
    guesslang_model: str | None = param(None, Optional(Path()))  # Guesslang's SavedModel folder; None: no guessing
    structured: bool = param(True, Bool())  # also emit structured rows for Python notebooks


def convert(record: FileRecord, guesser: Guesser | None, config: NotebooksConfig = NotebooksConfig()):
    """The notebook record's (script record, StructuredNotebook | None), or Drop/Fail with the reason."""
    try:
        notebook = read_notebook(record.content)
        script = to_script(notebook, guesser, config.script)
    except NotebookError as exc:
        return (Drop if exc.reason == NO_CODE else Fail)(exc.reason, exc.detail)
    script_record = record._replace(
        content=script.text,
        language=script.language,
        extension=script.extension[1:],
        length_bytes=len(script.text.encode("utf-8")),
        **text_stats(script.text)._asdict(),
    )
    structured = None
    if config.structured and script.language == STRUCTURED_LANGUAGE and script.language_source == FROM_METADATA:
        items = triplets(notebook)
        structured = StructuredNotebook(
            blob_id=record.blob_id,
            repo_name=record.repo_name,
            path=record.path,
            language=script.language,
            cells=json.dumps(items, ensure_ascii=False),
            content=render(items),
        )
    return script_record, structured


class _ConvertFn(beam.DoFn):
    def __init__(self, config: NotebooksConfig, guesser: Guesser | None):
        self._config, self._guesser = config, guesser

    def setup(self):
        self._micros = Metrics.counter("stage_time_us", STAGE)

    def process(self, record: FileRecord):
        yield record
        if record.language != NOTEBOOK_LANGUAGE:
            return
        started = time.perf_counter()
        try:
            result = convert(record, self._guesser, self._config)
        except Exception as exc:  # noqa: BLE001 - keep the bundle alive; the notebook is accounted as failed
            result = Fail("error", error_kind(exc, "conversion"))
        self._micros.inc(int((time.perf_counter() - started) * 1e6))
        if isinstance(result, (Drop, Fail)):
            yield pvalue.TaggedOutput(DROPPED, count_dropped_row(dropped_row(record, STAGE, result)))
            return
        script_record, structured = result
        Metrics.counter(STAGE, f"script_{script_record.language}").inc()
        yield pvalue.TaggedOutput(SCRIPTS, script_record)
        if structured is not None:
            Metrics.counter(STAGE, "structured").inc()
            yield pvalue.TaggedOutput(STRUCTURED, structured)


class ConvertNotebooks(beam.PTransform):
    """FileRecord -> {'kept': all records, 'scripts': FileRecord, 'structured': StructuredNotebook,
    'dropped': DroppedRow}."""

    def __init__(self, config: NotebooksConfig = NotebooksConfig(), guesser: Guesser | None = None):
        super().__init__()
        if guesser is None and config.guesslang_model:
            guesser = GuesslangGuesser(config.guesslang_model)
        check = getattr(guesser, "check", None)
        if check is not None:
            check()  # a missing model or TensorFlow fails here, before any record
        self._config, self._guesser = config, guesser

    def expand(self, records):
        out = records | "Convert" >> beam.ParDo(_ConvertFn(self._config, self._guesser)).with_outputs(
            SCRIPTS, STRUCTURED, DROPPED, main="kept"
        )
        return {"kept": out.kept, SCRIPTS: out[SCRIPTS], STRUCTURED: out[STRUCTURED], DROPPED: out[DROPPED]}


class WriteNotebooks(beam.PTransform):
    """The recipe stage, a branch: notebooks' scripts to jupyter-scripts/<language>/, Python notebooks'
    triplets to jupyter-structured/, notebooks with no script form to jupyter-scripts/dropped/. Every
    record goes on unchanged (``kept``); ``stats`` are the counts for report.json."""

    def __init__(self, config: NotebooksConfig, context: StageContext):
        super().__init__()
        self._config, self._context = config, context

    def expand(self, records):
        run_dir, out = self._context.run_dir, self._context.output
        converted = records | "Convert" >> ConvertNotebooks(self._config)
        scripts_dir = os.path.join(run_dir, "jupyter-scripts")
        (
            converted[SCRIPTS]
            | "ScriptRows" >> beam.Map(lambda r: (language_dir(r.language or "unknown"), r, len(r.content or "")))
            | "WriteScripts"
            >> WriteShardedParquet(
                scripts_dir, "train", DATA_SCHEMA, file_key, target_bytes=out["target_shard_bytes"], to_row=data_row
            )
        )
        (
            converted[STRUCTURED]
            | "StructuredRows" >> beam.Map(lambda r: ("", r._asdict(), len(r.content)))
            | "WriteStructured"
            >> WriteShardedParquet(
                os.path.join(run_dir, "jupyter-structured"),
                "train",
                STRUCTURED_NOTEBOOK_SCHEMA,
                file_key,
                target_bytes=out["target_shard_bytes"],
            )
        )
        (
            converted[DROPPED]
            | "DroppedRows" >> beam.Map(lambda r: ("", dropped_dict(r), 1))
            | "WriteDropped"
            >> WriteShardedParquet(
                os.path.join(scripts_dir, "dropped"),
                "part",
                DROPPED_SCHEMA,
                dropped_key,
                target_rows=out["dropped_rows_per_shard"],
            )
        )
        stats = (
            converted[SCRIPTS] | "CountScripts" >> beam.Map(lambda r: (("@notebooks", "scripts", r.language), (1, 0))),
            converted[STRUCTURED] | "CountStructured" >> beam.Map(lambda r: (("@notebooks", "structured", ""), (1, 0))),
            converted[DROPPED] | "CountNoScript" >> beam.Map(lambda d: (("@notebooks", d.outcome, d.reason), (1, 0))),
        ) | "Counts" >> beam.Flatten()
        return {"kept": records, "stats": stats}


def card_section(report: dict) -> list[str]:
    """The card's section on the notebooks' outputs."""
    notebooks = report.get("notebooks")
    if not notebooks:
        return []
    lines: list[str] = []
    scripts = notebooks.get("scripts", {})
    lines += [
        "",
        "## Jupyter notebooks",
        "",
        f"{sum(scripts.values()):,} notebooks converted to scripts (`jupyter-scripts/<language>/`, "
        "Jupytext, kernel language or a Guesslang guess >= 0.5) and "
        f"{notebooks.get('structured', {}).get('all', 0):,} Python notebooks to (markdown, code, output) "
        "triplets (`jupyter-structured/`); notebooks stay in `data/` as files too.",
        "",
        "| form | language or reason | notebooks |",
        "|---|---|---:|",
    ]
    for language, n in scripts.items():
        lines.append(f"| script | {language} | {n:,} |")
    for outcome in ("dropped", "failed"):
        for reason, n in notebooks.get(outcome, {}).items():
            lines.append(f"| no script ({outcome}) | {reason} | {n:,} |")
    return lines


# made from the record as it leaves the stages before: after pii, so that they hold the redacted cells
DEFINITION = Stage(
    STAGE, WriteNotebooks, NotebooksConfig, requires=("language",), after=("pii",), branch=True, card=card_section
)
