"""Where a notebook lives in Meta Kaggle Code, and which kernel version it is.

Meta Kaggle Code stores each public notebook version as ``<id>.ipynb``, where ``<id>`` is the ``Id`` of
its row in Meta Kaggle's KernelVersions table, under two folders that shard the ids: the first holds the
millions (4 digits), the second the thousands below them (3 digits): version 123456789 is
``0123/456/123456789.ipynb``. Only the file name is needed to find the id; the folders are written by
``notebook_path`` for tests and local trees. Pure.
"""

from __future__ import annotations

import posixpath
import re

NOTEBOOK_SUFFIX = ".ipynb"
_ID = re.compile(r"[0-9]{1,18}")  # a KernelVersions Id: digits only (fits a signed 64-bit integer)


def kernel_version_id(path: str) -> int | None:
    """The KernelVersions ``Id`` a Meta Kaggle Code path names (``0000/000/123.ipynb`` -> 123), or None
    when the file is not ``<digits>.ipynb``."""
    name = posixpath.basename(path.replace("\\", "/"))
    if not name.endswith(NOTEBOOK_SUFFIX):
        return None
    stem = name[: -len(NOTEBOOK_SUFFIX)]
    return int(stem) if _ID.fullmatch(stem) else None


def notebook_path(version_id: int) -> str:
    """The path of a kernel version's notebook in the Meta Kaggle Code tree."""
    if version_id < 0:
        raise ValueError(f"a kernel version id is not negative, got {version_id}")
    return f"{version_id // 1_000_000:04d}/{version_id // 1000 % 1000:03d}/{version_id}{NOTEBOOK_SUFFIX}"
