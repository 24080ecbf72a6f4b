"""The files a source reads, from what the user typed: a file, a directory (its files at any depth), or a glob
(``*``, ``?``, ``[...]`` in the last part of the path), local or in an object store (``s3://``, ``gs://``).

Resolved once, on the launcher: the pipeline gets the list, so every worker reads the same files and the
run's record says which. Nothing matching is a mistake in the input, never an empty dataset.
"""

from __future__ import annotations

import fnmatch

from stack_v2 import storage
from stack_v2.errors import StackV2Error

_GLOB = frozenset("*?[")


class NoInputFiles(StackV2Error):
    pass


def match_files(pattern: str, suffixes: tuple[str, ...] = ()) -> list[str]:
    """URIs (local paths absolute) of the files ``pattern`` names, sorted; those ending with one of
    ``suffixes`` when it lists a directory. Raises ``NoInputFiles`` naming the pattern when there are none."""
    uri = storage.absolute(storage.check_uri(pattern, "input"))
    directory, name = storage.dirname(uri), storage.basename(uri)
    if any(c in name for c in _GLOB):
        if any(c in directory for c in _GLOB):
            raise NoInputFiles(f"input {pattern}: only the last part of the path may have wildcards")
        found = [f for f in _files_under(directory) if fnmatch.fnmatchcase(storage.basename(f), name)]
        found = [f for f in found if storage.dirname(f) == directory.rstrip("/")]
    elif storage.exists(uri) and storage.is_dir(uri):
        found = [f for f in _files_under(uri) if not suffixes or f.endswith(suffixes)]
    elif storage.exists(uri):
        found = [uri]
    else:
        raise NoInputFiles(f"input {pattern}: no such file or directory")
    if not found:
        listed = not any(c in name for c in _GLOB)  # a directory: only the files with the suffixes count
        wanted = f" ending {' or '.join(suffixes)}" if suffixes and listed else ""
        raise NoInputFiles(f"input {pattern}: no file{wanted} matches")
    return sorted(found)


def _files_under(directory: str) -> list[str]:
    # list_files gives paths within the file system: an object store's lose their scheme
    scheme = directory.split("://", 1)[0] + "://" if storage.is_remote(directory) else ""
    return [f"{scheme}{p}" for p in storage.list_files(directory)]
