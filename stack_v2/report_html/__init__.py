"""`stack-v2 report DIR`: a self-contained HTML report of a build, and its plots as PNG for the dataset card.

    stats.py   report.json + column subsets of manifest/ and dropped/, aggregated batch by batch
    plots.py   matplotlib (Agg) figures as PNG bytes
    page.py    the HTML page: inline CSS, plots as data: URLs, every data string escaped

``write_report`` writes ``DIR/report/index.html`` and ``DIR/report/<plot>.png`` by default and links the
PNGs from the dataset card (README.md, between markers, see ``stack_v2.io.card.embed_plots``).
"""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass

REPORT_DIR = "report"  # under the dataset directory
INDEX = "index.html"


@dataclass(frozen=True)
class ReportFiles:
    html: str
    plots: list[str]  # PNG paths
    card_updated: bool


def _write_atomic(path: str, data: bytes) -> None:
    """Write via a temporary name and rename (also replaces a hard link without touching its other names)."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_report(dataset: str, output: str | None = None, top: int = 15, repos_per_pass: int | None = None
                 ) -> ReportFiles:  # fmt: skip
    """Write the HTML report of ``dataset`` to ``output`` (default ``DATASET/report/index.html``) and the
    plots as PNG files beside it; when they land in ``DATASET/report/``, the dataset card links them."""
    from stack_v2.io.card import embed_plots
    from stack_v2.report_html.page import render
    from stack_v2.report_html.plots import render_all
    from stack_v2.report_html.stats import REPOS_PER_PASS, collect

    dataset = os.path.abspath(dataset)
    output = os.path.abspath(output or os.path.join(dataset, REPORT_DIR, INDEX))
    stats = collect(dataset, top, repos_per_pass or REPOS_PER_PASS)
    plots = render_all(stats)
    out_dir = os.path.dirname(output)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for plot in plots:
        path = os.path.join(out_dir, f"{plot.name}.png")
        _write_atomic(path, plot.png)
        paths.append(path)
    _write_atomic(output, render(stats, plots).encode("utf-8"))
    card = os.path.join(dataset, "README.md")
    card_updated = False
    if os.path.realpath(out_dir) == os.path.realpath(os.path.join(dataset, REPORT_DIR)) and os.path.isfile(card):
        embed_plots(card, [(f"{REPORT_DIR}/{plot.name}.png", plot.title) for plot in plots],
                        report=f"{REPORT_DIR}/{os.path.basename(output)}")  # fmt: skip
        card_updated = True
    return ReportFiles(output, paths, card_updated)


def write_report_or_warn(dataset: str) -> ReportFiles | None:
    """``write_report`` with the defaults for a build that just finished: a failure to plot is reported on
    stderr and leaves the dataset as it is (no plots in the card), it never fails the build."""
    try:
        return write_report(dataset)
    except Exception as exc:  # noqa: BLE001 - the dataset is complete without its plots
        print(f"[stack-v2] warning: the HTML report and plots were not written ({type(exc).__name__}: {exc}); "
              f"`stack-v2 report DIR` writes them later", file=sys.stderr)  # fmt: skip
        return None
