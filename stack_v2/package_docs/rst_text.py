"""reStructuredText as plain text, with docutils (the reference implementation of reStructuredText, the
parser PyPI's readme renderer and Sphinx use).

The source is parsed into docutils' document tree (``publish_doctree``), then written as the text of its
nodes: titles and paragraphs as written, inline markup without its marks (``**bold**`` -> ``bold``),
literal blocks kept, blocks separated by a blank line. Removed before that: comments, substitution
definitions and docutils' error messages. Sphinx's roles (``:func:`name```, ``:ref:`Title <label>```)
are unknown to plain docutils: they become their text (``name``, ``Title``). Sphinx's directives
(``toctree``, ``autofunction``, ...) are unknown too and leave nothing, which is right for a toctree
and loses generated API text that the source does not hold anyway.

Safe on untrusted input: ``include`` and other file insertions and ``raw`` are disabled, nothing is
written to stderr, and parsing never halts on an error. ``valid`` says whether the source parsed without
errors, which decides how an untyped long description is read (``metadata.content_format``). Pure.
"""

from __future__ import annotations

import io
import re
from typing import NamedTuple

from docutils import nodes
from docutils.core import publish_doctree

ERROR_LEVEL = 3  # docutils' system message levels: 1 info, 2 warning, 3 error, 4 severe
_SETTINGS = {
    "file_insertion_enabled": False,  # no `.. include::` of local files
    "raw_enabled": False,
    "report_level": ERROR_LEVEL,  # errors stay in the tree, to be counted; below that they are filtered
    "halt_level": 5,  # never raise on bad markup
    "warning_stream": io.StringIO(),  # replaced per call; never stderr
    "syntax_highlight": "none",
    "smart_quotes": False,
    "_disable_config": True,  # no docutils.conf from the working directory
}
_REMOVED = (nodes.comment, nodes.substitution_definition, nodes.system_message)
_ROLE_TEXT = re.compile(r"`(.*)`", re.DOTALL)
_TARGET = re.compile(r"^(.*?)\s*<[^<>]*>$", re.DOTALL)  # "Title <label>" -> "Title"
_BLANK_LINES = re.compile(r"\n{3,}")


class RstText(NamedTuple):
    text: str
    valid: bool  # no docutils error while parsing


def _role_text(raw: str) -> str:
    """The readable part of an unknown role's source (``:ref:`Title <label>``` -> ``Title``)."""
    found = _ROLE_TEXT.search(raw)
    if not found:
        return raw
    inner = found.group(1)
    titled = _TARGET.match(inner)
    text = titled.group(1) if titled and titled.group(1) else inner
    return text.lstrip("~!")  # Sphinx's "show the last name only" and "no link" marks


def rst_to_text(source: str) -> RstText:
    """The text of a reStructuredText document (see the module docstring); exceptions from docutils pass."""
    settings = {**_SETTINGS, "warning_stream": io.StringIO()}
    document = publish_doctree(source, settings_overrides=settings)
    errors = [m for m in document.findall(nodes.system_message) if m.get("level", 0) >= ERROR_LEVEL]
    for problem in list(document.findall(nodes.problematic)):
        problem.parent.replace(problem, nodes.Text(_role_text(problem.rawsource or problem.astext())))
    for node in list(document.findall(lambda n: isinstance(n, _REMOVED))):
        if node.parent is not None:
            node.parent.remove(node)
    lines = [line.rstrip() for line in document.astext().split("\n")]
    return RstText(_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n"), not errors)
