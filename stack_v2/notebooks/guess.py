"""Content-based language guessing for notebooks whose metadata names no language (the paper, §2.4: Guesslang).

A guesser is any object with ``guess(code) -> (language name, probability) | None``, the top language
for the code. ``GuesslangGuesser`` runs the model that the ``guesslang`` 2.2.1 wheel ships
(``guesslang/data/model``, a TensorFlow SavedModel; ``guesslang_model`` fetches it). The package itself
is not used: it pins TensorFlow 2.5, which has no build for Python 3.11, while its SavedModel loads
with current TensorFlow (2.21 here) through ``tf.saved_model.load`` and its ``serving_default``
signature. TensorFlow is optional (the ``guesslang`` extra) and imported on first use.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Protocol

from stack_v2.errors import StackV2Error
from stack_v2.model_cache import ModelCache

INSTALL_HINT = "pip install 'tensorflow-cpu==2.21.*'"
# The model sees the first 10,000 byte bigrams, i.e. the first 10,001 bytes: a prefix of that many
# characters (at least as many bytes) gives the same answer and bounds the work on huge notebooks.
MAX_INPUT_CHARS = 10_001
# The model's classes are file extensions; names as guesslang 2.2.1's data/languages.json gives them.
LANGUAGES = {
    "asm": "Assembly",
    "bat": "Batchfile",
    "c": "C",
    "cs": "C#",
    "cpp": "C++",
    "clj": "Clojure",
    "cmake": "CMake",
    "cbl": "COBOL",
    "coffee": "CoffeeScript",
    "css": "CSS",
    "csv": "CSV",
    "dart": "Dart",
    "dm": "DM",
    "dockerfile": "Dockerfile",
    "ex": "Elixir",
    "erl": "Erlang",
    "f90": "Fortran",
    "go": "Go",
    "groovy": "Groovy",
    "hs": "Haskell",
    "html": "HTML",
    "ini": "INI",
    "java": "Java",
    "js": "JavaScript",
    "json": "JSON",
    "jl": "Julia",
    "kt": "Kotlin",
    "lisp": "Lisp",
    "lua": "Lua",
    "makefile": "Makefile",
    "md": "Markdown",
    "matlab": "Matlab",
    "mm": "Objective-C",
    "ml": "OCaml",
    "pas": "Pascal",
    "pm": "Perl",
    "php": "PHP",
    "ps1": "PowerShell",
    "prolog": "Prolog",
    "py": "Python",
    "r": "R",
    "rb": "Ruby",
    "rs": "Rust",
    "scala": "Scala",
    "sh": "Shell",
    "sql": "SQL",
    "swift": "Swift",
    "tex": "TeX",
    "toml": "TOML",
    "ts": "TypeScript",
    "v": "Verilog",
    "vba": "Visual Basic",
    "xml": "XML",
    "yaml": "YAML",
}


class Guesser(Protocol):
    def guess(self, code: str) -> tuple[str, float] | None:
        """(language name, probability in [0, 1]) of the most likely language of ``code``, or None."""


class GuesslangGuesser:
    """Guesslang's SavedModel at ``model_dir`` (the folder holding ``saved_model.pb``), loaded once per process."""

    def __init__(self, model_dir: str):
        self.model_dir = model_dir

    def check(self) -> None:
        """Raise StackV2Error now, with the fix, if the model folder or TensorFlow is missing (no import)."""
        is_local = "://" not in self.model_dir
        if is_local and not os.path.isfile(os.path.join(self.model_dir, "saved_model.pb")):
            raise StackV2Error(
                f"Guesslang model {self.model_dir}: no saved_model.pb (python -m "
                "stack_v2.notebooks.guesslang_model DIR extracts it from the guesslang wheel)"
            )
        if importlib.util.find_spec("tensorflow") is None:
            raise StackV2Error(f"Guesslang model {self.model_dir}: TensorFlow is not installed; {INSTALL_HINT}")

    def probabilities(self, code: str) -> list[tuple[str, float]]:
        """Every language with its probability, the most likely first (Guesslang's ``Guess.probabilities``)."""
        import tensorflow as tf  # imported by _load already: cheap here

        predict = _models.get(self.model_dir).signatures["serving_default"]
        output = predict(tf.constant([code[:MAX_INPUT_CHARS]]))
        classes, scores = output["classes"][0].numpy(), output["scores"][0].numpy()
        pairs = [(LANGUAGES.get(label.decode(), label.decode()), float(score)) for label, score in zip(classes, scores)]
        return sorted(pairs, key=lambda pair: pair[1], reverse=True)

    def guess(self, code: str) -> tuple[str, float] | None:
        if not code.strip():
            return None
        return self.probabilities(code)[0]


def _load(model_dir: str):
    """The SavedModel (``serving_default``: string batch -> classes, scores); ``_models`` keeps it per process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO lines on import are noise here
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise StackV2Error(f"Guesslang model {model_dir}: TensorFlow is not installed; {INSTALL_HINT}") from exc
    try:
        model = tf.saved_model.load(model_dir)
    except (OSError, ValueError) as exc:  # tf.errors.NotFoundError is an OSError
        raise StackV2Error(f"Guesslang model {model_dir}: {' '.join(str(exc).split())[:300]}") from exc
    if "serving_default" not in model.signatures:
        raise StackV2Error(f"Guesslang model {model_dir}: no serving_default signature; not Guesslang's SavedModel?")
    return model


_models = ModelCache(_load)
