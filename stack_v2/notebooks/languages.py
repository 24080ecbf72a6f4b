"""Which script a notebook becomes: a Jupytext script extension and the go-enry language of the result.

Jupytext writes scripts for the languages of its ``_SCRIPT_EXTENSIONS`` table (Python, R, Julia, C++,
Scala, ...); a notebook in any other language (C, SQL, Kotlin, ...) has no script form. Languages are
named as go-enry (Linguist) names them, like ``FileRecord.language``, so scripts sort with files.

From metadata, in order (BigCode's ``jupytext_conversion.py`` used the first and the last):
``language_info.file_extension``, ``language_info.name``, ``kernelspec.language``, ``kernelspec.name``,
then BigCode's fallback: Python when any kernelspec value contains ``py`` (``conda-root-py``, ...).
Guessed names (Guesslang's ``Python``, ``Shell``, ``C++``, ...) go through the same name matching.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from jupytext.languages import _SCRIPT_EXTENSIONS, usual_language_name  # the table Jupytext writes from

# Jupytext language -> go-enry name; the last four are not Linguist languages and keep Jupytext's name.
_ENRY_NAMES = {
    "python": "Python",
    "R": "R",
    "julia": "Julia",
    "c++": "C++",
    "scheme": "Scheme",
    "clojure": "Clojure",
    "bash": "Shell",
    "powershell": "PowerShell",
    "q": "q",
    "matlab": "MATLAB",
    "wolfram language": "Wolfram Language",
    "idl": "IDL",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "scala": "Scala",
    "rust": "Rust",
    "robotframework": "RobotFramework",
    "csharp": "C#",
    "fsharp": "F#",
    "java": "Java",
    "groovy": "Groovy",
    "sage": "Sage",
    "ocaml": "OCaml",
    "haskell": "Haskell",
    "tcl": "Tcl",
    "gnuplot": "Gnuplot",
    "stata": "Stata",
    "sas": "SAS",
    "xonsh": "Xonsh",
    "logtalk": "Logtalk",
    "lua": "Lua",
    "go": "Go",
    "coconut": "Coconut",
    "sos": "SoS",
    "maxima": "Maxima",
    "jenner": "Jenner",
}
# Where a language has several extensions, BigCode's lang2ext choice; otherwise Jupytext's first.
_PREFERRED_EXTENSIONS = {"R": ".r", "scheme": ".scm", "robotframework": ".resource", "fsharp": ".fs"}
# Kernel and guesser names that are not Jupytext's (after lower-casing and dropping a version suffix).
_ALIASES = {
    "ipython": "python",
    "pypy": "python",
    "sh": "bash",
    "shell": "bash",
    "zsh": "bash",
    "ir": "R",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "ijavascript": "javascript",
    "ts": "typescript",
    "mathematica": "wolfram language",
    "wolfram": "wolfram language",
}
_VERSION_SUFFIX = re.compile(r"[\s_-]*v?\d+(?:\.\d+)*$")  # python3, julia-1.6, python 3.8


class ScriptLanguage(NamedTuple):
    language: str  # go-enry name, e.g. "Python"
    extension: str  # Jupytext script extension with its dot, e.g. ".py"


def _language_of(jupytext_language: str, extension: str) -> ScriptLanguage:
    return ScriptLanguage(_ENRY_NAMES.get(jupytext_language, jupytext_language), extension)


_BY_LANGUAGE: dict[str, ScriptLanguage] = {}
for _ext, _spec in _SCRIPT_EXTENSIONS.items():
    _name = _spec["language"]
    _BY_LANGUAGE.setdefault(_name, _language_of(_name, _PREFERRED_EXTENSIONS.get(_name, _ext)))


def from_extension(extension: Any) -> ScriptLanguage | None:
    """The script for a kernel's ``file_extension`` ('.py', '.R'), None when Jupytext has no script for it."""
    if not isinstance(extension, str):
        return None
    for ext in (extension, extension.lower()):
        if ext in _SCRIPT_EXTENSIONS:
            return _language_of(_SCRIPT_EXTENSIONS[ext]["language"], ext)
    return None


def from_name(name: Any) -> ScriptLanguage | None:
    """The script for a language name ('python3', 'R', 'C++', 'Shell', 'julia-1.6'), None when unknown."""
    if not isinstance(name, str) or not name.strip():
        return None
    lowered = name.strip().lower()
    for candidate in (lowered, _VERSION_SUFFIX.sub("", lowered)):
        candidate = _ALIASES.get(candidate, candidate)
        found = _BY_LANGUAGE.get(usual_language_name(candidate)) or _BY_LANGUAGE.get(candidate)
        if found:
            return found
    return None


def from_metadata(metadata: Any) -> ScriptLanguage | None:
    """The script named by a notebook's metadata (see the module docstring), None when it names none."""
    if not isinstance(metadata, dict):
        return None
    info = metadata.get("language_info") if isinstance(metadata.get("language_info"), dict) else {}
    kernel = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    found = (
        from_extension(info.get("file_extension"))
        or from_name(info.get("name"))
        or from_name(kernel.get("language"))
        or from_name(kernel.get("name"))
    )
    if found is None and any(isinstance(value, str) and "py" in value.lower() for value in kernel.values()):
        found = _BY_LANGUAGE["python"]
    return found


def named_language(metadata: Any) -> str | None:
    """The language the metadata names, as written ('kotlin'), whether or not it has a script format."""
    if not isinstance(metadata, dict):
        return None
    for section, key in (("language_info", "name"), ("kernelspec", "language")):
        block = metadata.get(section)
        value = block.get(key) if isinstance(block, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
