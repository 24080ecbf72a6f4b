"""The dataset card (README.md): a Hugging Face style card with the run's configuration and statistics."""

from __future__ import annotations

import os
import re

import yaml

from stack_v2 import __version__
from stack_v2.io import storage
from stack_v2.io.rows import language_dir

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
LICENSE_NOTES = [
    "The permissive list (filters/licenses/permissive.tsv) is rebuilt from ScanCode's license categories "
    "(Permissive, Public Domain) and every license the Blue Oak Council rates; the paper's own list file could "
    "not be retrieved.",
    "ScanCode's `deadline` is an absolute time; the paper's `deadline=100` is read as a 100-second budget per file "
    "(a literal 100 would stop matching at once).",
    "License candidates larger than the recipe's `max_bytes`, binary or undecodable contribute no license. A "
    "license file that could not be read (missing object, store errors after retries, ScanCode error or "
    "timeout) fails the files it governs (`license_unknown`) unless the decision cannot depend on it; the "
    "paper's code kept them as no_license. Both are counted under `license_detection` in report.json.",
    "As in the paper, detected licenses are a set of symbols: a dual `Apache-2.0 OR GPL-2.0-or-later` notice "
    "counts as non_permissive.",
]
NEAR_DEDUP_NOTES = [
    "Near-dedup verifies each LSH candidate pair by estimated Jaccard (>= the recipe's threshold) before joining "
    "clusters, so LSH false positives are not removed (the paper's code does not verify; `verify: false` "
    "reproduces it).",
    "Near-dedup gives a file with fewer than `ngram` tokens one shingle made of all its tokens, so only identical "
    "short files collide (the paper's code gave them all one signature, one giant cluster per language); files "
    "with no word token are never near-duplicates.",
    "Near-dedup tokens are the `\\w+` runs of the lower-cased text (the paper's `re.split(r'\\W')` also "
    "shingles the empty strings between adjacent separators); MinHash slots come from rensa's R-MinHash.",
]
NO_LICENSE_STAGE = "`license_type` and `detected_licenses` are empty: the license stage is not part of this recipe."


# The plots section (`stack-v2 report` writes report/<plot>.png and rewrites what lies between the markers).
PLOTS_BEGIN = "<!-- stack-v2:plots (rewritten by `stack-v2 report`) -->"
PLOTS_END = "<!-- /stack-v2:plots -->"


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.2f}"


# Free text from the recipe (its name and description) and the run is shown as text: it cannot open a block
# (heading, list, table, front matter, fence), start inline markup or carry raw HTML into the card.
_MD_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;",
               **{c: "\\" + c for c in "\\`*_{}[]()#+-.!|~^$="}}  # fmt: skip


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


def _yaml_string(key: str, value: str) -> str:
    """``key: "value"`` on one line (line breaks and unprintable characters escaped), as yaml.safe_load reads it."""
    return yaml.safe_dump({key: value}, default_style='"', width=float("inf"), allow_unicode=True).rstrip("\n")


def plots_section(plots, report: str | None = None) -> list[str]:
    """The card's plots: each (path relative to the card, title) as an image, between the markers."""
    lines = [PLOTS_BEGIN, "## Plots", ""]
    for path, title in plots:
        lines += [f"![{title}]({path})", ""]
    if report:
        lines += [f"The numbers behind each plot, and the top repositories and largest files: `{report}` "
                  "(one self-contained HTML file).", ""]  # fmt: skip
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
        text = text[:start] + block + text[end + len(PLOTS_END):]
    elif "\n## Files\n" in text:
        at = text.index("\n## Files\n") + 1
        text = text[:at] + block + "\n\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    storage.write_text(path, text)


def write_card(path: str, report: dict, recipe) -> None:
    languages = report.get("languages", {})
    configs = "\n".join(
        f"- config_name: {language_dir(lang)}\n  data_files:\n  - split: train\n    path: data/{language_dir(lang)}/*.parquet"
        for lang in sorted(languages)
    )  # fmt: skip
    totals = report["totals"]
    lines = [
        "---",
        _yaml_string("pretty_name", recipe.name),
        "license: other",
        "task_categories:\n- text-generation",
        "tags:\n- code\n- software-heritage\n- the-stack-v2",
        f"configs:\n{configs}" if configs else "configs: []",
        "---",
        "",
        f"# {md_text(recipe.name, one_line=True)}",
        "",
        md_text(recipe.description) if recipe.description.strip() else
        "A code dataset built from the Software Heritage archive with stack-v2.",
        "",
        f"Built by stack-v2 {__version__} from {md_code(report.get('run', {}).get('archive', ''))} with the recipe "
        f"{md_code(recipe.name)}: {totals['kept']['files']:,} files ({_mb(totals['kept']['bytes'])} MB) kept of "
        f"{totals['input']['files']:,} ({_mb(totals['input']['bytes'])} MB).",
        "",
        "## Files",
        "",
        "- `data/<language>/train-*.parquet`: the-stack-v2 file-level columns plus `content`.",
        "- `manifest/*.parquet`: the same columns without `content`, plus `swhid` "
        "(`swh:1:cnt:<content_id>;origin=...;visit=...;anchor=...;path=...`).",
        "- `dropped/*.parquet`: every occurrence (or origin) that did not make it, with stage, reason and detail.",
        "- `report.json`: files and bytes per stage and per reason.",
        "",
        "Contents come from the Software Heritage archive: `blob_id` is the sha1 key in "
        "`s3://softwareheritage/content/`, gzip-compressed. Bulk use of the archive is governed by Software "
        "Heritage's terms of use for bulk access; each file keeps its original license.",
        "",
        "## Funnel",
        "",
        "| stage | files in | kept | dropped | failed | MB in | MB kept |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for st in report["stages"]:
        lines.append(
            f"| {st['stage']} | {st['input']['files']:,} | {st['kept']['files']:,} | {st['dropped']['files']:,} | "
            f"{st['failed']['files']:,} | {_mb(st['input']['bytes'])} | {_mb(st['kept']['bytes'])} |"
        )
    lines += ["", "### Reasons", "", "| stage | outcome | reason | files | MB |", "|---|---|---|---:|---:|"]
    for st in report["stages"]:
        for outcome, reasons in st["reasons"].items():
            for reason, c in reasons.items():
                lines.append(f"| {st['stage']} | {outcome} | {reason} | {c['files']:,} | {_mb(c['bytes'])} |")
    filters = report.get("filters")
    if filters:
        base = filters["input"]
        lines += ["", "## Filters", "",
                  f"What the training-set filters removed from the {base['files']:,} files ({_mb(base['bytes'])} MB) "
                  "that reached the first of them, as the paper's filter table.", "",
                  "| filter | rule | files removed | % files | MB removed | % volume |", "|---|---|---:|---:|---:|---:|"]
        for row in filters["rules"]:
            rule = row["reason"] if row["outcome"] == "dropped" else f"{row['reason']} (failed)"
            lines.append(f"| {row['filter']} | {rule} | {row['files']:,} | {row['files_pct']:.2f} | "
                         f"{_mb(row['bytes'])} | {row['bytes_pct']:.2f} |")
        total = filters["removed"]
        lines.append(f"| **all filters** | | {total['files']:,} | {total['files_pct']:.2f} | {_mb(total['bytes'])} | "
                     f"{total['bytes_pct']:.2f} |")
    notebooks = report.get("notebooks")
    if notebooks:
        scripts = notebooks.get("scripts", {})
        lines += ["", "## Jupyter notebooks", "",
                  f"{sum(scripts.values()):,} notebooks converted to scripts (`jupyter-scripts/<language>/`, "
                  "Jupytext, kernel language or a Guesslang guess >= 0.5) and "
                  f"{notebooks.get('structured', {}).get('all', 0):,} Python notebooks to (markdown, code, output) "
                  "triplets (`jupyter-structured/`); notebooks stay in `data/` as files too.", "",
                  "| form | language or reason | notebooks |", "|---|---|---:|"]  # fmt: skip
        for language, n in scripts.items():
            lines.append(f"| script | {language} | {n:,} |")
        for outcome in ("dropped", "failed"):
            for reason, n in notebooks.get(outcome, {}).items():
                lines.append(f"| no script ({outcome}) | {reason} | {n:,} |")
    pii = report.get("pii")
    if pii:
        from importlib.metadata import version

        from stack_v2.pii import REDACTOR_VERSION

        spans = pii.get("spans", {})
        lines += ["", "## PII redaction", "",
                  f"{pii.get('files_redacted', {}).get('all', 0):,} files had personal data or secrets replaced "
                  "(`<EMAIL>`, `<KEY>`, `<PASSWORD>`, `<NAME>`, public IPs by one of five private addresses), "
                  f"with stack-v2's redactor version {REDACTOR_VERSION} and detect-secrets "
                  f"{version('detect-secrets')}; the manifest's `pii_redactions` gives the counts per file, and "
                  "`stack_v2.loader` re-applies the same redaction to blobs fetched from the archive.", "",
                  "| type | spans |", "|---|---:|"]  # fmt: skip
        for kind, n in spans.items():
            lines.append(f"| {kind} | {n:,} |")
    optouts = report.get("optouts")
    if optouts:
        lines += ["", "## Opt-outs", "",
                  f"{optouts['files_removed']:,} files ({_mb(optouts['bytes_removed'])} MB) of "
                  f"{optouts['repositories_removed']:,} repositories were removed at their owners' request "
                  "(the paper's \"Am I in The Stack\" process); `optout-audit.jsonl` lists each request, what it "
                  "removed and when.", "", "| applied at | requests | files removed | repositories removed |",
                  "|---|---:|---:|---:|"]  # fmt: skip
        for a in optouts["applications"]:
            lines.append(f"| {a['applied_at']} | {a['requests']:,} | {a['files_removed']:,} | "
                         f"{a['repositories_removed']:,} |")
    lines += ["", "## Languages", "", "| language | files | MB |", "|---|---:|---:|"]
    for lang, c in languages.items():
        lines.append(f"| {lang} | {c['files']:,} | {_mb(c['bytes'])} |")
    detection = report.get("license_detection")
    if detection:
        lines += ["", "## License detection", "", "| outcome | reason | license files (distinct blobs) |",
                  "|---|---|---:|"]  # fmt: skip
        for outcome, reasons in detection.items():
            for reason, files in reasons.items():
                lines.append(f"| {outcome} | {reason} | {files:,} |")
    notes = DEVIATIONS + (LICENSE_NOTES if "license" in recipe.stage_names else [NO_LICENSE_STAGE])
    if "near_dedup" in recipe.stage_names:
        notes += NEAR_DEDUP_NOTES
    lines += ["", "## Differences from the paper", ""] + [f"- {d}" for d in notes]
    fence = _code_fence(recipe.text)
    lines += ["", "## Configuration", "", f"Recipe {md_code(os.path.basename(recipe.path))}:", "", f"{fence}yaml",
              recipe.text.rstrip(), fence, ""]  # fmt: skip
    storage.write_text(path, "\n".join(lines))
