"""Jupyter notebooks as training data (the paper, §2.4): two extra forms of each notebook.

- ``script``: the notebook as a plain script in its own language (Jupytext), the language from the
  notebook's metadata or, when that is missing, from a content guesser (Guesslang in the paper).
- ``structured``: Python notebooks as (markdown, code, output) triplets, and their training text.

``parse`` reads the JSON, ``languages`` maps metadata and guessed names to a script format,
``guess`` holds the guesser protocol and the Guesslang model, ``guesslang_model`` fetches that model.
The Beam stage is ``stack_v2.stages.notebooks``.
"""

from stack_v2.notebooks.parse import NotebookError, read_notebook

__all__ = ["NotebookError", "read_notebook"]
