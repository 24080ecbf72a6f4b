"""A notebook's JSON text as an nbformat v4 ``NotebookNode``, or a one-line reason why it is not one.

This is what ``jupytext.reads(text, fmt="ipynb", as_version=4)`` does (``nbformat.reads``), less its
schema validation: that costs a pass over every notebook and logs one ERROR line per invalid one,
while notebooks in the wild that break the schema (a missing ``execution_count``, an extra key) still
convert. BigCode's conversion did not validate either (``nbformat.from_dict``). What cannot be read
as a notebook raises ``NotebookError("notebook_parse_error", ...)``; nbformat 3 (and older) notebooks
are upgraded to v4, as BigCode's v2 script did.
"""

from __future__ import annotations

import json

import nbformat
from nbformat import NotebookNode

PARSE_ERROR = "notebook_parse_error"
_DETAIL_CHARS = 200  # a detail is one short line in the dropped/ table


class NotebookError(Exception):
    """A notebook that yields no script: ``reason`` is snake_case, ``detail`` one line."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason, detail)  # args match __init__: the error survives pickling
        self.reason, self.detail = reason, detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, cut to a short length (messages may quote the notebook)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 3] + "..."


def read_notebook(text: str | None) -> NotebookNode:
    """The notebook in ``text`` as nbformat v4 (sources and outputs joined into strings)."""
    if text is None:
        raise NotebookError(PARSE_ERROR, "no content")
    try:
        data = json.loads(text)
    except ValueError as exc:  # JSONDecodeError says where: "Unterminated string ... (char 1033)"
        raise NotebookError(PARSE_ERROR, one_line(exc)) from exc
    if not isinstance(data, dict) or "nbformat" not in data:
        raise NotebookError(PARSE_ERROR, f"not a notebook: JSON {type(data).__name__} without 'nbformat'")
    major, minor = data["nbformat"], data.get("nbformat_minor", 0)
    if major not in nbformat.versions:
        raise NotebookError(PARSE_ERROR, f"unsupported nbformat {major!r}")
    if major == 4 and not isinstance(data.get("cells"), list):
        raise NotebookError(PARSE_ERROR, "nbformat 4 without a 'cells' list")
    try:
        notebook = nbformat.versions[major].to_notebook_json(data, minor=minor)
        if major != 4:
            notebook = nbformat.convert(notebook, 4)
        if not isinstance(notebook.get("metadata"), dict):
            raise TypeError("no 'metadata' object")
    except Exception as exc:  # nbformat raises many types on malformed input (KeyError, TypeError, ...)
        raise NotebookError(PARSE_ERROR, one_line(exc)) from exc
    return notebook
