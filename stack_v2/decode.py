"""Bytes to text as the paper's download step decides it (docs/the-stack-v2.md §3.2): a NUL byte means
binary; UTF-8, else the charset cChardet names; what neither decodes is undecodable. Pure; used by the
fetch_decode stage, by license detection and by the loader."""

from __future__ import annotations

import cchardet

from stack_v2.verdicts import Drop


def decode_content(data: bytes) -> tuple[str, str] | Drop:
    """(text, src_encoding), or why the bytes are not text."""
    if b"\0" in data:
        return Drop("binary", "contains NUL bytes")
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    detected = cchardet.detect(data)
    encoding, confidence = detected.get("encoding"), detected.get("confidence") or 0.0
    # The paper's code drops what cChardet cannot name, or names UTF-8 (which just failed).
    if not encoding or encoding.replace("-", "").upper() == "UTF8":
        return Drop("undecodable", f"charset={encoding} confidence={confidence:.2f}")
    try:
        return data.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError) as exc:
        return Drop("undecodable", f"charset={encoding}: {type(exc).__name__}")
