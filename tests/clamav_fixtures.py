"""A ClamAV signature database made by the tests, and the real scanners on it (no download, no freshclam).

Signatures (all matched by the real clamd and clamscan):
  - ``Eicar-Test-Signature`` (.hdb, MD5 of the whole file): the EICAR anti-virus test file. Its 68
    characters are assembled at run time from pieces, so no file of the repository contains them.
  - ``StackV2.Test.RealFile`` (.ndb, body bytes at any offset): 64 bytes of a real standard-library
    module (``email/charset.py``), so a real source file is detected by its content.
  - ``StackV2.Test.Latin1`` (.ndb): a sentence as ISO-8859-1 bytes, to show that the bytes scanned are
    the file's own (its src_encoding), not the UTF-8 of the decoded text.

Tests import the fixtures from here (``from clamav_fixtures import ...``). When ClamAV is not
installed they fail, with the command that installs it: CI installs it, nothing is skipped.
"""

from __future__ import annotations

import email.charset
import hashlib
import importlib.metadata
from pathlib import Path
from typing import NamedTuple

import pytest

from stack_v2.malware import ClamAVError, start_clamd
from stack_v2.malware.clamav import find_binary

EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"  # the published MD5 of the 68-byte EICAR test file
EICAR_NAME = "Eicar-Test-Signature"  # the name ClamAV's official database gives it
REAL_FILE_NAME = "StackV2.Test.RealFile"
LATIN1_NAME = "StackV2.Test.Latin1"
LATIN1_MARKER = "Ceci est un marqueur d'essai de stack-v2 : déjà vu à l'été, où ça ?"
REAL_FILE = Path(email.charset.__file__)


def eicar() -> bytes:
    """The EICAR test file, assembled from pieces (no source file holds it whole)."""
    pieces = ["X5O!P%@AP[4", "\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-", "ANTIVIRUS-", "TEST-FILE!", "$H+H*"]
    data = "".join(pieces).encode("ascii")
    if hashlib.md5(data).hexdigest() != EICAR_MD5:
        raise AssertionError("the EICAR pieces do not assemble into the test file")
    return data


def real_file_signature() -> bytes:
    """64 bytes of ``REAL_FILE`` that the .ndb signature matches (from its header_encode method)."""
    data = REAL_FILE.read_bytes()
    start = data.find(b"def header_encode(")
    if start < 0:  # another Python's copy: any 64 bytes from the middle
        start = len(data) // 2
    return data[start : start + 64]


class SignatureDatabase(NamedTuple):
    path: Path  # the database directory
    eicar: bytes
    real_file: Path
    real_signature: bytes  # bytes whose presence anywhere makes a file StackV2.Test.RealFile
    latin1_marker: bytes  # LATIN1_MARKER in ISO-8859-1

    def expected(self, data: bytes) -> str | None:
        """The signature a file should be reported with (an independent oracle), or None."""
        if hashlib.md5(data).hexdigest() == EICAR_MD5:
            return EICAR_NAME
        if self.real_signature in data:
            return REAL_FILE_NAME
        if self.latin1_marker in data:
            return LATIN1_NAME
        return None


def make_database(directory: Path) -> SignatureDatabase:
    """Writes test.hdb and test.ndb (ClamAV's own formats) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    sample = eicar()
    (directory / "test.hdb").write_text(f"{hashlib.md5(sample).hexdigest()}:{len(sample)}:{EICAR_NAME}\n")
    real = real_file_signature()
    latin1 = LATIN1_MARKER.encode("iso-8859-1")
    # Name:TargetType:Offset:HexSignature; target 0 is any file, offset * anywhere
    (directory / "test.ndb").write_text(f"{REAL_FILE_NAME}:0:*:{real.hex()}\n{LATIN1_NAME}:0:*:{latin1.hex()}\n")
    return SignatureDatabase(directory, sample, REAL_FILE, real, latin1)


def require_clamav() -> None:
    """Fails the test (not skip) when clamd or clamscan is missing, with the install command."""
    for name in ("clamd", "clamscan"):
        try:
            find_binary(name)
        except ClamAVError as exc:
            pytest.fail(f"ClamAV is required by the malware tests: {exc}", pytrace=False)


def installed_sources(max_packages: int = 50, files_per_package: int = 4, max_bytes: int = 1 << 20) -> list[Path]:
    """Real .py files: a few from each of up to ``max_packages`` installed distributions, in a stable order."""
    chosen: list[Path] = []
    packages = 0
    seen: set[str] = set()
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
        name = (dist.metadata["Name"] or "").lower()
        if name in seen or not dist.files:
            continue
        seen.add(name)
        paths = []
        for entry in sorted(dist.files, key=str):
            if entry.suffix != ".py":
                continue
            path = Path(dist.locate_file(entry))
            if path.is_file() and 0 < path.stat().st_size <= max_bytes:
                paths.append(path)
            if len(paths) == files_per_package:
                break
        if paths:
            chosen.extend(paths)
            packages += 1
        if packages == max_packages:
            break
    return chosen


@pytest.fixture(scope="session")
def clamav_db(tmp_path_factory) -> SignatureDatabase:
    require_clamav()
    return make_database(tmp_path_factory.mktemp("clamav-db"))


@pytest.fixture(scope="session")
def clamd(clamav_db, tmp_path_factory):
    """A private clamd on the test database (socket in a temporary directory), for the whole session."""
    process, _ = start_clamd(clamav_db.path, tmp_path_factory.mktemp("clamd"), timeout=60)
    yield process
    process.stop()
