"""What ScanCode found in one license file, as plain data: every match with its rule, kind, extent and
coverage, grouped by detection (or license clues), and the file's size. Built once per blob from
ScanCode's objects (``from_scancode``), cached with the blob's licenses, and read by the precise rule
(``stack_v2.licenses.precise``) and the report's evidence without ScanCode.

One fact needs ScanCode's index and so is worked out here: whether a short match's words are part of the
text of a full license text matched in the same file, at the place where that text lies in the file
(``Match.within``). The PSF license's history table says "GPL-compatible" and "released under the GPL":
ScanCode matches those words as GPL references when the text differs a little from its rule for the
PSF license, yet they are the PSF license's own words.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Bump when what is recorded changes: the license cache is keyed by it (with ScanCode's version).
EVIDENCE_VERSION = 2
# ScanCode's rule flags, in the order a rule is checked for them (a rule has one).
KINDS = ("text", "notice", "tag", "reference", "intro", "clue")
MAX_WITHIN_TOKENS = 50  # longer matches are not looked for inside another text (the rule sets aside ≤ 20)
SLACK = 0.1  # of the full text's rule length: how far a file's copy may run past the rule's ends


class Match(NamedTuple):
    licenses: tuple[str, ...]  # SPDX keys of the matched rule's expression
    rule: str  # ScanCode's rule identifier (e.g. gpl-2.0.LICENSE, gpl-1.0-plus_351.RULE)
    kind: str  # text | notice | tag | reference | intro | clue
    matcher: str  # 1-hash, 1-spdx-id, 2-aho, 3-seq, ...
    matched_length: int  # tokens matched
    coverage: float  # percent of the rule's tokens matched
    start_line: int
    end_line: int
    detection: int  # index in FileLicenses.detections
    within: int = -1  # index of the full-text match whose rule text holds this match's words here, else -1
    note: str = ""  # "compatibility": the match follows "compatible with" (or the like) in its sentence


class FileLicenses(NamedTuple):
    lines: int
    tokens: int  # ScanCode's query tokens
    detections: tuple[str | None, ...]  # each detection's SPDX expression; None: license clues only
    matches: tuple[Match, ...]

    def to_json(self) -> dict:
        return {
            "lines": self.lines,
            "tokens": self.tokens,
            "detections": list(self.detections),
            "matches": [list(m) for m in self.matches],
        }

    @classmethod
    def from_json(cls, data: dict) -> FileLicenses:
        matches = tuple(Match(tuple(m[0]), *m[1:]) for m in data["matches"])
        return cls(data["lines"], data["tokens"], tuple(data["detections"]), matches)


def spdx_symbols(expression: str) -> set[str]:
    """The license keys of an SPDX expression (operators and parentheses left out)."""
    words = expression.replace("(", " ").replace(")", " ").split()
    return {w for w in words if w not in ("AND", "OR", "WITH")}


def _kind(rule) -> str:
    for kind in KINDS:
        if getattr(rule, f"is_license_{kind}", False):
            return kind
    return "unknown"


def _contains(haystack, needle) -> bool:
    n = len(needle)
    if not n:
        return False
    first = needle[0]
    return any(haystack[i] == first and haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


MAX_NOTE_TOKENS = 10  # longer matches are not looked at as parts of a compatibility note
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n\s*\n")
_COMPATIBILITY = re.compile(r"\bcompatib\w*", re.IGNORECASE)
# Words that make a sentence a grant or a choice rather than a remark on compatibility.
_GRANT_WORDS = re.compile(
    r"licen[cs]ed|releas|distribut|availab|\bunder\b|\bterms\b|dual|choice|choose|option|grant|subject|cover|"
    r"govern|permi|\bmay\b|\bcan\b|\bmust\b|\bshall\b|\bor\b",
    re.IGNORECASE,
)


def _squash(text: str) -> str:
    return " ".join(text.split())


def compatibility_note(lines: list[str], match) -> bool:
    """Whether ``match`` (a short reference or tag) names its license as the object of a remark on
    compatibility: after "compatible"/"compatibility"/"incompatible" in the same sentence, with no word of a
    grant or a choice in between ("... compatibility issues between Apache License 2.0 and GNU GPL v2")."""
    words = _squash(match.matched_text(whole_lines=False, highlight=False))
    window = _squash(" ".join(lines[max(match.start_line - 4, 0) : match.end_line]))
    at = window.rfind(words) if words else -1
    if at < 0:
        return False
    before = _SENTENCE_END.split(window[:at])[-1]
    found = list(_COMPATIBILITY.finditer(before))
    return bool(found) and not _GRANT_WORDS.search(before[found[-1].end() :])


def from_scancode(detections, text: str, index, spdx_key) -> FileLicenses:
    """ScanCode's LicenseDetection objects for ``text`` as plain data. ``spdx_key(symbol key)`` names a
    ScanCode key in SPDX terms."""
    from licensedcode.cache import build_spdx_license_expression, get_licensing

    licensing = get_licensing()
    expressions, flat, raw = [], [], []
    for d, detection in enumerate(detections):
        expressions.append(
            str(build_spdx_license_expression(detection.license_expression, licensing))
            if detection.license_expression
            else None
        )
        for m in detection.matches:
            keys = tuple(sorted({spdx_key(s.key) for s in licensing.license_symbols(m.rule.license_expression)}))
            flat.append(
                Match(
                    keys,
                    m.rule.identifier,
                    _kind(m.rule),
                    m.matcher,
                    m.len(),
                    round(m.coverage(), 2),
                    m.start_line,
                    m.end_line,
                    d,
                )
            )
            raw.append(m)
    bodies = [i for i, m in enumerate(raw) if m.rule.is_license_text and m.len() >= 2 * MAX_WITHIN_TOKENS]
    for i, m in enumerate(raw):
        if m.rule.is_license_text or m.len() > MAX_WITHIN_TOKENS or m.rule.rid is None:
            continue  # (an SPDX identifier's rule is made on the fly: it has no rid, and is never a mention)
        words = [index.tids_by_rid[m.rule.rid][p] for p in m.ispan]
        for b in bodies:
            body = raw[b]
            # Where the body's whole rule text would lie in the file, from where its matched part lies.
            slack = int(body.rule.length * SLACK)
            first = body.qspan.start - body.ispan.start - slack
            last = body.qspan.end + (body.rule.length - 1 - body.ispan.end) + slack
            inside = first <= m.qspan.start and m.qspan.end <= last
            if inside and _contains(list(index.tids_by_rid[body.rule.rid]), words):
                flat[i] = flat[i]._replace(within=b)
                break
    lines = text.splitlines()
    for i, m in enumerate(raw):
        if _kind(m.rule) in ("reference", "tag") and m.len() <= MAX_NOTE_TOKENS and compatibility_note(lines, m):
            flat[i] = flat[i]._replace(note="compatibility")
    tokens = len(raw[0].query.tokens) if raw and getattr(raw[0], "query", None) is not None else 0
    return FileLicenses(text.count("\n") + (not text.endswith("\n")), tokens, tuple(expressions), tuple(flat))
