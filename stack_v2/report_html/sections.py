"""The report page's sections as HTML: the funnel, filters, languages, licenses, file sizes, repositories and
largest files tables, and the optional PII, notebooks, opt-outs and tokens sections."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stack_v2.report_html.markup import Table, e, mb, pct
from stack_v2.report_html.plots import human_bytes
from stack_v2.report_html.stats import SIZE_BINS, DatasetStats, SizeStats


def funnel_tables(report: dict) -> str:
    t = Table(
        [
            "stage",
            "#files in",
            "#kept",
            "#dropped",
            "#failed",
            "#% files removed",
            "#MB in",
            "#MB kept",
            "#MB removed",
            "#% volume removed",
        ]
    )
    for st in report.get("stages", []):
        removed_files = st["dropped"]["files"] + st["failed"]["files"]
        removed_bytes = st["dropped"]["bytes"] + st["failed"]["bytes"]
        t.add(
            st["stage"],
            st["input"]["files"],
            st["kept"]["files"],
            st["dropped"]["files"],
            st["failed"]["files"],
            pct(removed_files, st["input"]["files"]),
            mb(st["input"]["bytes"]),
            mb(st["kept"]["bytes"]),
            mb(removed_bytes),
            pct(removed_bytes, st["input"]["bytes"]),
        )
    totals = report.get("totals")
    if totals:
        removed_files = totals["dropped"]["files"] + totals["failed"]["files"]
        removed_bytes = totals["dropped"]["bytes"] + totals["failed"]["bytes"]
        t.add(
            "all stages",
            totals["input"]["files"],
            totals["kept"]["files"],
            totals["dropped"]["files"],
            totals["failed"]["files"],
            pct(removed_files, totals["input"]["files"]),
            mb(totals["input"]["bytes"]),
            mb(totals["kept"]["bytes"]),
            mb(removed_bytes),
            pct(removed_bytes, totals["input"]["bytes"]),
            css="total",
        )
    reasons = Table(["stage", "outcome", "reason", "#files", "#% of stage input", "#MB", "#bytes"])
    for st in report.get("stages", []):
        for outcome, by_reason in st.get("reasons", {}).items():
            for reason, c in by_reason.items():
                reasons.add(
                    st["stage"],
                    outcome,
                    reason,
                    c["files"],
                    pct(c["files"], st["input"]["files"]),
                    mb(c["bytes"]),
                    c["bytes"],
                )
    return t.html() + "\n<h3>Reasons</h3>\n" + reasons.html()


def filters_table(filters: dict) -> str:
    base = filters["input"]
    t = Table(["filter", "rule", "#files removed", "#% files", "#MB removed", "#% volume"])
    for row in filters["rules"]:
        rule = row["reason"] if row["outcome"] == "dropped" else f"{row['reason']} (failed)"
        t.add(row["filter"], rule, row["files"], f"{row['files_pct']:.2f}", mb(row["bytes"]), f"{row['bytes_pct']:.2f}")
    total = filters["removed"]
    t.add(
        "all filters",
        "",
        total["files"],
        f"{total['files_pct']:.2f}",
        mb(total["bytes"]),
        f"{total['bytes_pct']:.2f}",
        css="total",
    )
    return (
        f"<p>What the training-set filters removed from the {base['files']:,} files ({mb(base['bytes'])} MB) "
        f"that reached the first of them, as the paper's filter table.</p>\n{t.html()}"
    )


def languages_table(languages: dict) -> str:
    total_files = sum(c["files"] for c in languages.values())
    total_bytes = sum(c["bytes"] for c in languages.values())
    t = Table(["language", "#files", "#% files", "#MB", "#% volume", "#bytes"])
    for name, c in sorted(languages.items(), key=lambda kv: (-kv[1]["bytes"], kv[0])):
        t.add(name, c["files"], pct(c["files"], total_files), mb(c["bytes"]), pct(c["bytes"], total_bytes), c["bytes"])
    t.add(
        "all languages",
        total_files,
        "100.00" if total_files else "0.00",
        mb(total_bytes),
        "100.00" if total_bytes else "0.00",
        total_bytes,
        css="total",
    )
    return t.html()


def license_tables(stats: DatasetStats) -> str:
    kinds = Table(["license type", "#files", "#MB"])
    for kind, c in stats.license_types.items():
        kinds.add(kind + (" (dropped by the license stage)" if kind == "non_permissive" else ""), c.files, mb(c.bytes))
    out = [kinds.html()]
    detected = Table(["license", "#kept files", "#MB"])
    for name, c in stats.detected_licenses.items():
        detected.add(name, c.files, mb(c.bytes))
    out += [f"<h3>Licenses detected in kept files (top {stats.top})</h3>", detected.html()]
    if stats.dropped_licenses:
        named = Table(["license", "#files dropped because of it", "#MB"])
        for name, c in stats.dropped_licenses.items():
            named.add(name, c.files, mb(c.bytes))
        out += [
            f"<h3>Licenses that decided non_permissive drops (top {stats.top}; a permissive license found "
            "beside them is not counted)</h3>",
            named.html(),
        ]
    detection = stats.report.get("license_detection")
    if detection:
        t = Table(["outcome", "reason", "#license files (distinct blobs)"])
        for outcome, reasons in detection.items():
            for reason, files in reasons.items():
                t.add(outcome, reason, files)
        out += ["<h3>License detection</h3>", t.html()]
    return "\n".join(out)


def _size_summary(name: str, sizes: SizeStats) -> list:
    median = sizes.median_bin()
    if median is None:
        return [name, 0, "", "", "", "", ""]
    return [
        name,
        sizes.files,
        sizes.total,
        f"{sizes.total / sizes.files:,.0f}",
        sizes.smallest,
        sizes.largest,
        _bin_label(median),
    ]


def _bin_label(k: int) -> str:
    low, high = SizeStats.bin_range(k)
    return f"{human_bytes(low)} – {human_bytes(high)}" if high else f"≥ {human_bytes(low)}"


def size_tables(stats: DatasetStats) -> str:
    summary = Table(["files", "#count", "#bytes", "#mean bytes", "#smallest", "#largest", "median between"])
    summary.add(*_size_summary("kept", stats.kept_sizes))
    summary.add(*_size_summary("dropped", stats.dropped_sizes))
    bins = Table(["length_bytes", "#kept files", "#dropped files"])
    for k in range(SIZE_BINS):
        kept, dropped = int(stats.kept_sizes.bins[k]), int(stats.dropped_sizes.bins[k])
        if kept or dropped:
            bins.add("0 (empty)" if k == 0 else _bin_label(k), kept, dropped)
    return summary.html() + "\n<h3>Histogram</h3>\n" + bins.html()


def repository_tables(stats: DatasetStats) -> str:
    out = [f"<p>{stats.repositories:,} repositories have kept files.</p>"]
    for title, rows in (
        (f"Top {stats.top} by files", stats.top_repos_by_files),
        (f"Top {stats.top} by bytes", stats.top_repos_by_bytes),
    ):
        t = Table(["repository", "#files", "#MB", "#bytes"])
        for repo, files, nbytes in rows:
            t.add(repo, files, mb(nbytes), nbytes)
        out += [f"<h3>{e(title)}</h3>", t.html()]
    return "\n".join(out)


def largest_files_table(stats: DatasetStats) -> str:
    t = Table(["repository", "~path", "language", "#bytes"])
    for row in stats.largest_files:
        t.add(row["repo_name"], row["path"], row["language"], row["length_bytes"])
    return t.html()


def _counts_table(columns: Sequence[str], rows: Iterable[tuple]) -> str:
    t = Table(columns)
    for row in rows:
        t.add(*row)
    return t.html()


def extra_sections(report: dict) -> list[tuple[str, str, str]]:
    """(id, title, body) of the optional sections: PII, notebooks, opt-outs, license evidence, tokens."""
    sections = []
    pii = report.get("pii")
    if pii:
        body = (
            f"<p>{pii.get('files_redacted', {}).get('all', 0):,} files had personal data or secrets "
            "replaced.</p>\n" + _counts_table(["type", "#spans"], pii.get("spans", {}).items())
        )
        sections.append(("pii", "PII redaction", body))
    notebooks = report.get("notebooks")
    if notebooks:
        rows = [("script", language, n) for language, n in notebooks.get("scripts", {}).items()]
        rows += [("structured", "Python (triplets)", n) for n in notebooks.get("structured", {}).values()]
        rows += [
            (f"no script ({outcome})", reason, n)
            for outcome in ("dropped", "failed")
            for reason, n in notebooks.get(outcome, {}).items()
        ]
        sections.append(
            ("notebooks", "Jupyter notebooks", _counts_table(["form", "language or reason", "#notebooks"], rows))
        )
    optouts = report.get("optouts")
    if optouts:
        body = (
            f"<p>{optouts['files_removed']:,} files ({mb(optouts['bytes_removed'])} MB) of "
            f"{optouts['repositories_removed']:,} repositories removed at their owners' request.</p>\n"
            + _counts_table(
                ["applied at", "#requests", "#files removed", "#repositories removed"],
                (
                    (a["applied_at"], a["requests"], a["files_removed"], a["repositories_removed"])
                    for a in optouts.get("applications", [])
                ),
            )
        )
        sections.append(("optouts", "Opt-outs", body))
    evidence = report.get("license_evidence")
    if evidence:
        sections.append(("license-evidence", "License evidence", license_evidence_body(report)))
    tokens = report.get("tokens")
    if tokens:
        sections.append(("tokens", "Tokens", tokens_body(tokens)))
    return sections


def license_evidence_body(report: dict) -> str:
    """report.json's ``license_evidence`` (the license stage): the ScanCode matches behind the files dropped as
    non_permissive, per license file, and the rule that decided (``license_classification``)."""
    evidence = dict(report["license_evidence"])
    entries = evidence.pop("(entries)", {})
    rules = ", ".join(sorted((report.get("license_classification") or {}).get("rule", {}))) or "unknown"
    rows = [
        (where, match, n)
        for where, matches in sorted(evidence.items())
        for match, n in sorted(matches.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    shown, total = entries.get("shown", len(rows)), entries.get("all", len(rows))
    return (
        f"<p>Rule <code>{e(rules)}</code>: the license files and matches behind the files dropped as non_permissive "
        f"({shown:,} of {total:,} entries, the most files first).</p>\n"
        + _counts_table(["~repository and license file", "license and match", "#files dropped"], rows)
    )


def tokens_body(tokens: dict) -> str:
    """report.json's ``tokens`` (``stack_v2.tokens.summary``): the total, by language and source, the tokenizer."""
    total = int(tokens.get("total", 0))
    tok = tokens.get("tokenizer") or {}
    by = {
        k: sorted((tokens.get(k) or {}).items(), key=lambda kv: (-kv[1], kv[0])) for k in ("by_language", "by_source")
    }
    described = (
        f" counted with <code>{e(tok.get('path'))}</code> (sha256 <code>{e(tok.get('sha256'))}</code>, "
        f"{int(tok.get('vocab_size', 0)):,} ids; no special tokens added)"
        if tok
        else ""
    )
    return (
        f"<p>{total:,} tokens{described}.</p>\n"
        + _counts_table(["language", "#tokens", "#% tokens"], ((k, n, pct(n, total)) for k, n in by["by_language"]))
        + "\n<h3>By source</h3>\n"
        + _counts_table(["source", "#tokens", "#% tokens"], ((k, n, pct(n, total)) for k, n in by["by_source"]))
    )
