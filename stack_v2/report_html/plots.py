"""The report's plots as PNG bytes, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each plot is a function of the collected statistics; ``render_all`` returns them in the report's order.
Text from the data (language, license and repository names) is drawn as plain text: mathtext is off, so
a ``$`` in a repository name is a dollar sign.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave

from stack_v2.report_html.stats import SIZE_BINS, DatasetStats, top_languages

DPI = 100
WIDTH = 10.0  # inches: 1000 px at DPI
RC = {
    "text.parse_math": False,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "stack-v2",
    "path.simplify": True,
}
KEPT, DROPPED, FAILED, NEUTRAL = "#3a7d44", "#c0392b", "#e08e0b", "#4a6fa5"
LICENSE_COLOURS = {"permissive": KEPT, "no_license": NEUTRAL, "non_permissive": DROPPED}
LABEL_CHARS = 42
LICENSES_CAPTION = (
    "License types and detected licenses (green: kept files whose detected_licenses name it; red: "
    "files the license stage dropped because of it, i.e. a non-permissive license or GHArchive "
    "license; permissive licenses found beside them are not counted as dropped)"
)


@dataclass(frozen=True)
class Plot:
    name: str  # file name without .png
    title: str
    png: bytes


def _label(text: str) -> str:
    text = str(text)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _mb(nbytes: int) -> float:
    return nbytes / 1e6


def _figure(rows: int, columns: int = 2) -> tuple[Figure, list]:
    height = max(2.4, 1.1 + 0.3 * rows)
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, columns, squeeze=False)[0]
    return fig, list(axes)


def _png(fig: Figure) -> bytes:
    """The figure as ``fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})`` writes it, with
    one drawing instead of two: savefig draws a figure with a layout engine once without rendering to lay it
    out, then again to render; ``canvas.draw`` lays out and renders in one pass, and the PNG is encoded from
    its pixels the way savefig's Agg backend does (``print_png``). A fifth of the plots' CPU time; the bytes
    are the same (tests/test_report_html.py compares them)."""
    fig.canvas.draw()
    buf = io.BytesIO()
    imsave(buf, fig.canvas.buffer_rgba(), format="png", origin="upper", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _empty(ax, message: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666666")


def _barh(ax, labels: list[str], values: list[float], colour, title: str, fmt: str = "{:,.0f}") -> None:
    """Horizontal bars, first label on top, each value written at its bar's end."""
    if not labels:
        _empty(ax, "nothing to show")
        return
    positions = list(range(len(labels)))[::-1]
    ax.barh(positions, values, color=colour, height=0.7)
    ax.set_yticks(positions, [_label(x) for x in labels])
    ax.set_title(title, loc="left", fontsize=10)
    ax.margins(x=0.18)
    for y, v in zip(positions, values):
        ax.text(v, y, " " + fmt.format(v), va="center", fontsize=8)


def languages_plot(stats: DatasetStats) -> Plot:
    rows = top_languages(stats.report.get("languages", {}), stats.top)
    fig, (files_ax, bytes_ax) = _figure(len(rows))
    if not rows:
        _empty(files_ax, "no files kept")
        _empty(bytes_ax, "")
    else:
        names = [r[0] for r in rows]
        _barh(files_ax, names, [r[1] for r in rows], NEUTRAL, "Files per language")
        _barh(bytes_ax, names, [_mb(r[2]) for r in rows], KEPT, "MB per language", "{:,.2f}")
    return Plot("languages", "Files and bytes per language", _png(fig))


def licenses_plot(stats: DatasetStats) -> Plot:
    kinds = list(stats.license_types.items())
    names = list(dict.fromkeys([*stats.detected_licenses, *stats.dropped_licenses]))
    fig, (kind_ax, name_ax) = _figure(max(len(kinds), len(names), 3))
    if kinds:
        _barh(
            kind_ax,
            [k for k, _ in kinds],
            [c.files for _, c in kinds],
            [LICENSE_COLOURS.get(k, "#888888") for k, _ in kinds],
            "Files per license type (non_permissive: dropped)",
        )
    else:
        _empty(kind_ax, "no license information")
    if names:
        positions = list(range(len(names)))[::-1]
        kept = [stats.detected_licenses[n].files if n in stats.detected_licenses else 0 for n in names]
        dropped = [stats.dropped_licenses[n].files if n in stats.dropped_licenses else 0 for n in names]
        kind_width = 0.4
        name_ax.barh([p + kind_width / 2 for p in positions], kept, height=kind_width, color=KEPT, label="kept files")
        # dropped counts come from deciding_licenses: a permissive license found beside a GPL one gets no red bar
        name_ax.barh(
            [p - kind_width / 2 for p in positions],
            dropped,
            height=kind_width,
            color=DROPPED,
            label="files dropped because of it (non_permissive)",
        )
        name_ax.set_yticks(positions, [_label(n) for n in names])
        name_ax.set_title("Detected licenses: kept files, and the drops each decided", loc="left", fontsize=10)
        fig.legend(loc="outside lower right", ncols=2, fontsize=8, frameon=False)
        name_ax.margins(x=0.1)
    else:
        _empty(name_ax, "no license detected in any file")
    return Plot("licenses", LICENSES_CAPTION, _png(fig))


def funnel_plot(stats: DatasetStats) -> Plot:
    stages = stats.report.get("stages", [])
    fig, (files_ax, bytes_ax) = _figure(len(stages) + 1)
    if not stages:
        _empty(files_ax, "no stages")
        _empty(bytes_ax, "")
        return Plot("funnel", "Files kept and removed by each stage", _png(fig))
    positions = list(range(len(stages)))[::-1]
    labels = [st["stage"] for st in stages]
    for ax, key, scale, unit in ((files_ax, "files", 1, "Files"), (bytes_ax, "bytes", 1e-6, "MB")):
        kept = [st["kept"][key] * scale for st in stages]
        dropped = [st["dropped"][key] * scale for st in stages]
        failed = [st["failed"][key] * scale for st in stages]
        ax.barh(positions, kept, color=KEPT, height=0.7, label="kept")
        ax.barh(positions, dropped, left=kept, color=DROPPED, height=0.7, label="dropped")
        ax.barh(
            positions, failed, left=[k + d for k, d in zip(kept, dropped)], color=FAILED, height=0.7, label="failed"
        )
        ax.set_yticks(positions, labels)
        ax.set_xlim(left=0)
        ax.set_title(f"{unit} into each stage", loc="left", fontsize=10)
        ax.margins(x=0.2)
        for y, k, d, f in zip(positions, kept, dropped, failed):
            removed = d + f
            if removed:
                text = f"{removed:,.0f}" if key == "files" else decimal_bytes(removed / scale)
                ax.text(k + removed, y, f" −{text}", va="center", fontsize=8, color=DROPPED)
    handles, names = bytes_ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower right", ncols=3, fontsize=8, frameon=False)
    return Plot("funnel", "Files kept and removed by each stage", _png(fig))


def decimal_bytes(n: float) -> str:
    """1.07 MB, 4.3 kB, 120 B (decimal units, as the MB axes)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:,.2f} {unit}" if n < 100 * size else f"{n / size:,.0f} {unit}"
    return f"{n:.0f} B"


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n:.0f} B"


def sizes_plot(stats: DatasetStats) -> Plot:
    fig = Figure(figsize=(WIDTH, 3.6), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    used = [k for k in range(1, SIZE_BINS) if stats.kept_sizes.bins[k] or stats.dropped_sizes.bins[k]]
    if not used:
        _empty(ax, "no file with a size")
        return Plot("sizes", "File sizes (length_bytes)", _png(fig))
    first, last = used[0], used[-1]
    edges = [2 ** (k - 1) for k in range(first, last + 2)]
    for sizes, colour, label in ((stats.kept_sizes, KEPT, "kept"), (stats.dropped_sizes, DROPPED, "dropped")):
        empty = int(sizes.bins[0])
        note = f", {empty:,} empty" if empty else ""
        ax.stairs(
            sizes.bins[first : last + 1],
            edges,
            color=colour,
            linewidth=1.6,
            label=f"{label} ({sizes.files:,} files{note})",
        )
    ax.set_xscale("log", base=2)
    ticks = [2**e for e in range(first - 1, last + 1) if e % 2 == 0]
    ax.set_xticks(ticks, [human_bytes(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("length_bytes (log scale; bins double)")
    ax.set_ylabel("files")
    ax.set_title("File sizes", loc="left", fontsize=10)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    return Plot("sizes", "File sizes (length_bytes)", _png(fig))


def repositories_plot(stats: DatasetStats) -> Plot:
    by_files, by_bytes = stats.top_repos_by_files, stats.top_repos_by_bytes
    fig, (files_ax, bytes_ax) = _figure(max(len(by_files), len(by_bytes), 1))
    _barh(files_ax, [r[0] for r in by_files], [r[1] for r in by_files], NEUTRAL, "Top repositories by files kept")
    _barh(
        bytes_ax,
        [r[0] for r in by_bytes],
        [_mb(r[2]) for r in by_bytes],
        KEPT,
        "Top repositories by MB kept",
        "{:,.2f}",
    )
    return Plot("repositories", "Top repositories", _png(fig))


PLOTS = (languages_plot, licenses_plot, funnel_plot, sizes_plot, repositories_plot)


def render_all(stats: DatasetStats) -> list[Plot]:
    with matplotlib.rc_context(RC):
        return [plot(stats) for plot in PLOTS]
