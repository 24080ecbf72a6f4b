"""The report's plots as SVG text, written by hand: no plotting library to import, so the five plots of a build
take milliseconds.

Each plot is a function of the collected statistics; ``render_all`` returns them in the report's order. A plot is
a 1000-px-wide SVG (one panel, or two side by side) on a white background, so that it reads the same inline in
the page and as a file beside it. Text from the data (language, license and repository names) is XML-escaped: a
``<``, ``&`` or ``$`` in a name shows as itself. There are no font metrics here: text widths are estimated letter
by letter, generously, to leave labels their room. The same stats give the same text.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass

from stack_v2.report_html.stats import SIZE_BINS, DatasetStats, top_languages

WIDTH = 1000  # px
ROW = 30  # px of height per row of bars
LEFT, RIGHT, WHOLE = (0.0, WIDTH / 2), (WIDTH / 2, float(WIDTH)), (0.0, float(WIDTH))  # panels' x bounds
FONT, SMALL, TITLE = 12, 11, 14  # px: labels and ticks; values and legends; panel titles
INK, MUTED, AXIS = "#222222", "#666666", "#444444"
KEPT, DROPPED, FAILED, NEUTRAL = "#3a7d44", "#c0392b", "#e08e0b", "#4a6fa5"
LICENSE_COLOURS = {"permissive": KEPT, "no_license": NEUTRAL, "non_permissive": DROPPED}
LABEL_CHARS = 42
LICENSES_CAPTION = (
    "License types and detected licenses (green: kept files whose detected_licenses name it; red: "
    "files the license stage dropped because of it, i.e. a non-permissive license or GHArchive "
    "license; permissive licenses found beside them are not counted as dropped)"
)
# Characters XML 1.0 forbids even as references (control characters, lone surrogates): a name holding one
# would make the whole SVG unreadable, so it shows as U+FFFD instead.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NARROW, _WIDE = frozenset("fijlrt.,:;'!|()[] "), frozenset("mwMW@%")  # letters far from the average width


@dataclass(frozen=True)
class Plot:
    name: str  # file name without .svg
    title: str
    svg: str


# --- SVG text --------------------------------------------------------------------------------------------------


def _esc(text) -> str:
    return html.escape(_NOT_XML.sub("\ufffd", str(text)), quote=True)


def _num(x: float) -> str:
    """A coordinate to 0.1 px: short, and the same text for the same stats."""
    return f"{float(x):.1f}".removesuffix(".0")


def _text(x: float, y: float, text, size: int = FONT, anchor: str = "start", fill: str = "", extra: str = "") -> str:
    attrs = f' font-size="{size}"' if size != FONT else ""
    attrs += f' text-anchor="{anchor}"' if anchor != "start" else ""
    attrs += f' fill="{fill}"' if fill else ""
    return f'<text x="{_num(x)}" y="{_num(y)}"{attrs}{extra}>{_esc(text)}</text>'


def _rect(x: float, y: float, width: float, height: float, fill: str, kind: str = "bar") -> str:
    return (
        f'<rect class="{kind}" x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" height="{_num(height)}" '
        f'fill="{fill}"/>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = AXIS, width: float = 1) -> str:
    return (
        f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" stroke="{stroke}" '
        f'stroke-width="{_num(width)}"/>'
    )


def _svg(height: float, label: str, parts: list[str]) -> str:
    """The document: width 1000 and a viewBox, so that a page may scale it down; fonts and ink set once here."""
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{_num(height)}" '
            f'viewBox="0 0 {WIDTH} {_num(height)}" font-family="sans-serif" font-size="{FONT}" fill="{INK}" '
            f'role="img" aria-label="{_esc(label)}">',
            '<rect class="background" width="100%" height="100%" fill="#ffffff"/>',
            *parts,
            "</svg>",
            "",
        ]
    )


def _width(text: str, size: int) -> float:
    """Estimated from the letters, for a wide sans-serif (DejaVu Sans): better too wide than overlapping."""
    return size * sum(0.3 if c in _NARROW else 1.0 if c in _WIDE else 0.75 if c.isupper() else 0.62 for c in text)


def _label(text: str) -> str:
    text = str(text)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _height(rows: int) -> float:
    """About 30 px per row, 240 at least (the height the PNGs had)."""
    return max(240.0, 110.0 + ROW * rows)


# --- axes ------------------------------------------------------------------------------------------------------


def _nice(raw: float) -> float:
    """The smallest 1, 2 or 5 x 10^k that is at least ``raw``: a tick step that reads well."""
    if raw <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))


def _ticks(top: float, count: int, whole: bool = False) -> tuple[list[float], int]:
    """Ticks from 0 to ``top``, about ``count`` of them at a nice step (1 at least if ``whole``: counts of files
    have no halves), and the decimals their labels need."""
    step = max(_nice(top / count), 1.0 if whole else 0.0)
    decimals = max(0, -math.floor(math.log10(step)))
    return [i * step for i in range(int(top / step + 1e-9) + 1)], decimals


@dataclass(frozen=True)
class Frame:
    """The plot area of a bar panel, [x0, x1] x [y0, y1] in px, its x scale (px per unit, from 0 at x0) and its
    rows (the first on top)."""

    x0: float
    x1: float
    y0: float
    y1: float
    scale: float
    rows: int

    def x(self, value: float) -> float:
        return self.x0 + value * self.scale

    def row(self, i: int) -> tuple[float, float]:
        """The middle y of row ``i`` and the height of its band."""
        band = (self.y1 - self.y0) / self.rows
        return self.y0 + band * (i + 0.5), band


def _axes(box, height: float, labels: list, top: float, title: str, room: float, legend: bool = False):
    """A bar panel between the box's x bounds: its title, a label per row, an x axis from 0 with nice ticks (whole
    numbers if ``top`` is an int). The bars fill the width but for ``room`` px right of ``top``, the largest
    value, for the text at its end; the figure's legend, if any, goes below. Returns the parts drawn and the
    Frame to draw bars in."""
    left, right = box
    labels = [_label(x) for x in labels]
    x0 = left + 16 + max(_width(label, FONT) for label in labels)
    x1, y0, y1 = right - 30, 34.0, height - (46.0 if legend else 28.0)
    frame = Frame(x0, x1, y0, y1, max(x1 - x0 - room, 40) / (top or 1), len(labels))
    parts = [_text(left + 8, 20, title, TITLE), _line(x0, y0, x0, y1), _line(x0, y1, x1, y1)]
    domain = (x1 - x0) / frame.scale
    spacing = max(50, _width(f"{domain:,.0f}", FONT) + 24)  # px from tick to tick: the labels must not touch
    ticks, decimals = _ticks(domain, max(2, int((x1 - x0) // spacing)), whole=not isinstance(top, float))
    for t in ticks:
        x = frame.x(t)
        parts += [_line(x, y1, x, y1 + 4), _text(x, y1 + 16, f"{t:,.{decimals}f}", anchor="middle")]
    for i, label in enumerate(labels):
        y, _ = frame.row(i)
        parts += [_line(x0 - 4, y, x0, y), _text(x0 - 7, y + 0.35 * FONT, label, anchor="end")]
    return parts, frame


def _bar(frame: Frame, row: int, value: float, fill: str, start: float = 0.0, shift: float = 0.0, thick=0.7) -> str:
    """The bar of ``value`` on ``row`` from ``start`` (data units); ``shift`` moves it down and ``thick`` sizes it,
    both in fractions of the row's band (grouped bars sit above and below the middle)."""
    y, band = frame.row(row)
    return _rect(frame.x(start), y + (shift - thick / 2) * band, value * frame.scale, thick * band, fill)


def _value(frame: Frame, row: int, end: float, text: str, fill: str = "") -> str:
    """``text`` written just right of a bar ending at ``end`` (data units)."""
    y, _ = frame.row(row)
    return _text(frame.x(end) + 4, y + 0.35 * SMALL, text, SMALL, fill=fill)


def _legend(keys: list[tuple[str, str]], right: float, y: float, lines: bool = False, stacked: bool = False):
    """A key per (colour, label), the block ending at x = ``right``: in a row on ``y``, or stacked down from it.
    A key is a square of the colour (a short line of it for line plots) and its label."""
    sizes = [24 + _width(label, SMALL) for _, label in keys]
    x = right - (max(sizes) if stacked else sum(sizes) + 12 * (len(keys) - 1))
    parts = []
    for i, ((colour, label), size) in enumerate(zip(keys, sizes)):
        ky = y + 16 * i if stacked else y
        if lines:
            parts.append(_line(x, ky - 4, x + 18, ky - 4, colour, 1.6))
        else:
            parts.append(_rect(x + 4, ky - 9, 10, 10, colour, "key"))
        parts.append(_text(x + 24, ky, label, SMALL))
        x += 0 if stacked else size + 12
    return parts


def _empty(box, height: float, message: str) -> list[str]:
    left, right = box
    return [_text((left + right) / 2, height / 2, message, anchor="middle", fill=MUTED)] if message else []


# --- the plots -------------------------------------------------------------------------------------------------


def _bar_panel(box, height: float, labels: list, values: list, fill, title: str, fmt: str = "{:,.0f}") -> list[str]:
    """Horizontal bars, first label on top, each value written at its bar's end; ``fill``: a colour, or one per
    bar."""
    if not labels:
        return _empty(box, height, "nothing to show")
    texts = [fmt.format(v) for v in values]
    room = max(_width(text, SMALL) for text in texts) + 8
    parts, frame = _axes(box, height, labels, max(values), title, room)
    fills = fill if isinstance(fill, list) else [fill] * len(values)
    for i, (value, text, colour) in enumerate(zip(values, texts, fills)):
        parts += [_bar(frame, i, value, colour), _value(frame, i, value, text)]
    return parts


def _mb(nbytes: int) -> float:
    return nbytes / 1e6


def languages_plot(stats: DatasetStats) -> Plot:
    rows = top_languages(stats.report.get("languages", {}), stats.top)
    height = _height(len(rows))
    title = "Files and bytes per language"
    if not rows:
        return Plot("languages", title, _svg(height, title, _empty(LEFT, height, "no files kept")))
    names = [r[0] for r in rows]
    parts = _bar_panel(LEFT, height, names, [r[1] for r in rows], NEUTRAL, "Files per language")
    parts += _bar_panel(RIGHT, height, names, [_mb(r[2]) for r in rows], KEPT, "MB per language", "{:,.2f}")
    return Plot("languages", title, _svg(height, title, parts))


def licenses_plot(stats: DatasetStats) -> Plot:
    kinds = list(stats.license_types.items())
    names = list(dict.fromkeys([*stats.detected_licenses, *stats.dropped_licenses]))
    height = _height(max(len(kinds), len(names), 3))
    if kinds:
        parts = _bar_panel(
            LEFT,
            height,
            [k for k, _ in kinds],
            [c.files for _, c in kinds],
            [LICENSE_COLOURS.get(k, "#888888") for k, _ in kinds],
            "Files per license type (non_permissive: dropped)",
        )
    else:
        parts = _empty(LEFT, height, "no license information")
    if names:
        kept = [stats.detected_licenses[n].files if n in stats.detected_licenses else 0 for n in names]
        # dropped counts come from deciding_licenses: a permissive license found beside a GPL one gets no red bar
        dropped = [stats.dropped_licenses[n].files if n in stats.dropped_licenses else 0 for n in names]
        title = "Detected licenses: kept files, and the drops each decided"
        axes, frame = _axes(RIGHT, height, names, max(kept + dropped), title, room=10, legend=True)
        parts += axes
        for i, (k, d) in enumerate(zip(kept, dropped)):
            parts += [_bar(frame, i, k, KEPT, shift=-0.2, thick=0.4), _bar(frame, i, d, DROPPED, shift=0.2, thick=0.4)]
        keys = [(KEPT, "kept files"), (DROPPED, "files dropped because of it (non_permissive)")]
        parts += _legend(keys, WIDTH - 16, height - 12)
    else:
        parts += _empty(RIGHT, height, "no license detected in any file")
    return Plot("licenses", LICENSES_CAPTION, _svg(height, "Licenses", parts))


def funnel_plot(stats: DatasetStats) -> Plot:
    stages = stats.report.get("stages", [])
    height = _height(len(stages) + 1)
    title = "Files kept and removed by each stage"
    if not stages:
        return Plot("funnel", title, _svg(height, title, _empty(LEFT, height, "no stages")))
    labels = [st["stage"] for st in stages]
    parts = []
    for box, key, scale, unit in ((LEFT, "files", 1, "Files"), (RIGHT, "bytes", 1e-6, "MB")):
        segments = [[st[part][key] * scale for part in ("kept", "dropped", "failed")] for st in stages]
        # the amount each stage removed, written in red at its bar's end
        removed = [st["dropped"][key] + st["failed"][key] for st in stages]
        notes = [(f"−{r:,.0f}" if key == "files" else f"−{decimal_bytes(r)}") if r else "" for r in removed]
        room = max(_width(note, SMALL) for note in notes) + 8
        top = max(sum(s) for s in segments)
        axes, frame = _axes(box, height, labels, top, f"{unit} into each stage", room, legend=True)
        parts += axes
        for i, (segment, note) in enumerate(zip(segments, notes)):
            start = 0.0
            for value, colour in zip(segment, (KEPT, DROPPED, FAILED)):  # stacked: kept, then dropped, then failed
                parts.append(_bar(frame, i, value, colour, start=start))
                start += value
            if note:
                parts.append(_value(frame, i, start, note, fill=DROPPED))
    parts += _legend([(KEPT, "kept"), (DROPPED, "dropped"), (FAILED, "failed")], WIDTH - 16, height - 12)
    return Plot("funnel", title, _svg(height, title, parts))


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
    """Two step lines over the power-of-two bins of length_bytes: x is the log2 of the size, y the files."""
    height, title = 360.0, "File sizes (length_bytes)"
    used = [k for k in range(1, SIZE_BINS) if stats.kept_sizes.bins[k] or stats.dropped_sizes.bins[k]]
    if not used:
        return Plot("sizes", title, _svg(height, title, _empty(WHOLE, height, "no file with a size")))
    first, last = used[0], used[-1]  # bin k spans [2**(k-1), 2**k): the x axis runs from first-1 to last
    series = [(stats.kept_sizes, KEPT, "kept"), (stats.dropped_sizes, DROPPED, "dropped")]
    top = max(int(sizes.bins[k]) for sizes, _, _ in series for k in range(first, last + 1)) * 1.05
    y_ticks, _ = _ticks(top, 5, whole=True)
    x0 = 34 + max(_width(f"{t:,.0f}", FONT) for t in y_ticks)
    x1, y0, y1 = WIDTH - 40.0, 34.0, height - 50.0  # room right of the axis for its last tick's label

    def x(exponent: float) -> float:
        return x0 + (exponent - first + 1) / (last - first + 1) * (x1 - x0)

    def y(files: float) -> float:
        return y1 - files / top * (y1 - y0)

    parts = [_text(8, 20, "File sizes", TITLE), _line(x0, y0, x0, y1), _line(x0, y1, x1, y1)]
    for t in y_ticks:
        parts += [_line(x0 - 4, y(t), x0, y(t)), _text(x0 - 7, y(t) + 0.35 * FONT, f"{t:,.0f}", anchor="end")]
    for e in range(first - 1, last + 1):
        if e % 2 == 0:  # every other power of two: the labels would crowd
            parts += [_line(x(e), y1, x(e), y1 + 4), _text(x(e), y1 + 16, human_bytes(2**e), anchor="middle")]
    parts.append(_text((x0 + x1) / 2, y1 + 36, "length_bytes (log scale; bins double)", anchor="middle"))
    parts.append(
        _text(16, (y0 + y1) / 2, "files", anchor="middle", extra=f' transform="rotate(-90 16 {_num((y0 + y1) / 2)})"')
    )
    keys = []
    for sizes, colour, label in series:
        points = [(x(first - 1), y(0))]
        for k in range(first, last + 1):  # up or down to the bin's count at its left edge, along it to the right
            points += [(x(k - 1), y(sizes.bins[k])), (x(k), y(sizes.bins[k]))]
        points.append((x(last), y(0)))
        coordinates = " ".join(f"{_num(px)},{_num(py)}" for px, py in points)
        parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
        empty = int(sizes.bins[0])
        note = f", {empty:,} empty" if empty else ""
        keys.append((colour, f"{label} ({sizes.files:,} files{note})"))
    parts += _legend(keys, x1 - 8, y0 + 12, lines=True, stacked=True)
    return Plot("sizes", title, _svg(height, title, parts))


def repositories_plot(stats: DatasetStats) -> Plot:
    by_files, by_bytes = stats.top_repos_by_files, stats.top_repos_by_bytes
    height = _height(max(len(by_files), len(by_bytes), 1))
    parts = _bar_panel(
        LEFT, height, [r[0] for r in by_files], [r[1] for r in by_files], NEUTRAL, "Top repositories by files kept"
    )
    parts += _bar_panel(
        RIGHT,
        height,
        [r[0] for r in by_bytes],
        [_mb(r[2]) for r in by_bytes],
        KEPT,
        "Top repositories by MB kept",
        "{:,.2f}",
    )
    return Plot("repositories", "Top repositories", _svg(height, "Top repositories", parts))


PLOTS = (languages_plot, licenses_plot, funnel_plot, sizes_plot, repositories_plot)


def render_all(stats: DatasetStats) -> list[Plot]:
    return [plot(stats) for plot in PLOTS]
