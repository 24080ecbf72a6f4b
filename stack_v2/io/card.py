"""The dataset card (README.md): a Hugging Face style card with the run's configuration and statistics.

This module assembles the card's text (``write_card``) and keeps its plots section, which `stack-v2 report`
rewrites (``embed_plots``); the configs, loading snippets and column meanings come from ``card_configs``, the
markdown escaping from ``markdown``.
"""

from __future__ import annotations

import os

from stack_v2 import __version__, storage
from stack_v2.io.card_configs import (
    RESERVED_CONFIGS,
    card_metadata,
    config_name,
    fields_table,
    language_of_config,
    loading_snippets,
)
from stack_v2.io.markdown import code_fence, hub_card_text, md_code, md_text, megabytes
from stack_v2.io.schema import DATA_SCHEMA, MANIFEST_SCHEMA, STRUCTURED_NOTEBOOK_SCHEMA
from stack_v2.io.token_card import tokens_section

# Where this build differs from the paper's, or settles what the paper leaves open.
DEVIATIONS = [
    "Paths that are not valid UTF-8 keep their bytes as `\\xNN` escapes (the paper's code replaced them with "
    "U+FFFD, which makes distinct names collide); SWHIDs in the manifest carry the original bytes.",
    "Repository-level dedup and exact dedup break remaining ties by origin URL, repository name and path, so "
    "every runner keeps the same files (the paper's Spark jobs left ties to the engine).",
    "Language is detected on the kept occurrence's path (the paper used the first file name of the blob's name "
    "set); files go-enry cannot classify are dropped with reason `no_language` (the paper kept their metadata "
    "without content).",
    "Dates outside 1677-2262 cannot be stored as timestamp[ns] and are written as null.",
]
NO_LICENSE_STAGE = "`license_type` and `detected_licenses` are empty: the license stage is not part of this recipe."
SWH_TERMS = "https://www.softwareheritage.org/legal/bulk-access-terms-of-use/"
THE_STACK_V2 = "https://huggingface.co/datasets/bigcode/the-stack-v2"


# The plots section (`stack-v2 report` writes report/<plot>.svg and rewrites what lies between the markers).
PLOTS_BEGIN = "<!-- stack-v2:plots (rewritten by `stack-v2 report`) -->"
PLOTS_END = "<!-- /stack-v2:plots -->"


def plots_section(plots, report: str | None = None) -> list[str]:
    """The card's plots: each (path relative to the card, title) as an image, between the markers."""
    lines = [PLOTS_BEGIN, "## Plots", ""]
    for path, title in plots:
        lines += [f"![{title}]({path})", ""]
    if report:
        lines += [
            f"The numbers behind each plot, and the top repositories and largest files: `{report}` "
            "(one self-contained HTML file).",
            "",
        ]
    return lines + [PLOTS_END]


def embed_plots(path: str, plots, report: str | None = None) -> None:
    """Put the plots section into the card at ``path``: in place of the previous one, else before `## Files`."""
    text = storage.read_text(path)
    block = "\n".join(plots_section(plots, report))
    # Markers are looked for before the configuration: the recipe's text shown there may hold them too.
    head = text.find("\n## Configuration\n")
    head = len(text) if head < 0 else head
    start, end = text.find(PLOTS_BEGIN, 0, head), text.find(PLOTS_END, 0, head)
    if start >= 0 and end > start:
        text = text[:start] + block + text[end + len(PLOTS_END) :]
    elif "\n## Files\n" in text:
        at = text.index("\n## Files\n") + 1
        text = text[:at] + block + "\n\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    storage.write_text(path, text)


def _config_language(name: str) -> str:
    if name in RESERVED_CONFIGS:
        return {
            "default": "every language",
            "manifest": "every language (no `content`)",
            "jupyter-scripts": "notebooks' scripts, every language",
            "jupyter-structured": "Python notebooks' (markdown, code, output) triplets",
        }[name]
    return md_code(language_of_config(name))


def _paths(config: dict) -> list[str]:
    path = config["data_files"][0]["path"]
    return path if isinstance(path, list) else [path]


def _python_block(code: str) -> list[str]:
    return ["```python", code.rstrip("\n"), "```"]


def write_card(path: str, report: dict, recipe, stage_sections: list[str] = (), stage_notes: list[str] = ()) -> None:
    """The dataset card: what any build has (configs, loading, fields, funnel, filters, languages, versions,
    terms), plus ``stage_sections`` and ``stage_notes`` (differences from the paper), which the stages that
    ran contribute through their definitions (``stages.registry.card_parts``)."""
    languages = report.get("languages", {})
    has_content = "fetch_decode" in recipe.stage_names
    data = card_metadata(report, recipe)
    totals = report["totals"]
    snippets = loading_snippets(report, data.configs, has_content)
    config_rows = [
        f"| {md_code(c['config_name'])} | {_config_language(c['config_name'])} | "
        f"{', '.join(md_code(p) for p in _paths(c))} |"
        for c in data.configs
    ]
    lines = [
        "",
        f"# {md_text(recipe.name, one_line=True)}",
        "",
        md_text(recipe.description)
        if recipe.description.strip()
        else "A code dataset built from the Software Heritage archive with stack-v2.",
        "",
        f"Built by stack-v2 {__version__} from {md_code(report.get('run', {}).get('archive', ''))} with the recipe "
        f"{md_code(recipe.name)}: {totals['kept']['files']:,} files ({megabytes(totals['kept']['bytes'])} MB) kept of "
        f"{totals['input']['files']:,} ({megabytes(totals['input']['bytes'])} MB).",
        "",
        "## Loading",
        "",
        *_python_block(snippets[0]),
        "",
        "The manifest alone is enough to train on: its rows carry `blob_id`, and stack-v2's loader fetches each "
        "file's content from the archive's content store (see stack-v2's docs/loading.md):",
        "",
        *_python_block(snippets[1]),
        "",
        "## Configs",
        "",
        "Config names are the languages' names with the characters `datasets` refuses spelled out (`#` as "
        "`-sharp`, `+` as `-plus`, `*` as `-star`, a space as `_`, any other as `-xHH-`); the directories keep "
        "the language's name.",
        "",
        "| config | language | files |",
        "|---|---|---|",
        *config_rows,
        "",
        "## Files",
        "",
        "- `data/<language>/train-*.parquet`: the-stack-v2 file-level columns plus `content`."
        if has_content
        else "- `data/`: not written (the recipe has no `fetch_decode` stage, so no content).",
        "- `manifest/*.parquet`: the same columns without `content`, plus `swhid` "
        "(`swh:1:cnt:<content_id>;origin=...;visit=...;anchor=...;path=...`).",
        *(
            [
                "- `manifest-by-repo/*.parquet`: the manifest grouped by repository, one row per repository with its "
                "`files` (the train sets' `*-ids` form)."
            ]
            if recipe.output.get("group_by_repo")
            else []
        ),
        "- `dropped/*.parquet`: every occurrence (or origin) that did not make it, with stage, reason and detail.",
        "- `report.json`: files and bytes per stage and per reason, the tool versions and the stages left out.",
        "",
        "Contents come from the Software Heritage archive: `blob_id` is the sha1 key in "
        "`s3://softwareheritage/content/`, gzip-compressed. See Terms of use below.",
        "",
        "## Data fields",
        *fields_table(DATA_SCHEMA if has_content else MANIFEST_SCHEMA, "data/" if has_content else "manifest/"),
        *(
            [
                "",
                "`manifest/` has the same columns with `swhid` "
                f"(`{MANIFEST_SCHEMA.field('swhid').type}`) in place of `content`.",
            ]
            if has_content
            else []
        ),
        *(
            fields_table(STRUCTURED_NOTEBOOK_SCHEMA, "jupyter-structured/")
            if any(c["config_name"] == "jupyter-structured" for c in data.configs)
            else []
        ),
        "",
        "## Funnel",
        "",
        "| stage | files in | kept | dropped | failed | MB in | MB kept |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for st in report["stages"]:
        lines.append(
            f"| {st['stage']} | {st['input']['files']:,} | {st['kept']['files']:,} | {st['dropped']['files']:,} | "
            f"{st['failed']['files']:,} | {megabytes(st['input']['bytes'])} | {megabytes(st['kept']['bytes'])} |"
        )
    lines += ["", "### Reasons", "", "| stage | outcome | reason | files | MB |", "|---|---|---|---:|---:|"]
    for st in report["stages"]:
        for outcome, reasons in st["reasons"].items():
            for reason, c in reasons.items():
                lines.append(f"| {st['stage']} | {outcome} | {reason} | {c['files']:,} | {megabytes(c['bytes'])} |")
    filters = report.get("filters")
    if filters:
        base = filters["input"]
        lines += [
            "",
            "## Filters",
            "",
            f"What the training-set filters removed from the {base['files']:,} files ({megabytes(base['bytes'])} MB) "
            "that reached the first of them, as the paper's filter table.",
            "",
            "| filter | rule | files removed | % files | MB removed | % volume |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for row in filters["rules"]:
            rule = row["reason"] if row["outcome"] == "dropped" else f"{row['reason']} (failed)"
            lines.append(
                f"| {row['filter']} | {rule} | {row['files']:,} | {row['files_pct']:.2f} | "
                f"{megabytes(row['bytes'])} | {row['bytes_pct']:.2f} |"
            )
        total = filters["removed"]
        lines.append(
            f"| **all filters** | | {total['files']:,} | {total['files_pct']:.2f} | {megabytes(total['bytes'])} | "
            f"{total['bytes_pct']:.2f} |"
        )
    lines += list(stage_sections)
    lines += ["", "## Languages", "", "| language | config | files | MB |", "|---|---|---:|---:|"]
    for lang, c in languages.items():
        lines.append(f"| {md_code(lang)} | {md_code(config_name(lang))} | {c['files']:,} | {megabytes(c['bytes'])} |")
    lines += tokens_section(report)
    versions = report.get("tool_versions") or {}
    lines += ["", "## Tool versions", ""]
    if versions:
        lines += ["The versions the build ran with.", "", "| tool | version |", "|---|---|"]
        lines += [f"| {name} | {md_code(v)} |" for name, v in versions.items()]
        lines += [
            "",
            "go-enry's own version is not exposed by enry-python; ClamAV's engine and signature database "
            "are listed when the malware stage ran.",
        ]
    else:
        lines.append("report.json holds no tool versions (a build older than their recording).")
    lines += ["", "## Stages left out", ""]
    if "stages_off" not in report:
        lines.append("report.json does not say (a build older than its recording).")
    else:
        off = report["stages_off"]
        lines += (
            [f"- `{name}` (in the recipe, not run): {md_text(why, one_line=True)}" for name, why in off.items()]
            if off
            else ["Every stage of the recipe ran."]
        )
    lines += [
        "",
        "## Terms of use",
        "",
        "The files are taken from the Software Heritage archive. Each keeps its own license (see "
        "`detected_licenses`, `license_type` and `gha_license_id`); this dataset does not relicense them. Bulk "
        f"use of the archive's content is governed by Software Heritage's terms of use: <{SWH_TERMS}>. The "
        "Stack v2, whose recipe this build follows, states its own terms of use on its card: "
        f"<{THE_STACK_V2}>.",
    ]
    notes = DEVIATIONS + list(stage_notes) + ([] if "license" in recipe.stage_names else [NO_LICENSE_STAGE])
    lines += ["", "## Differences from the paper", ""] + [f"- {d}" for d in notes]
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
    storage.write_text(path, hub_card_text(f"---\n{data.to_yaml()}\n---\n" + "\n".join(lines)))
