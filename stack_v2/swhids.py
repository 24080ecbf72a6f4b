"""The SWHIDs of the manifest's files: one parser and one renderer, both swh.model's.

A file's SWHID is ``swh:1:cnt:<content_id>;origin=<origin>;visit=swh:1:snp:<snapshot_id>;anchor=<anchor>;
path=<path>``: no ``visit`` without a snapshot; the anchor is ``swh:1:rev:<revision_id>``, or
``swh:1:dir:<directory_id>`` when there is no revision; the path is the file's raw bytes from the root.

swh.model (``QualifiedSWHID``) escapes two qualifiers when it renders and unescapes them when it parses:

- ``origin``: ``%`` becomes ``%25`` and ``;`` ``%3B``, nothing else (``<``, ``>``, ``#``, non-ASCII stay as
  they are); the parser URL-unquotes the value, so every origin comes back as written, ``%`` signs included.
- ``path``: URL-quoted from bytes with only ``/`` left as is (``;``, ``%``, spaces, non-UTF-8 bytes are all
  escaped); the parser unquotes it back to the same bytes.

Whitespace in an origin is not escaped, and the SWHID grammar has none: such a SWHID does not parse.
"""

from __future__ import annotations

import functools
import re
import urllib.parse

from swh.model.exceptions import ValidationError
from swh.model.swhids import CoreSWHID, ObjectType, QualifiedSWHID

_HEX40 = re.compile(r"[0-9a-f]{40}")
_ANY_ID = bytes(20)  # stands in for the content id while rendering the qualifiers alone


def parse_swhid(text: str) -> QualifiedSWHID:
    """swh.model's parse of a qualified SWHID; raises swh.model's ValidationError when ``text`` is not one."""
    return QualifiedSWHID.from_string(text)


def swhid_origin(text: str | None) -> str | None:
    """The ``origin`` qualifier of a SWHID, unescaped as swh.model parses it.

    None when there is no SWHID, no origin qualifier, or the text does not parse."""
    if not text:
        return None
    try:
        return parse_swhid(text).origin
    except ValidationError:
        return None


def render_file_swhid(
    content_id: str,
    origin: str | None,
    snapshot_id: str | None,
    revision_id: str | None,
    directory_id: str,
    path: bytes,
) -> str:
    """The SWHID of a file, byte for byte as ``str(QualifiedSWHID(...))`` writes it.

    ``path`` is the file's raw path, absolute (``b"/dir/name"``). The qualifiers that every file of a
    repository visit shares (origin, visit, anchor) are rendered by swh.model, once per visit; the file's own
    parts, its core id and ``path=`` (swh.model's quoting, ``quote_from_bytes``), are appended here, because
    building a QualifiedSWHID per file costs about 35 us, too much for the manifest check's per-row fast path.
    tests/test_swhids.py holds the result to swh.model's on awkward origins and paths.
    """
    qualifiers = _visit_qualifiers(origin, snapshot_id, revision_id, directory_id)
    return f"{_content_core(content_id)}{qualifiers};path={urllib.parse.quote_from_bytes(path)}"


def _content_core(content_id: str) -> str:
    if _HEX40.fullmatch(content_id):
        return f"swh:1:cnt:{content_id}"
    # anything else (upper case, wrong length, not hex): swh.model's own normalisation or error
    return str(CoreSWHID(object_type=ObjectType.CONTENT, object_id=bytes.fromhex(content_id)))


@functools.lru_cache(maxsize=4096)
def _visit_qualifiers(origin: str | None, snapshot_id: str | None, revision_id: str | None, directory_id: str) -> str:
    """``;origin=...;visit=...;anchor=...`` as swh.model renders them (the same for every file of a visit)."""
    if revision_id:
        anchor = CoreSWHID(object_type=ObjectType.REVISION, object_id=bytes.fromhex(revision_id))
    else:
        anchor = CoreSWHID(object_type=ObjectType.DIRECTORY, object_id=bytes.fromhex(directory_id))
    visit = CoreSWHID(object_type=ObjectType.SNAPSHOT, object_id=bytes.fromhex(snapshot_id)) if snapshot_id else None
    text = str(
        QualifiedSWHID(object_type=ObjectType.CONTENT, object_id=_ANY_ID, origin=origin, visit=visit, anchor=anchor)
    )
    core = str(CoreSWHID(object_type=ObjectType.CONTENT, object_id=_ANY_ID))
    assert text.startswith(core)  # swh.model writes the core id first, then the qualifiers
    return text[len(core) :]
