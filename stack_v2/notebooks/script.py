"""A notebook as a plain script with Jupytext (the paper, §2.4), as BigCode's ``jupytext_conversion.py`` made it.

The language comes from the notebook's metadata (``languages.from_metadata``). When the metadata names
none, a guesser reads the code cells, joined with newlines, and its top language counts when its
probability is at least ``min_probability`` (0.5, the paper's) and Jupytext has a script for it.

The format is Jupytext's ``light`` (``# +`` marks a code cell that has blank lines, markdown becomes
comments): the default for scripts in the Jupytext of BigCode's run (1.14-1.16). Jupytext 1.17 made
``percent`` the default, so the format is always named. As in BigCode's run, scripts whose language
came from metadata start with Jupytext's YAML header (kernelspec, format) unless ``header=False``;
scripts whose language was guessed never do (BigCode cleared all metadata there).

Reasons (``NotebookError.reason``): ``notebook_parse_error`` (see ``parse``), ``no_code`` (no code
cell with text), ``unsupported_notebook_language`` (the metadata names a language Jupytext has no
script for), ``no_notebook_language`` (no metadata language and no confident guess),
``notebook_conversion_error`` (Jupytext failed).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Literal, NamedTuple

from stack_v2.notebooks.guess import LANGUAGES, Guesser
from stack_v2.notebooks.parse import NotebookError, error_kind

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from stack_v2.notebooks.languages import ScriptLanguage

NO_CODE = "no_code"
UNSUPPORTED_LANGUAGE = "unsupported_notebook_language"
NO_LANGUAGE = "no_notebook_language"
# Language names a detail may repeat: Guesslang's list, a vocabulary of ours (any other name from the metadata
# is the file's content, and details never quote the file).
_KNOWN_NAMES = frozenset(name.lower() for pair in LANGUAGES.items() for name in pair)
CONVERSION_ERROR = "notebook_conversion_error"
FROM_METADATA, FROM_GUESS = "metadata", "guess"


@dataclasses.dataclass(frozen=True, slots=True)
class ScriptConfig:
    format_name: Literal["light", "percent"] = "light"  # BigCode's (Jupytext's default before 1.17)
    header: bool = True  # Jupytext's YAML header on scripts whose language came from metadata
    min_probability: float = 0.5  # docs/the-stack-v2.md §9: a guess counts from probability 0.5

    def __post_init__(self) -> None:
        if self.format_name not in ("light", "percent"):
            raise ValueError(f"format_name must be 'light' or 'percent', got {self.format_name!r}")
        if not 0.0 <= self.min_probability <= 1.0:
            raise ValueError(f"min_probability must be within [0, 1], got {self.min_probability!r}")


class Script(NamedTuple):
    text: str
    language: str  # go-enry name, e.g. "Python"
    extension: str  # the Jupytext script extension, with its dot: ".py"
    language_source: str  # FROM_METADATA or FROM_GUESS


def code_text(notebook: NotebookNode) -> str:
    """The code cells' sources joined with newlines: what the guesser reads (BigCode's ``data``)."""
    return "\n".join(_source(cell) for cell in notebook.cells if _cell_type(cell) == "code")


def script_language(
    notebook: NotebookNode, guesser: Guesser | None, config: ScriptConfig
) -> tuple[ScriptLanguage, str]:
    """(script language, FROM_METADATA | FROM_GUESS), or NotebookError."""
    from stack_v2.notebooks import languages  # Jupytext's table: imported by the builds that meet a notebook

    found = languages.from_metadata(notebook.metadata)
    if found is not None:
        return found, FROM_METADATA
    named = languages.named_language(notebook.metadata)
    if named is not None:  # guessing would put the code of a known language under another one
        shown = repr(named) if named.lower() in _KNOWN_NAMES else "(not a known language name)"
        raise NotebookError(UNSUPPORTED_LANGUAGE, f"metadata language {shown} has no Jupytext script format")
    if guesser is None:
        raise NotebookError(NO_LANGUAGE, "no language in metadata; no guesser")
    guessed = guesser.guess(code_text(notebook))
    if guessed is None:
        raise NotebookError(NO_LANGUAGE, "no language in metadata; no guess")
    name, probability = guessed
    if probability < config.min_probability:
        raise NotebookError(NO_LANGUAGE, f"no language in metadata; guess={name} p={probability:.2f}")
    found = languages.from_name(name)
    if found is None:
        raise NotebookError(NO_LANGUAGE, f"no language in metadata; guess={name} p={probability:.2f} has no script")
    return found, FROM_GUESS


def to_script(notebook: NotebookNode, guesser: Guesser | None = None, config: ScriptConfig = ScriptConfig()) -> Script:
    """The notebook (from ``parse.read_notebook``) as a script; NotebookError when it has none."""
    import jupytext
    from nbformat import NotebookNode

    if not any(_cell_type(cell) == "code" and _source(cell).strip() for cell in notebook.cells):
        raise NotebookError(NO_CODE, f"cells={len(notebook.cells)}")
    language, source = script_language(notebook, guesser, config)
    if source == FROM_GUESS or not config.header:
        notebook = copy.copy(notebook)  # shallow: only the metadata is replaced, the caller's stays
        notebook.metadata = NotebookNode({**notebook.metadata, "jupytext": {"notebook_metadata_filter": "-all"}})
    try:
        text = jupytext.writes(notebook, fmt=f"{language.extension[1:]}:{config.format_name}")
    except Exception as exc:  # Jupytext raises many types on odd notebooks
        raise NotebookError(CONVERSION_ERROR, error_kind(exc, "Jupytext conversion")) from exc
    return Script(text, language.language, language.extension, source)


def _cell_type(cell) -> str | None:
    return cell.get("cell_type") if isinstance(cell, dict) else None


def _source(cell) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else ""
