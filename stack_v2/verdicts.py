"""The vocabulary of every decision on a file: a verdict (keep, ``Drop``, ``Fail``), the outcome words
of dropped/ and report.json, and the names of the counters that count them. Pure: the ground floor that
the stage cores (quality, licenses, ...), the stages and the report all use.
"""

from __future__ import annotations

from typing import NamedTuple

INPUT, KEPT, DROPPED, FAILED = "input", "kept", "dropped", "failed"
BYTES = "bytes_"  # prefix of the counters that count length_bytes rather than files


class Drop(NamedTuple):
    """A decision: the record is left out (reason snake_case, detail the measured value)."""

    reason: str
    detail: str = ""


class Fail(NamedTuple):
    """An error: the record could not be processed (missing object, unreadable, ...)."""

    reason: str
    detail: str = ""


def outcome_of(verdict: Drop | Fail) -> str:
    """The outcome word of dropped/ and report.json: ``dropped`` or ``failed``."""
    return FAILED if isinstance(verdict, Fail) else DROPPED


def counter_name(outcome: str, reason: str = "") -> str:
    """``input``, ``kept``, ``dropped_<reason>`` or ``failed_<reason>``: a stage's counter for files."""
    return f"{outcome}_{reason}" if outcome not in (INPUT, KEPT) else outcome
