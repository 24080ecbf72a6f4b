"""The members of a package distribution, read in memory: sdists (``.tar.gz``, ``.tgz``, ``.tar.bz2``,
``.tar.xz``, ``.zip``) and wheels (``.whl``, a zip).

Only regular files are listed (no directories, links or devices), and only the members a caller asks for
are read, each up to ``max_bytes`` (a member declaring more is listed as too large and left unread, so a
compressed bomb cannot fill memory). Paths use ``/`` and never start with it. Nothing touches the disk.

An archive that cannot be read (truncated, not the format its name says, encrypted members, unknown
compression) raises ``ArchiveError``, whose message names the archive's file name and the error's type.
"""

from __future__ import annotations

import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from typing import NamedTuple

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
ZIP_SUFFIXES = (".zip", ".whl")
# What the standard library raises on damaged archives, beyond its own error types.
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError)
_READ_ERRORS += (OSError, ValueError, NotImplementedError, RuntimeError, KeyError, UnicodeDecodeError)


class ArchiveError(Exception):
    """An archive that could not be read; the message names the file."""


class Members(NamedTuple):
    paths: tuple[str, ...]  # every regular file, in archive order
    data: dict[str, bytes]  # the wanted members' bytes
    too_large: tuple[str, ...]  # wanted members over max_bytes, not read


def archive_format(filename: str) -> str | None:
    """``"tar"``, ``"zip"``, or None when the name is not a distribution's."""
    name = filename.lower()
    return "tar" if name.endswith(TAR_SUFFIXES) else "zip" if name.endswith(ZIP_SUFFIXES) else None


def _clean(path: str) -> str:
    return path.replace("\\", "/").lstrip("/")


def _read_tar(data: bytes, wanted: Callable[[str], bool], max_bytes: int) -> Members:
    paths, read, too_large = [], {}, []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive:  # streamed: members are read in order, once
            if not member.isfile():
                continue
            path = _clean(member.name)
            paths.append(path)
            if not wanted(path):
                continue
            if member.size > max_bytes:
                too_large.append(path)
                continue
            stream = archive.extractfile(member)
            read[path] = stream.read(max_bytes + 1) if stream is not None else b""
    return Members(tuple(paths), read, tuple(too_large))


def _read_zip(data: bytes, wanted: Callable[[str], bool], max_bytes: int) -> Members:
    paths, read, too_large = [], {}, []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            path = _clean(info.filename)
            paths.append(path)
            if not wanted(path):
                continue
            if info.file_size > max_bytes:
                too_large.append(path)
                continue
            with archive.open(info) as stream:
                content = stream.read(max_bytes + 1)
            if len(content) > max_bytes:  # the header understated the size
                too_large.append(path)
                continue
            read[path] = content
    return Members(tuple(paths), read, tuple(too_large))


def read_members(filename: str, data: bytes, wanted: Callable[[str], bool], max_bytes: int) -> Members:
    """The archive's file list and the wanted members' bytes; ArchiveError when it cannot be read."""
    kind = archive_format(filename)
    if kind is None:
        raise ArchiveError(f"{filename}: not a .tar.gz, .tgz, .tar.bz2, .tar.xz, .zip or .whl file")
    try:
        return (_read_tar if kind == "tar" else _read_zip)(data, wanted, max_bytes)
    except _READ_ERRORS as exc:  # the message may quote member names: the type says enough
        raise ArchiveError(f"{filename}: unreadable {kind} archive ({type(exc).__name__})") from exc
