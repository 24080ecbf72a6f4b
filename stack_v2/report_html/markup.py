"""The HTML building blocks of the report page: escaping, number formats, tables and figures (a plot as inline
SVG). Every piece of text from the data goes through ``e`` (the plots escape theirs themselves)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from stack_v2.report_html.plots import Plot


def e(value) -> str:
    """Text for HTML, quotes included (attribute values too)."""
    return html.escape("" if value is None else str(value), quote=True)


def mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.2f}"


def pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}" if whole else "0.00"


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
    """The plot's SVG inline (nothing to load), captioned with its title and the name of its file."""
    return (
        f'<figure id="plot-{e(plot.name)}">\n{plot.svg.rstrip()}\n<figcaption>{e(plot.title)} '
        f"(<code>{e(plot.name)}.svg</code>)</figcaption></figure>"
    )
