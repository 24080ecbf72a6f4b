"""Propagation of detected licenses and the license_type decision (docs/the-stack-v2.md §5.3, §5.4).

The lists are data: ``filters/licenses/permissive.tsv`` (made by ``stack-v2 licenses regenerate``
from ScanCode's license database and the Blue Oak Council list) and ``filters/licenses/non_license.txt``
(amendments that do not change a file's type: CLAs, exceptions, disclaimers).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from stack_v2.resources import data_path

FILTERS_DIR = data_path("filters/licenses")
PERMISSIVE_FILE = FILTERS_DIR / "permissive.tsv"
NON_LICENSE_FILE = FILTERS_DIR / "non_license.txt"

PERMISSIVE, NO_LICENSE, NON_PERMISSIVE = "permissive", "no_license", "non_permissive"
UNKNOWN_REFERENCE = "LicenseRef-scancode-unknown-license-reference"
NOASSERTION = "NOASSERTION"


def _data_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=8)
def load_permissive(path: str | None = None) -> frozenset[str]:
    """SPDX keys (and LicenseRef-scancode-* keys) counted as permissive: first column of the TSV."""
    lines = _data_lines(Path(path) if path else PERMISSIVE_FILE)
    return frozenset(line.split("\t", 1)[0] for line in lines[1:])  # first line: column names


@lru_cache(maxsize=8)
def load_non_license(path: str | None = None) -> frozenset[str]:
    return frozenset(_data_lines(Path(path) if path else NON_LICENSE_FILE))


def propagate(path: str, license_dirs: Iterable[tuple[str, Iterable[str]]]) -> list[str]:
    """Sorted union of the licenses of every license directory (base path) that contains ``path``."""
    found: set[str] = set()
    for base, licenses in license_dirs:
        if path.startswith(base):
            found.update(licenses)
    return sorted(found)


def license_type(
    gha_license_id: str | None, detected: Iterable[str], permissive: frozenset[str], non_license: frozenset[str]
) -> str:
    """The paper's decision (its code, get_license_types.py), word for word in logic."""
    if gha_license_id in permissive:
        return PERMISSIVE
    if gha_license_id not in (None, NOASSERTION):
        return NON_PERMISSIVE
    detected = set(detected)
    if not detected:
        return NO_LICENSE if gha_license_id is None else NON_PERMISSIVE  # NOASSERTION and nothing detected
    found_permissive = detected & permissive
    others = detected - found_permissive - (detected & non_license)
    if found_permissive:
        others.discard(UNKNOWN_REFERENCE)
    if found_permissive and not others:
        return PERMISSIVE
    if not others:
        return NO_LICENSE
    return NON_PERMISSIVE


def decided_without_more(
    gha_license_id: str | None, detected: Iterable[str], permissive: frozenset[str], non_license: frozenset[str]
) -> bool:
    """Whether ``license_type`` gives the same answer whatever licenses are added to ``detected``: the
    GHArchive license decides alone, or a non-permissive license is already detected (more licenses only
    add to ``others``; the unknown reference is left out, as a permissive license added would discard it)."""
    if gha_license_id not in (None, NOASSERTION):
        return True
    return bool(set(detected) - permissive - non_license - {UNKNOWN_REFERENCE})
