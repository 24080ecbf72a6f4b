"""HTML documentation as plain text that keeps its layout: paragraphs, headings, list items and
preformatted code stay on their own lines.

Parsed with selectolax's Lexbor backend (an HTML5 parser, already the project's for HTML; see
``doclang.html_text``), then walked once: text nodes keep their text (whitespace collapsed, except
inside ``<pre>``), block elements start and end lines (a blank line around paragraphs, headings,
lists, tables and ``<pre>``; a line break around list items, table rows, ``<div>`` and ``<br>``),
list items start with ``- ``, table cells are separated by a space. ``<head>``, comments and elements a
browser does not render as text (``doclang.html_text.HIDDEN_TAGS``) are left out.

Why not ``doclang.html_text.visible_text``: it concatenates text nodes with no separator, right for
counting a page's text but it runs a heading into the next paragraph; the pages here are training text.
Pure.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from stack_v2.doclang.html_text import HIDDEN_TAGS

_HEADINGS = {f"h{i}" for i in range(1, 7)}
_PARAGRAPH = _HEADINGS | {"p", "pre", "blockquote", "ul", "ol", "dl", "table", "figure", "hr", "section", "article"}
_LINE = {"li", "dt", "dd", "tr", "div", "br", "caption", "figcaption", "header", "footer", "nav", "main"}
_LINE |= {"address", "aside", "details", "summary", "form", "fieldset", "center", "tbody", "thead", "tfoot"}
_CELLS = {"td", "th"}
_SPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _Text:
    """The text being written: pending line breaks are written before the next text, never at the start."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending = 0
        self.at_line_start = True

    def newline(self, count: int) -> None:
        self.pending = max(self.pending, count)

    def write(self, text: str, keep_space: bool) -> None:
        if not keep_space:
            text = _SPACE.sub(" ", text)
            if self.at_line_start or self.pending or (self.parts and self.parts[-1].endswith(" ")):
                text = text.lstrip(" ")
        if not text:
            return
        if self.pending and self.parts:
            self.parts[-1] = self.parts[-1].rstrip(" ")
            self.parts.append("\n" * self.pending)
        self.pending = 0
        self.parts.append(text)
        self.at_line_start = text.endswith("\n")

    def value(self) -> str:
        lines = "".join(self.parts).split("\n")
        return _BLANK_LINES.sub("\n\n", "\n".join(line.rstrip() for line in lines)).strip("\n")


def html_to_text(html: str) -> str:
    """The visible text of an HTML document, laid out in lines (see the module docstring)."""
    tree = LexborHTMLParser(html)
    tree.strip_tags(list(HIDDEN_TAGS), recursive=True)
    body = tree.body
    if body is None:  # a frameset page
        return ""
    out, pre_depth = _Text(), 0
    stack: list = [(False, child) for child in reversed(list(body.iter(include_text=True)))]
    while stack:  # an explicit stack: documents nest deeper than Python's recursion limit allows
        leaving, node = stack.pop()
        tag = node.tag
        if leaving:
            pre_depth -= tag == "pre"
            out.newline(2 if tag in _PARAGRAPH else 1 if tag in _LINE else 0)
            continue
        if tag == "-text":
            out.write(node.text(deep=False), keep_space=pre_depth > 0)
            continue
        if tag.startswith("-"):  # comments, doctype
            continue
        out.newline(2 if tag in _PARAGRAPH else 1 if tag in _LINE else 0)
        if tag == "li":
            out.write("- ", keep_space=True)
        elif tag in _CELLS and not (out.at_line_start or out.pending):
            out.write(" ", keep_space=True)
        pre_depth += tag == "pre"
        stack.append((True, node))
        stack.extend((False, child) for child in reversed(list(node.iter(include_text=True))))
    return out.value()
