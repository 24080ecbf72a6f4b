"""The dataset card (README.md): a Hugging Face style card with the run's configuration and statistics."""

from __future__ import annotations

import glob
import os
import re

from huggingface_hub import DatasetCard, DatasetCardData

from stack_v2 import __version__, storage
from stack_v2.io.rows import language_dir
from stack_v2.io.schema import DATA_SCHEMA, MANIFEST_SCHEMA, STRUCTURED_NOTEBOOK_SCHEMA

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


# The plots section (`stack-v2 report` writes report/<plot>.png and rewrites what lies between the markers).
PLOTS_BEGIN = "<!-- stack-v2:plots (rewritten by `stack-v2 report`) -->"
PLOTS_END = "<!-- /stack-v2:plots -->"


def megabytes(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.2f}"


# Free text from the recipe (its name and description) and the run is shown as text: it cannot open a block
# (heading, list, table, front matter, fence), start inline markup or carry raw HTML into the card.
_MD_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", **{c: "\\" + c for c in "\\`*_{}[]()#+-.!|~^$="}}


def md_text(text: str, *, one_line: bool = False) -> str:
    """Markdown showing ``text`` literally; ``one_line`` folds line breaks into spaces (for headings)."""
    lines = [" ".join(text.split())] if one_line else [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join("".join(_MD_ESCAPES.get(c, c) for c in line) for line in lines)


def md_code(text: str) -> str:
    """An inline code span holding ``text`` on one line, fenced by more backticks than it holds in a row."""
    text = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code_fence(text: str) -> str:
    """A fence for a code block holding ``text``: longer than any run of backticks in it."""
    return "`" * max(3, max((len(run) for run in re.findall("`+", text)), default=0) + 1)


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


# Config names: `datasets` refuses names holding any of <>:/\|?* (they name cache directories), and after one
# bad name every config of the card fails to load. A language keeps its name when it is safe; otherwise each
# unsafe character is spelled out: "#" -sharp, "+" -plus, "*" -star, " " _, anything else -xHH- (its code
# point in hex), and a literal "-" that would read as the start of one of these is itself written -x2d-, so
# `language_of_config` gives the name back exactly.
_CONFIG_SAFE = re.compile(r"[A-Za-z0-9.]")
_CONFIG_WORDS = {"#": "-sharp", "+": "-plus", "*": "-star", " ": "_"}
_CONFIG_ESCAPE = re.compile(r"-(sharp|plus|star)|-x([0-9a-f]+)-|_")
_AFTER_DASH = re.compile(r"sharp|plus|star|x[0-9a-f]+-")
RESERVED_CONFIGS = ("default", "manifest", "jupyter-scripts", "jupyter-structured")


def config_name(language: str) -> str:
    """The `datasets` config name of a language (reversible: see `language_of_config`)."""
    out = ""
    for c in reversed(language):  # right to left: a "-" is escaped by what follows it
        if _CONFIG_SAFE.fullmatch(c):
            piece = c
        elif c == "-":
            piece = "-x2d-" if _AFTER_DASH.match(out) else "-"
        else:
            piece = _CONFIG_WORDS.get(c, f"-x{ord(c):x}-")
        out = piece + out
    # a language spelled like one of the card's other configs gets its last character escaped
    return out if out not in RESERVED_CONFIGS else out[:-1] + f"-x{ord(out[-1]):x}-"


def language_of_config(name: str) -> str:
    """The language a config name stands for: `config_name`'s inverse."""
    words = {v[1:]: k for k, v in _CONFIG_WORDS.items() if v.startswith("-")}
    return _CONFIG_ESCAPE.sub(
        lambda m: " " if m.group(0) == "_" else words.get(m.group(1)) or chr(int(m.group(2), 16)), name
    )


def _language_dir(language: str | None) -> str:
    # files with no language are written under data/unknown/ (report.json counts them under "null")
    return language_dir("unknown" if language in (None, "null") else language)


def _data_glob(top: str, language: str) -> str:
    """The files of one language's directory and no other's: glob characters in its name are bracketed
    (F* -> F[*], which `datasets`' fsspec globbing reads as a literal *)."""
    return f"{top}/{glob.escape(_language_dir(language))}/*.parquet"


def dataset_configs(report: dict, has_content: bool) -> list[dict]:
    """The card's `configs`: default (every language's rows), one per language, the manifest, the Jupyter outputs."""
    languages = sorted(report.get("languages", {}))
    split = lambda files: [{"split": "train", "path": files}]  # noqa: E731
    if has_content:
        configs = [{"config_name": "default", "data_files": split("data/*/*.parquet"), "default": True}]
        configs += [
            {"config_name": config_name(lang), "data_files": split(_data_glob("data", lang))} for lang in languages
        ]
        configs.append({"config_name": "manifest", "data_files": split("manifest/*.parquet")})
    else:  # no content: the manifest is the dataset, one table for all languages
        configs = [{"config_name": "default", "data_files": split("manifest/*.parquet"), "default": True}]
    notebooks = report.get("notebooks") or {}
    scripts = sorted(lang for lang, n in notebooks.get("scripts", {}).items() if n)
    if scripts:  # per language, never the whole directory: jupyter-scripts/dropped/ holds the dropped table
        configs.append(
            {
                "config_name": "jupyter-scripts",
                "data_files": split([_data_glob("jupyter-scripts", lang) for lang in scripts]),
            }
        )
    if notebooks.get("structured", {}).get("all", 0):
        configs.append({"config_name": "jupyter-structured", "data_files": split("jupyter-structured/*.parquet")})
    return configs


# What each column holds (the Arrow types come from stack_v2/io/schema.py).
FIELD_MEANINGS = {
    "blob_id": "sha1 of the file's bytes: its key in the content store",
    "directory_id": "SWH id of the root directory of the revision",
    "path": "path of the file in the repository",
    "content_id": "sha1_git of the file's bytes (the SWHID's hash)",
    "detected_licenses": "licenses ScanCode found in the license files governing the file",
    "license_type": "permissive or no_license (non_permissive files are dropped)",
    "repo_name": "repository name (owner/name)",
    "snapshot_id": "SWH id of the visit's snapshot",
    "revision_id": "SWH id of the revision (commit) of the default branch",
    "branch_name": "the default branch",
    "visit_date": "when Software Heritage visited the origin",
    "revision_date": "author date of the revision",
    "committer_date": "committer date of the revision",
    "github_id": "GitHub repository id (GHArchive)",
    "star_events_count": "star events (GHArchive)",
    "fork_events_count": "fork events (GHArchive)",
    "gha_license_id": "the repository's license per GHArchive",
    "gha_event_created_at": "latest GHArchive event",
    "gha_created_at": "repository creation (GHArchive)",
    "gha_language": "the repository's main language per GHArchive",
    "src_encoding": "charset the bytes were decoded with",
    "language": "go-enry's language (the config name maps to it: see Configs)",
    "is_vendor": "go-enry: vendored file",
    "is_generated": "go-enry: generated file",
    "length_bytes": "size of the file's bytes",
    "extension": "file extension",
    "alphanum_fraction": "fraction of alphanumeric characters",
    "alpha_fraction": "fraction of alphabetic characters",
    "num_lines": "number of lines",
    "avg_line_length": "mean line length",
    "max_line_length": "longest line",
    "nl_language": "natural language of the documentation",
    "pii_redactions": "JSON counts of redacted spans per type; null when nothing was redacted",
    "content": "the file's text (after PII redaction when the recipe redacts)",
    "swhid": "the file's SWHID with origin, visit, anchor and path qualifiers",
    "cells": "JSON (markdown, code, output) triplets of the notebook",
}
SWH_TERMS = "https://www.softwareheritage.org/legal/bulk-access-terms-of-use/"
THE_STACK_V2 = "https://huggingface.co/datasets/bigcode/the-stack-v2"


def _fields_table(schema, title: str) -> list[str]:
    lines = ["", f"### {title}", "", "| column | Arrow type | meaning |", "|---|---|---|"]
    return lines + [f"| `{f.name}` | `{f.type}` | {FIELD_MEANINGS.get(f.name, '')} |" for f in schema]


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


_DATASET_LINE = 'DATASET = os.path.abspath(".")  # the directory holding this README.md'


def loading_snippets(report: dict, configs: list[dict], has_content: bool) -> tuple[str, str]:
    """Code that loads this dataset: with `datasets`, and the manifest with contents from the archive's store.
    Both take the dataset from the working directory: run them beside this card, or set DATASET."""
    languages = report.get("languages", {})
    largest = max(languages, key=lambda lang: (languages[lang]["files"], lang), default=None)
    # an absolute path: `datasets` names the dataset after the directory, and "." has no name
    rows = ["import os", "", "from datasets import load_dataset", "", _DATASET_LINE]
    if has_content:
        rows.append('rows = load_dataset(DATASET, split="train")  # config "default": every language, with content')
        if largest is not None:
            rows += [
                f'one = load_dataset(DATASET, {config_name(largest)!r}, split="train")  # {largest} only',
                "# the same files without this card:",
                f'one = load_dataset("parquet", data_files=f"{{DATASET}}/{_data_glob("data", largest)}", '
                'split="train")',
            ]
    else:
        rows.append('rows = load_dataset(DATASET, split="train")  # the manifest: every column but content')
    archive = report.get("run", {}).get("archive") or "ARCHIVE"
    content = (
        "s3://softwareheritage/content"
        if archive.rstrip("/") == "s3://softwareheritage"
        else f"{archive.rstrip('/')}/content"
    )
    manifest = [
        "import os",
        "",
        "from stack_v2.loader import load_files",
        "",
        _DATASET_LINE,
        f"CONTENT = {content!r}  # the archive's content store: one gzip object per blob_id",
        "",
        "for row in load_files(DATASET, CONTENT):",
        '    text = row["content"]  # fetched by blob_id, checked, decoded, redacted as the build did',
    ]
    return "\n".join(rows) + "\n", "\n".join(manifest) + "\n"


def card_metadata(report: dict, recipe) -> DatasetCardData:
    """The card's YAML header: name, license, tags and the `datasets` configs."""
    has_content = "fetch_decode" in recipe.stage_names
    return DatasetCardData(
        pretty_name=recipe.name,
        license="other",
        task_categories=["text-generation"],
        tags=["code", "software-heritage", "the-stack-v2"],
        configs=dataset_configs(report, has_content),
    )


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
        "- `dropped/*.parquet`: every occurrence (or origin) that did not make it, with stage, reason and detail.",
        "- `report.json`: files and bytes per stage and per reason, the tool versions and the stages left out.",
        "",
        "Contents come from the Software Heritage archive: `blob_id` is the sha1 key in "
        "`s3://softwareheritage/content/`, gzip-compressed. See Terms of use below.",
        "",
        "## Data fields",
        *_fields_table(DATA_SCHEMA if has_content else MANIFEST_SCHEMA, "data/" if has_content else "manifest/"),
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
            _fields_table(STRUCTURED_NOTEBOOK_SCHEMA, "jupyter-structured/")
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
    fence = _code_fence(recipe.text)
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
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n" + "\n".join(lines))
    storage.write_text(path, str(card))
