"""Where the PII of one file is: the prefilter's candidate lines, the detectors on them, then every occurrence.

A value found once is PII wherever it stands in the file (the paper maps "the same secret" to the same
replacement), so each accepted value is looked up again over the whole text with the boundaries of its kind:
an email or IP must not be part of a longer address or number, a key or name of a longer word. Passwords
are short and may be common words, so besides the line they were found on only whole quoted literals
(``"hunter2"``) count. Overlaps keep the longer span (the earlier one on a tie).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from stack_v2.pii.patterns import EMAIL, IP_ADDRESS, find_emails, find_ips
from stack_v2.pii.prefilter import candidate_lines
from stack_v2.pii.secret_filters import KEY, PASSWORD, accept, full_values, is_placeholder, private_key_span
from stack_v2.pii.secrets import PRIVATE_KEY_TYPE, scan_lines

NAME = "name"
KINDS = (EMAIL, IP_ADDRESS, KEY, PASSWORD, NAME)

# A name detector: text -> (start, end) spans of person names (``ner.NameDetector`` is one).
NameDetector = Callable[[str], Iterable[tuple[int, int]]]


class Span(NamedTuple):
    kind: str  # one of KINDS
    start: int
    end: int
    value: str  # text[start:end]


_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ALNUM = _WORD - {"_"}
# Characters that may not touch an occurrence, before and after it, per kind.
_EDGES = {
    EMAIL: (_WORD | set(".%+-"), _WORD | {"-"}),
    "ipv4": (_WORD | {"."}, _WORD),
    "ipv6": (_WORD | set(":."), _WORD | {":"}),
}
_QUOTES = "'\"`"


def _bounded(text: str, start: int, end: int, before: frozenset | set, after: frozenset | set, dotted: bool) -> bool:
    if start > 0 and text[start - 1] in before:
        return False
    if end < len(text) and text[end] in after:
        return False
    # "a@b.com" inside "a@b.com.au", "1.2.3.4" inside "1.2.3.4.5": a dot followed by more address
    return not (dotted and text[end : end + 1] == "." and text[end + 1 : end + 2] in _ALNUM)


def occurrences(text: str, kind: str, value: str, lo: int = 0, hi: int | None = None) -> Iterable[Span]:
    if kind in (EMAIL, IP_ADDRESS):
        edge = EMAIL if kind == EMAIL else ("ipv6" if ":" in value else "ipv4")
        before, after = _EDGES[edge]
        dotted = edge != "ipv6"
    else:  # keys, passwords, names: word boundaries where the value itself starts or ends with a word character
        before = _WORD if value[0] in _WORD else frozenset()
        after = _WORD if value[-1] in _WORD else frozenset()
        dotted = False
    hi = len(text) if hi is None else hi
    at = text.find(value, lo, hi)
    while at >= 0:
        end = at + len(value)
        if _bounded(text, at, end, before, after, dotted):
            yield Span(kind, at, end, value)
        at = text.find(value, at + 1, hi)


def _quoted_occurrences(text: str, value: str) -> Iterable[Span]:
    at = text.find(value)
    while at >= 0:
        end = at + len(value)
        if 0 < at and end < len(text) and text[at - 1] in _QUOTES and text[end] == text[at - 1]:
            yield Span(PASSWORD, at, end, value)
        at = text.find(value, at + 1)


def is_full_name(value: str) -> bool:
    """The paper's NAME post-filter: at least two words (and, as for every type, more than 3 characters)."""
    return len(value) > 3 and len(value.split()) > 1


def find_pii(text: str, *, path: str = "", name_detector: NameDetector | None = None) -> list[Span]:
    """Non-overlapping PII spans of ``text``, in order. ``path`` selects detect-secrets' per-language rules."""
    values: dict[str, str] = {}  # value -> kind, first kind wins (keys are looked at first)
    spans: list[Span] = []
    lines = candidate_lines(text)
    if lines:
        for finding in scan_lines(text, lines, path):
            kind = accept(finding)
            if kind is None:
                continue
            if finding.secret_type == PRIVATE_KEY_TYPE:
                block = private_key_span(text, finding.line_start)
                if block:
                    spans.append(Span(KEY, *block, text[block[0] : block[1]]))
            elif kind == PASSWORD:
                line_end = finding.line_start + len(finding.line)
                spans += occurrences(text, PASSWORD, finding.value, finding.line_start, line_end)
                spans += _quoted_occurrences(text, finding.value)
            else:
                for value in full_values(finding):
                    if not is_placeholder(value):
                        values.setdefault(value, kind)
    for start, end in lines:
        if "@" in text[start:end]:
            for match in find_emails(text, start, end):
                values.setdefault(match.value, EMAIL)
        for match in find_ips(text, start, end):
            values.setdefault(match.value, IP_ADDRESS)
    if name_detector is not None:
        for start, end in name_detector(text):
            value = text[start:end].strip()
            if is_full_name(value):
                values.setdefault(value, NAME)
    for value, kind in values.items():
        spans += occurrences(text, kind, value)
    return without_overlaps(spans)


def without_overlaps(spans: list[Span]) -> list[Span]:
    kept: list[Span] = []
    for span in sorted(set(spans), key=lambda s: (s.start, s.start - s.end)):
        if kept and span.start < kept[-1].end:
            continue
        kept.append(span)
    return kept
