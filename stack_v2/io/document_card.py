"""The dataset card (README.md) of a document source's build: what it holds, how to load it, its columns,
its funnel with every reason, the source's rules and counts, the shared stages' sections, tool versions,
terms and differences from the paper, and the recipe. The source's parts come from its entry
(``stack_v2.sources``), passed in: this floor does not import the sources.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from huggingface_hub.repocard_data import DatasetCardData  # not huggingface_hub's: its Hub client

from stack_v2 import __version__, storage
from stack_v2.io.document_tables import document_schema, field_meanings
from stack_v2.io.markdown import code_fence, hub_card_text, md_code, md_text, megabytes


@dataclass(frozen=True)
class SourceCard:
    """What a source contributes to its card."""

    name: str  # the recipe's source
    title: str  # what the documents are, e.g. "GitHub issue threads"
    meta_fields: tuple
    section: list[str]  # the source's rules and counts, from report.json
    notes: tuple[str, ...]
    terms: str


def _fields(meta_fields, content: bool) -> list[str]:
    meanings = field_meanings(meta_fields)
    schema = document_schema(meta_fields, content=content)
    return ["| column | Arrow type | meaning |", "|---|---|---|"] + [
        f"| `{f.name}` | `{f.type}` | {meanings.get(f.name, '')} |" for f in schema
    ]


def write_document_card(path: str, report: dict, recipe, source: SourceCard, stage_sections=(), stage_notes=()) -> None:
    totals = report["totals"]
    header = DatasetCardData(
        pretty_name=recipe.name,
        license="other",
        task_categories=["text-generation"],
        tags=["code", source.name, "the-stack-v2"],
        configs=[
            {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]},
            {"config_name": "manifest", "data_files": [{"split": "train", "path": "manifest/part-*.parquet"}]},
        ],
    )
    lines = [
        "",
        f"# {md_text(recipe.name, one_line=True)}",
        "",
        md_text(recipe.description) if recipe.description.strip() else f"{source.title}, built with stack-v2.",
        "",
        f"Built by stack-v2 {__version__} from the `{source.name}` source with the recipe {md_code(recipe.name)}: "
        f"{totals['kept']['files']:,} documents ({megabytes(totals['kept']['bytes'])} MB) kept of "
        f"{totals['input']['files']:,} inputs.",
        "",
        "## Loading",
        "",
        "```python",
        "import os",
        "",
        "from datasets import load_dataset",
        "",
        'DATASET = os.path.abspath(".")  # the directory holding this README.md',
        'rows = load_dataset(DATASET, split="train")',
        "```",
        "",
        "## Files",
        "",
        "- `data/train-*.parquet`: the documents, with the columns below.",
        "- `manifest/part-*.parquet`: the same rows without `content`.",
        "- `dropped/part-*.parquet`: every input that did not make it (a thread, a line, a file), with stage, "
        "outcome, reason and detail.",
        "- `report.json`: counts per stage and per reason, the source's own counts and the tool versions.",
        "",
        "## Data fields",
        "",
        *_fields(source.meta_fields, content=True),
        "",
        "## Funnel",
        "",
        "| stage | in | kept | dropped | failed | MB kept |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for st in report["stages"]:
        lines.append(
            f"| {st['stage']} | {st['input']['files']:,} | {st['kept']['files']:,} | {st['dropped']['files']:,} | "
            f"{st['failed']['files']:,} | {megabytes(st['kept']['bytes'])} |"
        )
    lines += ["", "### Reasons", "", "| stage | outcome | reason | count |", "|---|---|---|---:|"]
    for st in report["stages"]:
        for outcome, reasons in st["reasons"].items():
            lines += [f"| {st['stage']} | {outcome} | {reason} | {c['files']:,} |" for reason, c in reasons.items()]
    lines += list(source.section) + list(stage_sections)
    versions = report.get("tool_versions") or {}
    lines += ["", "## Tool versions", "", "| tool | version |", "|---|---|"]
    lines += [f"| {name} | {md_code(v)} |" for name, v in versions.items()]
    lines += ["", "## Terms of use", "", source.terms]
    notes = [*source.notes, *stage_notes]
    if notes:
        lines += ["", "## Differences from the paper", ""] + [f"- {n}" for n in notes]
    fence = code_fence(recipe.text)
    lines += [
        "",
        "## Configuration",
        "",
        f"Recipe {md_code(os.path.basename(recipe.path))}:",
        "",
        f"{fence}yaml",
        recipe.text.rstrip(),
        fence,
        "",
    ]
    storage.write_text(path, hub_card_text(f"---\n{header.to_yaml()}\n---\n" + "\n".join(lines)))
