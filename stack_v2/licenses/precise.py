"""The precise rule: which of a license file's detected licenses it grants, weighing what ScanCode matched
(docs/the-stack-v2.md §5.4).

The paper counts every license of every detection. The precise rule counts the same licenses except
mentions. A match is a mention when all of these hold:

- it is not a license text (its rule is a notice, tag, reference, intro or clue),
- it is short (at most ``MAX_MENTION_TOKENS`` tokens),
- its words are part of the rule text of a full license text matched in the same file (at least
  ``MIN_BODY_TOKENS`` tokens matched, ``MIN_BODY_COVERAGE`` percent of its rule), at the place where that
  text lies in the file (``evidence.Match.within``).

A match is also a mention when it is a short reference or tag (at most 10 tokens) that its sentence names
as what something is compatible with, with no word of a grant or a choice in between ("license
compatibility issues between Apache License 2.0 and GNU GPL v2"; ``evidence.Match.note``), provided the
file still names a license of its own once such mentions are set aside: a file is judged by its own
license, never left with none by this.

A license is set aside when every match that names it is a mention. So the GPL named in the PSF license's
history table and footnotes ("GPL-compatible", "released under the GPL") is set aside: those words are
the PSF license's own. A file that only references a license ("Licensed under the GPL", an SPDX tag) has
no full text around the reference, so the license counts; so does a reference that is not part of the
text around it ("dual licensed, see COPYING for the GPL option" under an MIT text). Everything else is
the paper's: ``OR`` names every alternative, so a dual MIT-or-GPL notice is non_permissive, and the
counted licenses go through the paper's ``license_type``. When in doubt a license counts: this rule
only ever removes a license on the evidence above, never adds one.
"""

from __future__ import annotations

from collections.abc import Iterable

from stack_v2.licenses.classify import UNKNOWN_REFERENCE
from stack_v2.licenses.evidence import FileLicenses, Match, spdx_symbols

PAPER, PRECISE = "paper", "precise"
RULES = (PRECISE, PAPER)
MAX_MENTION_TOKENS = 20
MIN_BODY_TOKENS = 100
MIN_BODY_COVERAGE = 50.0


def inside_text(match: Match, file: FileLicenses) -> bool:
    """The match names a license in passing inside another license's full text: short, not itself a text,
    its words part of that text's rule where that text lies in the file."""
    if match.kind == "text" or match.matched_length > MAX_MENTION_TOKENS or match.within < 0:
        return False
    body = file.matches[match.within]
    return (
        body.kind == "text"
        and body.matched_length >= MIN_BODY_TOKENS
        and body.coverage >= MIN_BODY_COVERAGE
        and not set(match.licenses) & set(body.licenses)
    )


def in_compatibility_note(match: Match) -> bool:
    """The match is a short reference or tag that a sentence names as what something is compatible with."""
    return match.note == "compatibility" and match.kind in ("reference", "tag") and match.matched_length <= 10


def _only_through(file: FileLicenses, test) -> dict[str, list[Match]]:
    """License -> its matches, for the licenses of detections whose every match passes ``test``."""
    named: dict[str, list[Match]] = {}
    for match in file.matches:
        if file.detections[match.detection] is None:
            continue  # clues are not counted by either rule
        for key in match.licenses:
            named.setdefault(key, []).append(match)
    # A detection whose expression names a license that none of its matches names (ScanCode's own merging)
    # gives no match to judge: that license counts.
    unexplained = {
        key
        for d, expression in enumerate(file.detections)
        if expression
        for key in spdx_symbols(expression)
        if not any(m.detection == d and key in m.licenses for m in file.matches)
    }
    return {
        key: matches
        for key, matches in sorted(named.items())
        if key not in unexplained and all(test(m) for m in matches)
    }


def mentions(file: FileLicenses) -> dict[str, list[Match]]:
    """License -> its matches, for the licenses the file only mentions: inside another license's full text,
    or, when the file still names a license of its own, in compatibility notes."""
    inside = _only_through(file, lambda m: inside_text(m, file))
    either = _only_through(file, lambda m: inside_text(m, file) or in_compatibility_note(m))
    named = {k for m in file.matches if file.detections[m.detection] is not None for k in m.licenses}
    own = named - set(either) - {UNKNOWN_REFERENCE}
    return either if own else inside


def counted(licenses: Iterable[str], file: FileLicenses | None, rule: str = PRECISE) -> tuple[str, ...]:
    """The licenses a file grants under ``rule``, sorted: the paper's ``licenses`` (what its detections
    name), less those only mentioned (precise). Without evidence nothing is set aside."""
    keys = set(licenses)
    if rule == PRECISE and file is not None:
        keys -= set(mentions(file))
    return tuple(sorted(keys))


def describe(match: Match) -> str:
    """One match as evidence: its rule, kind, matcher, size, coverage and lines."""
    lines = (
        f"line {match.start_line}"
        if match.start_line == match.end_line
        else (f"lines {match.start_line}-{match.end_line}")
    )
    return (
        f"rule {match.rule} ({match.kind}, {match.matcher}), {match.matched_length} tokens, "
        f"coverage {match.coverage:g}%, {lines}"
    )


def strongest(file: FileLicenses, key: str) -> Match | None:
    """The match that best shows the file names ``key``: a text before a notice, longer before shorter."""
    named = [m for m in file.matches if key in m.licenses and file.detections[m.detection] is not None]
    order = {kind: i for i, kind in enumerate(("text", "notice", "tag", "reference", "intro", "clue"))}
    return min(named, key=lambda m: (order.get(m.kind, 9), -m.matched_length, m.start_line), default=None)


def evidence_for(file: FileLicenses, keys: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(license, its strongest match described) for each of ``keys`` the file names."""
    out = []
    for key in sorted(keys):
        match = strongest(file, key)
        out.append((key, describe(match) if match else "named by the detection's expression"))
    return tuple(out)
