"""A notebook's JSON text as an nbformat v4 ``NotebookNode``, or a one-line reason why it is not one.

This is what ``jupytext.reads(text, fmt="ipynb", as_version=4)`` does (``nbformat.reads``), less its
schema validation: that costs a pass over every notebook and logs one ERROR line per invalid one,
while notebooks in the wild that break the schema (a missing ``execution_count``, an extra key) still
convert. BigCode's conversion did not validate either (``nbformat.from_dict``). What cannot be read
as a notebook raises ``NotebookError("notebook_parse_error", ...)``; nbformat 3 (and older) notebooks
are upgraded to v4, as BigCode's v2 script did.

A detail goes to the dropped/ table, which is published: it says what is wrong, never quotes the file
(a value from it could be a secret that the pii stage redacted in the notebook's text).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    """``Type: message`` on one line, cut to a short length. Only for messages that quote nothing of the file."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 3] + "..."


def error_kind(exc: BaseException, doing: str) -> str:
    """What failed and the exception's type, without its message (messages of nbformat, Jupytext and the
    like may quote the notebook)."""
    return f"{doing} failed ({type(exc).__name__})"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _nbformat_detail(major) -> str:
    if _is_int(major) and 0 <= major < 100:  # a version number, not content
        return f"unsupported nbformat {major}"
    return f"unsupported nbformat (a JSON {type(major).__name__}, not a known version)"


def read_notebook(text: str | None) -> NotebookNode:
    """The notebook in ``text`` as nbformat v4 (sources and outputs joined into strings)."""
    import nbformat  # here: a build without notebooks never imports it

    if text is None:
        raise NotebookError(PARSE_ERROR, "no content")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:  # says what and where only: "Unterminated string ... (char 1033)"
        raise NotebookError(PARSE_ERROR, one_line(exc)) from exc
    except (ValueError, RecursionError) as exc:
        raise NotebookError(PARSE_ERROR, error_kind(exc, "JSON parsing")) from exc
    if not isinstance(data, dict) or "nbformat" not in data:
        raise NotebookError(PARSE_ERROR, f"not a notebook: JSON {type(data).__name__} without 'nbformat'")
    major, minor = data["nbformat"], data.get("nbformat_minor", 0)
    if not _is_int(major) or major not in nbformat.versions:  # a list is unhashable; True would read as 1
        raise NotebookError(PARSE_ERROR, _nbformat_detail(major))
    if major == 4 and not isinstance(data.get("cells"), list):
        raise NotebookError(PARSE_ERROR, "nbformat 4 without a 'cells' list")
    try:
        notebook = nbformat.versions[major].to_notebook_json(data, minor=minor)
        if major != 4:
            notebook = nbformat.convert(notebook, 4)
        if not isinstance(notebook.get("metadata"), dict):
            raise TypeError("no 'metadata' object")
    except Exception as exc:  # nbformat raises many types on malformed input (KeyError, TypeError, ...)
        raise NotebookError(PARSE_ERROR, error_kind(exc, "nbformat reading")) from exc
    return notebook
