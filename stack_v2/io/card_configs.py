"""What the card tells `datasets` and its readers about the data: the config names (one per language,
reversible), the configs' data files, the columns' meanings, the snippets that load the dataset, and the
card's YAML header."""

from __future__ import annotations

import glob
import re

from huggingface_hub.repocard_data import DatasetCardData  # not huggingface_hub's: its Hub client

from stack_v2.io.rows import language_dir

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


def fields_table(schema, title: str) -> list[str]:
    lines = ["", f"### {title}", "", "| column | Arrow type | meaning |", "|---|---|---|"]
    return lines + [f"| `{f.name}` | `{f.type}` | {FIELD_MEANINGS.get(f.name, '')} |" for f in schema]


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
