"""An export's report.json, its card (README.md) and its HTML report (report.html), from the pipeline's summed
counts. Pure, apart from hashing the tokenizer file for the ``tokens`` section (``stack_v2.tokens.summary``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from stack_v2.io.markdown import md_code, megabytes
from stack_v2.tokens.summary import SECTION, TokenCounts, card_lines, tokenizer_info

FORMAT = "starcoder2"


def build_report(stats: dict, req, *, source: str, dataset_version, content_from: str, tokenizer) -> dict:
    """``stats``: counts keyed by name, ``("left_out", reason, "files"|"bytes")`` and ``("tokens", language)``."""
    config = req.config
    reasons: dict[str, dict[str, int]] = {}
    for key, n in stats.items():
        if isinstance(key, tuple) and key[0] == "left_out":
            reasons.setdefault(key[1], {"files": 0, "bytes": 0})[key[2]] += n
    report = {
        "export": {
            "format": FORMAT,
            "dataset": req.dataset,
            "dataset_version": dataset_version,
            "source": source,
            "content_from": content_from,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "parameters": {
                "seed": config.seed,
                "metadata_rate": config.metadata_rate,
                "fim_rate": config.fim_rate,
                "fim_file_rate": config.fim_file_rate,
                "fim_spm_rate": config.fim_spm_rate,
                "max_document_chars": config.max_document_chars,
                "sentinels": asdict(config.sentinels),
                "shard_bytes": req.shard_bytes,
                "packed": req.pack,
            },
        },
        "documents": stats.get("documents", 0),
        "repositories": stats.get("repositories", 0),
        "split_repositories": stats.get("split_repositories", 0),
        "shards": stats.get("shards", 0),
        "files_in": stats.get("files_in", 0),
        "bytes_in": stats.get("bytes_in", 0),
        "files": stats.get("files", 0),
        "bytes": stats.get("bytes", 0),
        "bytes_out": stats.get("bytes_out", 0),
        "left_out": {
            "files": sum(r["files"] for r in reasons.values()),
            "bytes": sum(r["bytes"] for r in reasons.values()),
            "reasons": dict(sorted(reasons.items())),
        },
        "metadata": {
            "documents": stats.get("metadata_documents", 0),
            "repositories": stats.get("metadata_repositories", 0),
        },
        "fim": {
            "candidate_repositories": stats.get("fim_candidate_repositories", 0),
            "files": stats.get("fim_files", 0),
            "psm": stats.get("fim_files", 0) - stats.get("fim_spm", 0),
            "spm": stats.get("fim_spm", 0),
        },
        SECTION: None,
    }
    if tokenizer is not None:
        counts = TokenCounts()
        for key, n in stats.items():
            if isinstance(key, tuple) and key[0] == "tokens":
                counts.add(key[1] or None, source, n)
        report[SECTION] = counts.to_json(tokenizer_info(req.tokenizer, tokenizer))
    return report


def card_text(report: dict) -> str:
    """A short card: what the documents are, from what, with which parameters, and the counts."""
    e = report["export"]
    p = e["parameters"]
    s = p["sentinels"]
    left = report["left_out"]
    lines = [
        "# Training documents",
        "",
        f"Exported by `stack-v2 export` from {md_code(e['dataset'])} (version {md_code(e['dataset_version'] or '-')}, "
        f"source {md_code(e['source'])}, contents from its {e['content_from']}) in StarCoder2's format: "
        f"{report['documents']:,} documents in {report['shards']:,} shards `data/train-*.parquet` with columns "
        "`text`, `repo_name`, `num_files`, `num_tokens`, `languages`, `fim_files`, `has_metadata`, `part`, "
        "`num_parts`, `source`, `id`.",
        "",
        "| | |",
        "|---|---:|",
        f"| files in | {report['files_in']:,} ({megabytes(report['bytes_in'])} MB) |",
        f"| files exported | {report['files']:,} ({megabytes(report['bytes'])} MB) |",
        f"| files left out | {left['files']:,} ({megabytes(left['bytes'])} MB) |",
        f"| repositories | {report['repositories']:,} ({report['split_repositories']:,} split) |",
        f"| documents | {report['documents']:,} ({megabytes(report['bytes_out'])} MB) |",
        f"| documents with metadata | {report['metadata']['documents']:,} |",
        f"| FIM files (PSM / SPM) | {report['fim']['files']:,} ({report['fim']['psm']:,} / {report['fim']['spm']:,}) |",
        "",
        f"Parameters: seed {p['seed']}, metadata rate {p['metadata_rate']}, FIM rate {p['fim_rate']} of "
        f"repositories and {p['fim_file_rate']} of their files, SPM rate {p['fim_spm_rate']}, at most "
        f"{p['max_document_chars']:,} characters per document (0: no limit; a repository above it is split at "
        "file boundaries). Sentinels: " + ", ".join(md_code(v) for v in s.values()) + ".",
    ]
    if left["reasons"]:
        lines += ["", "Files left out (their text holds a sentinel, so it would not parse back unchanged):", ""]
        lines += [f"- {md_code(r)}: {c['files']:,} files" for r, c in left["reasons"].items()]
    if report.get("tokens"):
        lines += card_lines(report["tokens"])
    else:
        lines += ["", "No tokenizer was given: `num_tokens` is null."]
    if p["packed"]:
        lines += [
            "",
            "`packed/train-*.{bin,idx.npy,json}`: each Parquet shard's token ids, documents in the same order.",
        ]
    lines += ["", "The format, FIM, the split rule and `parse_document`: docs/training.md of stack-v2."]
    return "\n".join(lines) + "\n"


def html_text(report: dict) -> str:
    """The HTML report: the counts, the parameters and the tokens, every value escaped (report_html's page)."""
    from stack_v2.report_html.markup import Table, e, mb
    from stack_v2.report_html.page import html_page
    from stack_v2.report_html.sections import tokens_body

    x, left = report["export"], report["left_out"]
    counts = Table(["", "#files", "#MB"])
    counts.add("in", report["files_in"], mb(report["bytes_in"]))
    counts.add("exported", report["files"], mb(report["bytes"]))
    counts.add("left out", left["files"], mb(left["bytes"]))
    for reason, c in left["reasons"].items():
        counts.add(f"  {reason}", c["files"], mb(c["bytes"]))
    documents = Table(["", "#count"])
    documents.add("documents", report["documents"])
    documents.add("repositories", report["repositories"])
    documents.add("split repositories", report["split_repositories"])
    documents.add("documents with metadata", report["metadata"]["documents"])
    documents.add("FIM files, PSM", report["fim"]["psm"])
    documents.add("FIM files, SPM", report["fim"]["spm"])
    parameters = Table(["parameter", "value"])
    for name, value in x["parameters"].items():
        parameters.add(name, ", ".join(value.values()) if isinstance(value, dict) else value)
    tokens = report.get("tokens")
    body = [
        "<h1>Training documents</h1>",
        f'<p class="summary">Exported from <code>{e(x["dataset"])}</code> (version '
        f"<code>{e(x['dataset_version'] or '-')}</code>, source <code>{e(x['source'])}</code>, contents from its "
        f"{e(x['content_from'])}): {report['documents']:,} documents, {mb(report['bytes_out'])} MB, in "
        f"{report['shards']:,} shards.</p>",
        "<h2>Files</h2>",
        counts.html(),
        "<h2>Documents</h2>",
        documents.html(),
        "<h2>Tokens</h2>",
        tokens_body(tokens) if tokens else "<p>No tokenizer was given: <code>num_tokens</code> is null.</p>",
        "<h2>Parameters</h2>",
        parameters.html(),
    ]
    return html_page(f"stack-v2 export: {x['dataset']}", body)
