"""Parse a SWHID given by the user into what a listing needs: the object to list and where it was found.

A listing starts from a snapshot (``snp``: its default branch), a revision (``rev``: its root directory)
or a directory (``dir``). Qualifiers follow the SWHID spec (docs/the-stack-v2.md §12.1): ``origin=`` names the
origin the object was found in and ``visit=`` the snapshot of that visit; both only fill in the records'
provenance. ``anchor=``, ``path=`` and ``lines=`` are accepted (swh.model validates them) and ignored:
the object itself is listed, whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from swh.model.exceptions import ValidationError
from swh.model.swhids import ObjectType

from stack_v2.errors import SWHIDError
from stack_v2.swhids import parse_swhid

LISTABLE_TYPES = ("snp", "rev", "dir")
_SHORT_TYPES = {
    ObjectType.SNAPSHOT: "snp",
    ObjectType.REVISION: "rev",
    ObjectType.DIRECTORY: "dir",
    ObjectType.RELEASE: "rel",
    ObjectType.CONTENT: "cnt",
}
_TYPE_PREFIX = re.compile(r"^swh:1:([a-z]+):")
_SYNTAX = "expected swh:1:<snp|rev|dir>:<40 lowercase hex digits>[;origin=<url>][;visit=swh:1:snp:<hex>]"


@dataclass(frozen=True, slots=True)
class SelectedSWHID:
    """The object a SWHID selects for listing, with the provenance its qualifiers give."""

    object_type: str  # snp | rev | dir
    object_id: str  # 40 lowercase hex digits
    origin: str | None = None  # origin= qualifier
    visit: str | None = None  # visit= qualifier: a snapshot id, hex

    def __post_init__(self) -> None:
        if self.object_type not in LISTABLE_TYPES:
            raise ValueError(f"object_type must be one of {LISTABLE_TYPES}, got {self.object_type!r}")

    @property
    def core(self) -> str:
        """The core SWHID, without qualifiers: ``swh:1:<type>:<hex>``."""
        return f"swh:1:{self.object_type}:{self.object_id}"


def parse_swhid_input(text: str) -> SelectedSWHID:
    """The listable object named by ``text``; SWHIDError (one line naming the input) if invalid or unsupported."""
    stripped = text.strip()
    prefix = _TYPE_PREFIX.match(stripped)
    if prefix and prefix.group(1) in ("ori", "emd"):  # extended SWHIDs: not objects of the Merkle DAG
        raise _unsupported(text, prefix.group(1))
    try:
        swhid = parse_swhid(stripped)
    except ValidationError as exc:
        raise SWHIDError(f"invalid SWHID {text!r}: {_reason(exc)}") from exc
    short = _SHORT_TYPES[swhid.object_type]
    if short not in LISTABLE_TYPES:
        raise _unsupported(text, short)
    return SelectedSWHID(
        object_type=short,
        object_id=swhid.object_id.hex(),
        origin=swhid.origin,
        visit=swhid.visit.object_id.hex() if swhid.visit is not None else None,
    )


def _unsupported(text: str, short: str) -> SWHIDError:
    return SWHIDError(f"unsupported SWHID {text!r}: type {short!r} cannot be listed (use snp, rev or dir)")


def _reason(exc: ValidationError) -> str:
    """swh.model's ValidationError as one line (its str() is a Django-style list of messages)."""
    messages = []
    for error in getattr(exc, "error_list", None) or [exc]:
        params = getattr(error, "params", None) or {}
        if getattr(error, "message", "") == "ValueError: %(args)s":  # a wrapped ValueError: keep its text only
            message = "; ".join(str(arg) for arg in params.get("args", ()))
        else:
            message = error.messages[0] if getattr(error, "messages", None) else str(error)
        if message.startswith("Invalid SWHID: invalid syntax"):
            message = f"invalid syntax, {_SYNTAX}"  # swh.model repeats the whole input here
        messages.append(" ".join(message.split()))
    return "; ".join(m for m in messages if m) or "invalid"
