"""A distribution's core metadata (``PKG-INFO`` / ``METADATA``): name, version and long description.

Core metadata is an RFC 822-style header block, read with the standard library's ``email`` parser. The
long description is the message body (metadata 2.1 and later) or, in older files, the ``Description``
header, whose continuation lines carry an indent that is removed: setuptools wrote 8 spaces, the
specification says 7 spaces and a ``|``; both are undone. A ``Description``
of ``UNKNOWN`` (what old setuptools wrote for "none") counts as none.

``Description-Content-Type`` gives the description's format: ``text/markdown``, ``text/x-rst`` or
``text/plain`` (parameters such as ``charset`` and ``variant`` are ignored). When it is missing or
unknown (``UNKNOWN``), the specification says to read the description as reStructuredText when it is
valid and as plain text otherwise: ``content_format`` returns None for that case. Pure.
"""

from __future__ import annotations

import email.parser
import email.policy
from typing import NamedTuple

from stack_v2.package_docs.layout import MARKDOWN, RST, TEXT

_FORMATS = {"text/markdown": MARKDOWN, "text/x-rst": RST, "text/plain": TEXT}
_UNKNOWN = "UNKNOWN"


class PackageMetadata(NamedTuple):
    name: str
    version: str
    description: str  # the long description, "" when there is none
    content_type: str  # Description-Content-Type as written, "" when absent


def _header(message, key: str) -> str:
    value = message.get(key)
    return "" if value is None else str(value).strip()


def _unfold_description(value: str) -> str:
    first, *rest = value.split("\n")
    lines = [first.strip()]
    for line in rest:
        if line.startswith("       |"):  # 7 spaces and a pipe: the specification's form
            line = line[8:]
        elif line.startswith("        "):  # setuptools' 8 spaces
            line = line[8:]
        lines.append(line.rstrip())
    return "\n".join(lines).strip("\n")


def parse_metadata(text: str) -> PackageMetadata | None:
    """The metadata in ``text``, or None when it names no package (no ``Name`` or no ``Version``)."""
    message = email.parser.Parser(policy=email.policy.compat32).parsestr(text)
    name, version = _header(message, "Name"), _header(message, "Version")
    if not name or not version:
        return None
    body = message.get_payload()
    description = body.strip("\n") if isinstance(body, str) and body.strip() else ""
    if not description:
        raw = message.get("Description")
        description = _unfold_description(str(raw)) if raw is not None else ""
    if description.strip() == _UNKNOWN:
        description = ""
    return PackageMetadata(name, version, description, _header(message, "Description-Content-Type"))


def content_format(content_type: str) -> str | None:
    """The format a Description-Content-Type names (``MARKDOWN``, ``RST``, ``TEXT``), None when it names none."""
    mime = content_type.split(";", 1)[0].strip().lower()
    return _FORMATS.get(mime)
