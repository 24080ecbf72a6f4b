"""`stack-v2 report DIR`: a self-contained HTML report of a build, and its plots as SVG for the dataset card.

    stats.py   report.json + column subsets of manifest/ and dropped/, aggregated batch by batch
    plots.py   the plots as SVG text, written by hand (no plotting library)
    page.py    the HTML page: inline CSS, plots as inline SVG, every data string escaped
    sections.py, markup.py   the page's sections, and the escaping HTML building blocks they use

``write_report`` writes ``DIR/report/index.html`` and ``DIR/report/<plot>.svg`` by default and links the
SVGs from the dataset card (README.md, between markers, see ``stack_v2.io.card.embed_plots``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from stack_v2 import storage
from stack_v2.io.layout import REPORT_DIR

INDEX = "index.html"


@dataclass(frozen=True)
class ReportFiles:
    html: str
    plots: list[str]  # SVG paths
    card_updated: bool


def write_report(
    dataset: str, output: str | None = None, top: int = 15, repos_per_pass: int | None = None
) -> ReportFiles:
    """Write the HTML report of ``dataset`` to ``output`` (default ``DATASET/report/index.html``) and the
    plots as SVG files beside it; when they land in ``DATASET/report/``, the dataset card links them."""
    from stack_v2.io.card import embed_plots
    from stack_v2.report_html.page import render
    from stack_v2.report_html.plots import render_all
    from stack_v2.report_html.stats import REPOS_PER_PASS, collect

    dataset = storage.absolute(dataset)
    output = storage.absolute(output or storage.join(dataset, REPORT_DIR, INDEX))
    stats = collect(dataset, top, repos_per_pass or REPOS_PER_PASS)
    plots = render_all(stats)
    out_dir = storage.dirname(output)
    paths = []
    for plot in plots:
        path = storage.join(out_dir, f"{plot.name}.svg")
        storage.write_text(path, plot.svg)
        paths.append(path)
    storage.write_bytes(output, render(stats, plots).encode("utf-8"))
    card = storage.join(dataset, "README.md")
    card_updated = False
    in_dataset = _same_place(out_dir, storage.join(dataset, REPORT_DIR))
    if in_dataset:
        # the PNGs an older stack-v2 wrote there: left, they would show the numbers (and names) of before
        for plot in plots:
            storage.delete(storage.join(out_dir, f"{plot.name}.png"))
    if in_dataset and storage.exists(card):
        embed_plots(
            card,
            [(f"{REPORT_DIR}/{plot.name}.svg", plot.title) for plot in plots],
            report=f"{REPORT_DIR}/{storage.basename(output)}",
        )
        card_updated = True
    return ReportFiles(output, paths, card_updated)


def _same_place(a: str, b: str) -> bool:
    if storage.is_remote(a) or storage.is_remote(b):
        return a.rstrip("/") == b.rstrip("/")
    return os.path.realpath(a) == os.path.realpath(b)


def write_report_or_warn(dataset: str) -> ReportFiles | None:
    """``write_report`` with the defaults for a build that just finished: a failure to plot is reported on
    stderr and leaves the dataset as it is (no plots in the card), it never fails the build."""
    try:
        return write_report(dataset)
    except Exception as exc:  # noqa: BLE001 - the dataset is complete without its plots
        print(
            f"[stack-v2] warning: the HTML report and plots were not written ({type(exc).__name__}: {exc}); "
            f"`stack-v2 report DIR` writes them later",
            file=sys.stderr,
        )
        return None
