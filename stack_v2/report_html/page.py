"""The report as one self-contained HTML page: inline CSS, the plots as inline SVG, no script,
no external resource. Every piece of text from the data (names of repositories, paths, languages,
licenses, reasons) is escaped, so a repository called ``<script>`` shows as text.

This module assembles the page (``render``): its head and style, the summary, the order of the sections
(``sections``) and the footer; the escaping, tables and figures are ``markup``'s."""

from __future__ import annotations

from collections.abc import Sequence

from stack_v2 import __version__
from stack_v2.report_html.markup import e, figure, mb
from stack_v2.report_html.plots import Plot
from stack_v2.report_html.sections import (
    extra_sections,
    filters_table,
    funnel_tables,
    languages_table,
    largest_files_table,
    license_tables,
    repository_tables,
    size_tables,
)
from stack_v2.report_html.stats import DatasetStats

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
figure svg { display: block; max-width: 100%; height: auto; border: 1px solid #e4e8ec; }
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


# Nothing outside the file may load: the plots are inline SVG (no image to fetch), the style is inline, there is
# no script.
CSP = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"


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
    return html_page(f"stack-v2 report: {name}", body)


def html_page(title: str, body: Sequence[str]) -> str:
    """A whole page around ``body`` (HTML already escaped): the style, the CSP, no script."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            CSP,
            f"<title>{e(title)}</title>",
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
