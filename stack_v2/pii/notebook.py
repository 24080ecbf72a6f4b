"""Notebooks (``.ipynb``): PII is looked for in the text of cells and outputs, not in the JSON that escapes it.

In a notebook's JSON the code line ``password = "Zebra!77q"`` reads ``"password = \\"Zebra!77q\\"\\n",``, and
the detectors, written for source code, miss what the escaped quotes surround. So the JSON is parsed and every
string value becomes text again, in one document that the detectors read as they read a source file:

- the lines of a multi-line field (a cell's ``source``, a stream's ``text``, an output's ``text/plain``,
  ``text/html``, ...) follow each other as nbformat joins them, so a cell reads as the same code in a ``.py``;
- any other string value stands on its own line, after its key as JSON writes it (``"api_key": "..."``), so
  metadata keeps the context its keyword needs;
- base64 payloads of binary outputs and attachments (``image/png``, ``application/pdf``, ...) are not text
  and are left out.

One document means one detection per notebook: a value found in one cell is redacted in every cell and output
where it occurs, as in a plain file. The notebook is then written back with only those strings changed, in its
own JSON style (indent, ASCII escapes, key order, final newline); lists of lines keep their length (a span over
several lines leaves its later lines empty). Text that is not notebook JSON is redacted as plain text.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import NamedTuple

from stack_v2.pii.detect import NameDetector, Span, find_pii, occurrences, without_overlaps
from stack_v2.pii.secret_filters import PASSWORD

NOTEBOOK_SUFFIX = ".ipynb"
# Fields whose list of strings nbformat joins into one text (v4 names, then v3 output keys).
_MULTILINE = frozenset({"source", "input", "text", "html", "latex", "svg", "javascript", "json", "markdown"})
# Base64-encoded binary payloads: image/svg+xml is text; v3 outputs name a few formats without a MIME type.
_BINARY_MIME = re.compile(
    r"image/(?!svg)|audio/|video/|application/(?:pdf|octet-stream|zip)"
    r"|(?:png|jpeg|jpg|gif|pdf)$"
)
_INDENT = re.compile(r"\n([ \t]*)\S")


def is_notebook_path(path: str) -> bool:
    return path.lower().endswith(NOTEBOOK_SUFFIX)


class _Leaf(NamedTuple):
    """One string value of the JSON: where it is held, and where its text starts in the document."""

    holder: dict | list
    key: str | int
    start: int
    end: int
    output: bool  # in a cell's outputs


def _is_text_field(key) -> bool:
    return isinstance(key, str) and (key in _MULTILINE or "/" in key)


def _walk(node: dict | list, parts: list[str], leaves: list[_Leaf], at: int, output: bool = False) -> int:
    """Appends ``node``'s string values to the document (``parts``, of length ``at``); returns the new length."""
    for key, value in node.items() if isinstance(node, dict) else enumerate(node):
        if isinstance(key, str) and _BINARY_MIME.match(key):
            continue
        if isinstance(value, str):
            # text stands alone; a metadata value reads as in the JSON, after its key and in quotes
            keyed = isinstance(key, str) and not _is_text_field(key)
            prefix, suffix = (f'{json.dumps(key, ensure_ascii=False)}: "', '"') if keyed else ("", "")
            parts.append(f"{prefix}{value}{suffix}\n")
            leaves.append(_Leaf(node, key, at + len(prefix), at + len(prefix) + len(value), output))
            at += len(prefix) + len(value) + len(suffix) + 1
        elif isinstance(value, list) and value and _is_text_field(key) and all(isinstance(v, str) for v in value):
            for index, line in enumerate(value):  # glued: the text nbformat reads
                parts.append(line)
                leaves.append(_Leaf(value, index, at, at + len(line), output))
                at += len(line)
            parts.append("\n")
            at += 1
        elif isinstance(value, (dict, list)):
            at = _walk(value, parts, leaves, at, output or key == "outputs")
    return at


def _style(text: str) -> dict:
    """``json.dumps`` arguments that write JSON the way ``text`` is written."""
    body = text.strip()
    if "\n" in body:
        found = _INDENT.search(body)
        return {"indent": found.group(1) if found else 0, "separators": (",", ": ")}
    compact = '":' in body and '": ' not in body
    return {"indent": None, "separators": (",", ":") if compact else (", ", ": ")}


def _dumps(data, original: str) -> str:
    text = json.dumps(data, ensure_ascii=original.isascii(), **_style(original))
    if not original.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escaped in the original: keep it escaped
            text = json.dumps(data, ensure_ascii=True, **_style(original))
    return text + "\n" if original.endswith("\n") else text


def parse_notebook(text: str):
    """The notebook's JSON object, or None when ``text`` is not a notebook (v4 ``cells`` or v3 ``worksheets``)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and (isinstance(data.get("cells"), list) or isinstance(data.get("worksheets"), list)):
        return data
    return None


def _spans(data, path: str, name_detector: NameDetector | None) -> tuple[list[Span], list[_Leaf]]:
    """The PII spans of the document of the notebook's strings, and where each string sits in it."""
    parts: list[str] = []
    leaves: list[_Leaf] = []
    _walk(data, parts, leaves, 0)
    document = "".join(parts)
    spans = find_pii(document, path=path, name_detector=name_detector)
    # What a cell printed is in its outputs, unquoted: a password found in the code is redacted there too
    # (in code, detect.py redacts a password's other occurrences only as quoted literals).
    passwords = {span.value for span in spans if span.kind == PASSWORD}
    if passwords:
        for leaf in leaves:
            if leaf.output:
                for value in passwords:
                    spans += occurrences(document, PASSWORD, value, leaf.start, leaf.end)
        spans = without_overlaps(spans)
    return spans, leaves


def redact_notebook(
    text: str, data, *, replace, path: str, name_detector: NameDetector | None = None
) -> tuple[str, dict[str, int]]:
    """``text`` (whose JSON is ``data``, from ``parse_notebook``) with the PII of its strings replaced.

    ``replace(span) -> str`` gives a span's replacement. Returns the text unchanged when nothing is found."""
    spans, leaves = _spans(data, path, name_detector)
    if not spans:
        return text, {}
    starts = [leaf.start for leaf in leaves]
    edits: dict[int, list[tuple[int, int, str]]] = {}  # leaf index -> (start, end, replacement) in the leaf
    counts: dict[str, int] = {}
    for span in spans:
        replacement = replace(span)
        index = max(0, bisect.bisect_right(starts, span.start) - 1)
        while index < len(leaves) and leaves[index].start < span.end:
            leaf = leaves[index]
            lo, hi = max(span.start, leaf.start), min(span.end, leaf.end)
            if lo < hi:
                edits.setdefault(index, []).append((lo - leaf.start, hi - leaf.start, replacement))
                if replacement:  # counted once, and only when it replaces text (not in a key)
                    counts[span.kind] = counts.get(span.kind, 0) + 1
                replacement = ""  # the span's later lines: emptied, the list keeps its length
            index += 1
    if not edits:
        return text, {}
    for index, changes in edits.items():
        leaf = leaves[index]
        value = leaf.holder[leaf.key]
        for lo, hi, new in sorted(changes, reverse=True):
            value = value[:lo] + new + value[hi:]
        leaf.holder[leaf.key] = value
    return _dumps(data, text), counts
