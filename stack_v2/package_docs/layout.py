"""Which members of a distribution are documentation, and where its metadata file is.

Paths are taken relative to the distribution's root: an sdist holds one top folder
(``name-version/``), which is removed; a wheel has none (``root`` finds it either way).

- **Docs**: files with a documentation extension (Markdown ``.md``/``.markdown``, reStructuredText
  ``.rst``/``.rest``, HTML ``.html``/``.htm``) below a folder named ``docs`` or ``doc`` at any depth
  (``docs/``, ``src/pkg/docs/``), except inside Sphinx's build output and theme folders (``_build``,
  ``_static``, ``_templates``): built HTML repeats the sources, and templates are markup, not prose.
- **READMEs**: ``README`` with no extension or one of ``.md``, ``.markdown``, ``.rst``, ``.rest``,
  ``.txt``, at the root only (any case).
- **Metadata**: an sdist's ``PKG-INFO`` at its root (not the copy in ``*.egg-info/``); a wheel's
  ``<name>.dist-info/METADATA``. Pure.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

MARKDOWN, RST, HTML, TEXT = "markdown", "rst", "html", "text"
DOC_EXTENSIONS = {".md": MARKDOWN, ".markdown": MARKDOWN, ".rst": RST, ".rest": RST, ".html": HTML, ".htm": HTML}
README_EXTENSIONS = {"": TEXT, ".txt": TEXT, ".md": MARKDOWN, ".markdown": MARKDOWN, ".rst": RST, ".rest": RST}
DOC_DIRS = frozenset({"docs", "doc"})
SKIPPED_DIRS = frozenset({"_build", "_static", "_templates"})
DOCS, README = "docs", "readme"  # what a member is


def root(paths: Iterable[str]) -> str:
    """The folder every path is in (``"pluggy-1.5.0/"``), or "" when they do not share one."""
    tops = {path.split("/", 1)[0] if "/" in path else "" for path in paths}
    return f"{tops.pop()}/" if len(tops) == 1 and "" not in tops else ""


def doc_member(relative: str) -> tuple[str, str] | None:
    """(``DOCS`` or ``README``, format) for a documentation member's root-relative path, else None."""
    folders, name = relative.split("/")[:-1], relative.rsplit("/", 1)[-1]
    stem, extension = posixpath.splitext(name.lower())
    if not folders and stem == "readme" and extension in README_EXTENSIONS:
        return README, README_EXTENSIONS[extension]
    lowered = [folder.lower() for folder in folders]
    if extension in DOC_EXTENSIONS and DOC_DIRS.intersection(lowered) and not SKIPPED_DIRS.intersection(lowered):
        return DOCS, DOC_EXTENSIONS[extension]
    return None


def metadata_member(paths: Iterable[str], prefix: str) -> str | None:
    """The path of the core metadata file (``prefix`` is ``root``'s), or None when there is none."""
    paths = list(paths)
    if f"{prefix}PKG-INFO" in paths:
        return f"{prefix}PKG-INFO"
    wheel = sorted(p for p in paths if p.count("/") == 1 and p.endswith(".dist-info/METADATA"))
    return wheel[0] if wheel else None
