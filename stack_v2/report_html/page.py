"""The report as one self-contained HTML page: inline CSS, the plots as base64 PNG data URLs, no script,
no external resource. Every piece of text from the data (names of repositories, paths, languages,
licenses, reasons) is escaped, so a repository called ``<script>`` shows as text."""

from __future__ import annotations

import base64
import html
import struct
from collections.abc import Iterable, Sequence

from stack_v2 import __version__
from stack_v2.report_html.plots import Plot, human_bytes
from stack_v2.report_html.stats import SIZE_BINS, DatasetStats, SizeStats

CSS = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; margin: 0; color: #1d2329;
       background: #ffffff; line-height: 1.45; }
main { max-width: 1060px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.7em; margin: 0 0 .3em; }
h2 { font-size: 1.3em; margin: 1.8em 0 .5em; padding-bottom: .2em; border-bottom: 1px solid #d5dbe1; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
p.summary { font-size: 1.05em; }
nav { margin: .8em 0 1.2em; }
nav a { margin-right: 1em; color: #1f5fa8; text-decoration: none; }
figure { margin: .6em 0 1em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e8ec; }
figcaption { font-size: .9em; color: #56616b; }
table { border-collapse: collapse; margin: .4em 0 1em; font-size: .9em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e4e8ec; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.path { font-family: "DejaVu Sans Mono", monospace; word-break: break-all; }
tr.total td { font-weight: bold; }
.kept { color: #3a7d44; } .dropped { color: #c0392b; }
footer { margin-top: 2.5em; font-size: .85em; color: #56616b; }
"""


# Nothing outside the file may load: images are data: URLs, the style is inline, there is no script.
CSP = (
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
)


def e(value) -> str:
    """Text for HTML, quotes included (attribute values too)."""
    return html.escape("" if value is None else str(value), quote=True)


def mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.2f}"


def pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}" if whole else "0.00"


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


class Table:
    """An HTML table; columns named "#..." are numeric (right-aligned), "~..." hold paths."""

    def __init__(self, columns: Sequence[str]):
        self.columns = list(columns)
        self.rows: list[tuple[str, Sequence]] = []

    def add(self, *cells, css: str = "") -> None:
        self.rows.append((css, cells))

    def html(self) -> str:
        def cls(column: str) -> str:
            return ' class="n"' if column.startswith("#") else ' class="path"' if column.startswith("~") else ""

        out = [
            "<table>",
            "<thead><tr>" + "".join(f"<th{cls(c)}>{e(c.lstrip('#~'))}</th>" for c in self.columns) + "</tr></thead>",
            "<tbody>",
        ]
        for css, cells in self.rows:
            attr = f' class="{e(css)}"' if css else ""
            out.append(
                f"<tr{attr}>" + "".join(f"<td{cls(c)}>{_cell(v)}</td>" for c, v in zip(self.columns, cells)) + "</tr>"
            )
        if not self.rows:
            out.append(f'<tr><td colspan="{len(self.columns)}">none</td></tr>')
        out += ["</tbody>", "</table>"]
        return "\n".join(out)


def _cell(value) -> str:
    if isinstance(value, bool) or value is None:
        return e(value if value is not None else "")
    if isinstance(value, int):
        return f"{value:,}"
    return e(value)


def figure(plot: Plot) -> str:
    width, height = png_size(plot.png)
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure id="plot-{e(plot.name)}"><img src="data:image/png;base64,{data}" width="{width}" '
        f'height="{height}" alt="{e(plot.title)}"><figcaption>{e(plot.title)} '
        f"(<code>{e(plot.name)}.png</code>)</figcaption></figure>"
    )


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
    """(id, title, body) of the optional sections: PII, notebooks, opt-outs."""
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
    return sections


def render(stats: DatasetStats, plots: Sequence[Plot]) -> str:
    report = stats.report
    by_name = {p.name: p for p in plots}
    run = report.get("run", {})
    totals = report.get("totals", {})
    name = run.get("recipe") or "dataset"
    kept, total_in = totals.get("kept", {"files": 0, "bytes": 0}), totals.get("input", {"files": 0, "bytes": 0})
    accounting = report.get("accounting")
    accounting_text = "ok" if accounting == "ok" else f"VIOLATED: {'; '.join(map(str, accounting or ['not checked']))}"
    sections: list[tuple[str, str, str]] = [
        ("funnel", "Funnel", figure(by_name["funnel"]) + funnel_tables(report)),
    ]
    if report.get("filters"):
        sections.append(("filters", "Filters", filters_table(report["filters"])))
    sections += [
        ("languages", "Languages", figure(by_name["languages"]) + languages_table(report.get("languages", {}))),
        ("licenses", "Licenses", figure(by_name["licenses"]) + license_tables(stats)),
        ("sizes", "File sizes", figure(by_name["sizes"]) + size_tables(stats)),
        ("repositories", "Repositories", figure(by_name["repositories"]) + repository_tables(stats)),
        ("largest", f"Largest files (top {stats.top})", largest_files_table(stats)),
        *extra_sections(report),
    ]
    body = [
        f"<h1>Dataset report: {e(name)}</h1>",
        (
            f'<p class="summary">Recipe <code>{e(name)}</code>, archive <code>{e(run.get("archive", ""))}</code>: '
            f'<span class="kept">{kept["files"]:,} files ({mb(kept["bytes"])} MB) kept</span> of {total_in["files"]:,} '
            f"({mb(total_in['bytes'])} MB) in {len(report.get('languages', {})):,} languages; accounting "
            f"{e(accounting_text)}.</p>"
        ),
        "<nav>" + "".join(f'<a href="#{sid}">{e(title)}</a>' for sid, title, _ in sections) + "</nav>",
    ]
    for sid, title, content in sections:
        body.append(f'<section id="{sid}">\n<h2>{e(title)}</h2>\n{content}\n</section>')
    seconds = run.get("seconds")
    took = f"; the build took {seconds:,.1f} s" if isinstance(seconds, (int, float)) else ""
    body.append(
        f"<footer>Written by stack-v2 {e(__version__)} from report.json, {stats.shards['manifest']:,} "
        f"manifest and {stats.shards['dropped']:,} dropped shards{took}.</footer>"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            CSP,
            f"<title>stack-v2 report: {e(name)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )
