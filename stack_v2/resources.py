"""The recipes and the filter data the package carries: ``pipelines/`` and ``filters/``.

In the repository they stay top-level directories; pyproject.toml maps them into the package as
``stack_v2.pipelines`` and ``stack_v2.filters``, so an editable install reads the repository's files and
a wheel (or an sdist built into one) reads its own copies inside site-packages.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from stack_v2.errors import StackV2Error

_PACKAGES = {"pipelines": "stack_v2.pipelines", "filters": "stack_v2.filters"}


def data_path(relative: str) -> Path:
    """A shipped file or directory as a filesystem path: ``data_path("filters/quality/source_code.yaml")``.

    A real path, not a Traversable: callers glob it, write beside it and hand it to other libraries.
    """
    top, _, rest = relative.partition("/")
    if top not in _PACKAGES:
        raise StackV2Error(f"data_path {relative!r}: not under {' or '.join(f'{t}/' for t in _PACKAGES)}")
    root = files(_PACKAGES[top])
    # An install from a zip (zipimport) has no paths to give: the package must be installed unpacked.
    if not isinstance(root, Path):
        raise StackV2Error(f"data_path {relative!r}: {_PACKAGES[top]} is not a directory on disk ({root})")
    return root.joinpath(rest) if rest else root
