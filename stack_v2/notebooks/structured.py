"""The structured form of a notebook (the paper, §2.4): (markdown, code, output) triplets, and their training text.

Rules, after BigCode's ``jupyter-structured`` scripts (``jupyter-segment-notebooks.py``,
``jupyter-generate-triplets.py``, ``jupyter-structured.ipynb``):

- Markdown and code cells are read in order; cells whose source is blank, and raw cells, are skipped.
- Consecutive markdown cells merge into one block (sources joined by a blank line, text unchanged:
  headings, lists, HTML stay, unlike StarCoder1's cleaning), consecutive code cells likewise (joined
  by a newline, as BigCode's ``'\\n'.join``).
- Each code block makes a triplet with the markdown block just before it (None when there is none,
  e.g. a notebook that starts with code) and the output of its **last** cell only.
- A markdown block after the last code block makes a final triplet with code and output None.
  (StarCoder1's pairs dropped a leading code block and a trailing markdown block; these keep both.)

A cell's output text (``output_text``) is its outputs in order: ``stream`` text (stdout and stderr),
the ``text/plain`` of ``execute_result`` and ``display_data`` (outputs with only images or HTML add
nothing), and ``ename: evalue`` of an ``error`` (the traceback is left out: it is long and full of
terminal colour codes). Terminal escape sequences are removed; consecutive chunks of one stream are
joined as written, other outputs start on a new line; trailing whitespace is cut. When nothing is
left the output is ``<empty_output>``.

``render`` makes the training text as BigCode's ``build_content`` did: ``<jupyter_start>``, then per
triplet ``<jupyter_text>`` markdown ``<jupyter_code>`` code ``<jupyter_output>`` output, each stripped,
an output over 1,000 characters cut to 1,000 plus ``[...]``; absent parts are left out.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from nbformat import NotebookNode

EMPTY_OUTPUT = "<empty_output>"
START, TEXT, CODE, OUTPUT = "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>"
MAX_OUTPUT_CHARS = 1_000  # BigCode's build_content
TRUNCATED = "[...]"
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")  # CSI sequences, then 2-byte escapes


class Triplet(TypedDict):
    markdown: str | None
    code: str | None
    output: str | None


def _text(value) -> str:
    """nbformat joins multi-line strings on reading; a list can remain in hand-made notebooks."""
    if isinstance(value, list):
        return "".join(part for part in value if isinstance(part, str))
    return value if isinstance(value, str) else ""


def _output_part(output) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _text(output.get("text"))
    if kind in ("execute_result", "display_data"):
        data = output.get("data")
        return _text(data.get("text/plain")) if isinstance(data, dict) else ""
    if kind == "error":
        return f"{_text(output.get('ename'))}: {_text(output.get('evalue'))}"
    return ""


def output_text(outputs) -> str:
    """One cell's outputs as text (see the module docstring); EMPTY_OUTPUT when there is none."""
    pieces: list[str] = []
    previous_stream = None
    for output in outputs if isinstance(outputs, list) else ():
        if not isinstance(output, dict):
            continue
        part = _ANSI_ESCAPE.sub("", _output_part(output))
        stream = output.get("name") if output.get("output_type") == "stream" else None
        if not part:
            continue
        if pieces and not (stream is not None and stream == previous_stream) and not pieces[-1].endswith("\n"):
            pieces.append("\n")
        pieces.append(part)
        previous_stream = stream
    text = "".join(pieces).rstrip().lstrip("\n")
    return text or EMPTY_OUTPUT


def triplets(notebook: NotebookNode) -> list[Triplet]:
    """The notebook's (markdown, code, output) triplets in order (see the module docstring)."""
    blocks: list[tuple[str, list]] = []
    for cell in notebook.cells:
        kind = cell.get("cell_type") if isinstance(cell, dict) else None
        if kind not in ("markdown", "code") or not _text(cell.get("source")).strip():
            continue
        if blocks and blocks[-1][0] == kind:
            blocks[-1][1].append(cell)
        else:
            blocks.append((kind, [cell]))
    result: list[Triplet] = []
    markdown = None
    for kind, cells in blocks:
        if kind == "markdown":
            markdown = "\n\n".join(_text(cell.get("source")).strip("\n") for cell in cells)
            continue
        code = "\n".join(_text(cell.get("source")) for cell in cells)
        result.append(Triplet(markdown=markdown, code=code, output=output_text(cells[-1].get("outputs"))))
        markdown = None
    if markdown is not None:
        result.append(Triplet(markdown=markdown, code=None, output=None))
    return result


def render(items: list[Triplet], max_output_chars: int = MAX_OUTPUT_CHARS) -> str:
    """The training text of a notebook's triplets (BigCode's ``build_content``, see the module docstring)."""
    parts = [START]
    for item in items:
        if item["markdown"] is not None:
            parts.append(TEXT + item["markdown"].strip())
        if item["code"] is not None:
            output = item["output"] or EMPTY_OUTPUT
            if len(output) > max_output_chars:
                output = output[:max_output_chars] + TRUNCATED
            parts.append(CODE + item["code"].strip() + OUTPUT + output.strip())
    return "".join(parts)
