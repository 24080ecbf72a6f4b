"""One Meta Kaggle Code notebook -> one training document, by StarCoder2's rules for Kaggle (§2.4).

``decide_kaggle_notebook(path, text, metadata, config)`` returns a ``KaggleScript`` or the verdict that
removed the notebook, in this order:

1. **Id.** The kernel version id comes from the file name (``layout``); a path without one is a
   ``Fail("kaggle_path_without_id")``.
2. **Notebook size** (off by default). BigCode's code capped the notebook's JSON at 5,000,000 characters
   before converting it, which also drops notebooks whose outputs (images) are large; set
   ``max_notebook_chars`` to do the same (``Drop("notebook_too_large")``).
3. **Parsing** (``notebooks.read_notebook``): failures are ``Fail`` with the notebooks stage's reasons.
4. **Template** (``template``): Kaggle's starter cell is removed, or its comments when the author built on it.
5. **Script** (``notebooks.script.to_script``, Jupytext's ``light`` format, as for GitHub notebooks): the
   language comes from the notebook's metadata; when that names none, from the kernel's language in
   KernelVersions/KernelLanguages. No Jupytext YAML header by default (``header``): Kaggle's kernelspecs
   are all alike and add nothing. A notebook without code is ``Drop("no_code")``; others ``Fail``.
6. **Language.** Only ``languages`` are kept (Python by default: BigCode compiled every Kaggle script as
   Python, which removed the others; here that is said, not implied): ``Drop("language_not_selected")``.
7. **Length** of the script, before anything is prepended: kept when ``len(script) > 100`` and
   ``<= 5,000,000`` characters (``Drop("script_too_short")``, ``Drop("script_too_long")``).
8. **Syntax.** A Python script must ``compile()`` in this interpreter (Python 3.11: Python 2 notebooks are
   dropped, as in BigCode's run on Python 3): ``Drop("syntax_error")``, with the line number only (the
   detail never quotes the file). Jupytext comments out magics and shell escapes, so those compile.
9. **Datasets** (``dataset_text``): the title and description of the dataset versions the kernel version
   read are put before the script as a comment block.

Near-duplicates are removed later by the pipeline's near-dedup stage. BigCode also formatted the scripts
with Black and added a summary of each dataset's files (``df.info()`` and a few rows), which needs the
datasets themselves: neither is done here.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from stack_v2.kaggle import template
from stack_v2.kaggle.dataset_text import dataset_block
from stack_v2.kaggle.layout import kernel_version_id
from stack_v2.kaggle.metadata import KernelMetadata
from stack_v2.notebooks.parse import NotebookError, read_notebook
from stack_v2.notebooks.script import NO_CODE, ScriptConfig, to_script
from stack_v2.verdicts import Drop, Fail

NO_ID = "kaggle_path_without_id"
NOTEBOOK_TOO_LARGE, TOO_SHORT, TOO_LONG = "notebook_too_large", "script_too_short", "script_too_long"
LANGUAGE_NOT_SELECTED, SYNTAX_ERROR = "language_not_selected", "syntax_error"
_COMPILE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)  # ValueError: NUL bytes


@dataclasses.dataclass(frozen=True, slots=True)
class KaggleConfig:
    min_chars: int = 100  # kept when len(script) > min_chars
    max_chars: int = 5_000_000  # kept when len(script) <= max_chars
    max_notebook_chars: int | None = None  # BigCode's code: 5_000_000 on the notebook's JSON
    languages: frozenset[str] = frozenset({"Python"})  # go-enry names; empty keeps every script language
    header: bool = False  # Jupytext's YAML header (kernelspec) on the script

    def __post_init__(self) -> None:
        if not 0 <= self.min_chars < self.max_chars:
            raise ValueError(f"need 0 <= min_chars < max_chars, got {self.min_chars}, {self.max_chars}")
        if self.max_notebook_chars is not None and self.max_notebook_chars <= 0:
            raise ValueError(f"max_notebook_chars must be positive, got {self.max_notebook_chars}")


class KaggleScript(NamedTuple):
    """A kept notebook: its document and where it came from."""

    kernel_version_id: int
    script_id: int | None  # the kernel (Kernels.Id) the version belongs to; None when KernelVersions lacks it
    dataset_version_ids: tuple[int, ...]  # every dataset version linked to the kernel version
    dataset_ids: tuple[int, ...]  # the datasets whose text was found (and prepended when not empty)
    path: str  # the notebook's path in Meta Kaggle Code
    language: str  # go-enry name: "Python"
    extension: str  # the script's, with its dot: ".py"
    template: str  # what of Kaggle's starter was removed: "", "header" or "cell"
    script_chars: int  # the script's length before the datasets' text
    content: str  # the datasets' text, then the script


class _KernelLanguage:
    """The kernel's language from KernelVersions, in the shape of a notebooks guesser (always sure)."""

    def __init__(self, name: str):
        self.name = name

    def guess(self, code: str) -> tuple[str, float]:
        return self.name, 1.0


def _syntax_error(script: str) -> str | None:
    try:
        compile(script, "<kaggle notebook>", "exec", dont_inherit=True)
    except _COMPILE_ERRORS as exc:
        line = getattr(exc, "lineno", None)
        return f"{type(exc).__name__}" + (f" at line {line}" if line else "")
    return None


def decide_kaggle_notebook(
    path: str, text: str | None, metadata: KernelMetadata = KernelMetadata(), config: KaggleConfig = KaggleConfig()
) -> KaggleScript | Drop | Fail:
    """The notebook at ``path`` (its JSON ``text``) as a document, or why not (see the module docstring)."""
    version_id = kernel_version_id(path)
    if version_id is None:
        return Fail(NO_ID, "file name is not <kernel version id>.ipynb")
    if config.max_notebook_chars is not None and text is not None and len(text) > config.max_notebook_chars:
        return Drop(NOTEBOOK_TOO_LARGE, f"{len(text)} chars > {config.max_notebook_chars}")
    kernel = metadata.kernel
    try:
        notebook, removed = template.strip_template(read_notebook(text))
        guesser = _KernelLanguage(kernel.language) if kernel is not None and kernel.language else None
        script = to_script(notebook, guesser, ScriptConfig(header=config.header))
    except NotebookError as exc:
        return (Drop if exc.reason == NO_CODE else Fail)(exc.reason, exc.detail)
    if config.languages and script.language not in config.languages:
        return Drop(LANGUAGE_NOT_SELECTED, script.language)
    size = len(script.text)
    if size <= config.min_chars:
        return Drop(TOO_SHORT, f"{size} chars <= {config.min_chars}")
    if size > config.max_chars:
        return Drop(TOO_LONG, f"{size} chars > {config.max_chars}")
    if script.language == "Python" and (error := _syntax_error(script.text)) is not None:
        return Drop(SYNTAX_ERROR, error)
    from jupytext.languages import _SCRIPT_EXTENSIONS  # the comment mark of each script language

    comment = _SCRIPT_EXTENSIONS.get(script.extension, {}).get("comment", "#")
    return KaggleScript(
        kernel_version_id=version_id,
        script_id=kernel.script_id if kernel is not None else None,
        dataset_version_ids=metadata.dataset_version_ids,
        dataset_ids=tuple(sorted({d.dataset_id for d in metadata.datasets if d.dataset_id is not None})),
        path=path,
        language=script.language,
        extension=script.extension,
        template=removed,
        script_chars=size,
        content=dataset_block(metadata.datasets, comment) + script.text,
    )
