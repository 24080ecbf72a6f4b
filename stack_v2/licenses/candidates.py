"""Which files are license candidates: the paper code's file-name regex (docs/the-stack-v2.md §5.1).

Adapted by BigCode from go-license-detector's ``investigation.go``; it deliberately includes READMEs,
NOTICEs and GUIDELINES that refer to a license. Matched case-insensitively on the file's name (not its
directory), anchored at both ends.
"""

from __future__ import annotations

import re

_ALTERNATIVES = (
    r"li[cs]en[cs]e(s?)|legal|copy(left|right|ing)|unlicense|[al]?gpl([-_ v]?)(\d\.?\d?)?|bsd(l?)|mit(x?)|apache|"
    r"artistic|copying(v?)(\d?)|disclaimer|eupl|gfdl|[cm]pl|cc0|al([-_ v]?)(\d\.?\d)?|about|notice|readme|guidelines"
)
LICENSE_FILE_NAME = re.compile(rf"^(|.*[-_. ])({_ALTERNATIVES})(|[-_. ].*)$", re.IGNORECASE)


def is_license_candidate(path: str) -> bool:
    """True when the file name (last path component) looks like a license, notice or readme file."""
    return LICENSE_FILE_NAME.match(path.rsplit("/", 1)[-1]) is not None


def base_path(path: str) -> str:
    """The directory a license file covers, with its trailing slash ('' for the repository root)."""
    return path[: path.rfind("/") + 1]
