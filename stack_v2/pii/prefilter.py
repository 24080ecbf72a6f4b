"""One pass over a file that finds the few lines any PII detector could fire on.

Running detect-secrets' plugins on every line of every file is what makes it slow (about 0.2 MB/s per
core): a dozen Python regexes, a settings lookup and filter dispatch per line. On real code well under 1 % of
lines can hold a finding, so a single RE2 automaton (linear time, one scan whatever the number of
alternatives) marks those lines first and only they reach the detectors.

The pattern is a superset, line by line, of what each detector can match; ``tests/test_pii.py`` and
``benchmarks/bench_pii.py`` check that no detect-secrets finding is lost:
- the plugins' own literal anchors (AWS key-id prefixes, ``gh?_``, ``xox?-``, Slack webhooks, ``?k_live_``,
  the private-key headers, ``eyJ``) and every keyword of ``KeywordDetector``'s denylist, case-insensitively;
- a quoted run that can pass the entropy limits (its charset includes the backslash, as detect-secrets'):
  Base64HighEntropyString needs more than 4.5 bits, so at least
  23 distinct characters; HexHighEntropyString more than 3 bits, so at least 9 (AWSKeyDetector's 40-character
  secret-key form is such a run too);
- an ``@`` between an address-like local part and a domain; four dotted numbers; a ``2xxx:``/``3xxx:`` IPv6
  start (only global unicast addresses, ``2000::/3``, are redacted, and their first group has four digits).
"""

from __future__ import annotations

from typing import NamedTuple

import re2
from detect_secrets.plugins.keyword import DENYLIST
from detect_secrets.plugins.private_key import PrivateKeyDetector


def _python_ignorecase(word: str) -> str:
    """Python's IGNORECASE also folds 'İ' and 'ı' to 'i' (RE2 does not); detect-secrets matches with Python's."""
    return word.replace("i", "[iİı]")


_SECRET = "|".join(
    [
        r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}",
        r"gh[pousr]_",
        r"(?i:xox[abposr]-|hooks\.slack\.com)",
        r"[rs]k_live_",
        *(regex.pattern for regex in PrivateKeyDetector.denylist),
        r"eyJ",
        r"['\"](?:[0-9A-Fa-f]{9,}|[A-Za-z0-9+/=_\\-]{23,})['\"]",
        "(?i:" + "|".join(_python_ignorecase(word) for word in DENYLIST) + ")",
    ]
)
_EMAIL = r"[A-Za-z0-9_+-]@[A-Za-z0-9-]+\.[A-Za-z0-9]"
_IP = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[23][0-9A-Fa-f]{3}:[0-9A-Fa-f]{0,4}:"
_PATTERN = re2.compile(f"{_SECRET}|{_EMAIL}|{_IP}")
# Most code is ASCII, where byte and character offsets agree: scanning bytes then saves RE2's offset conversion.
_PATTERN_BYTES = re2.compile(_PATTERN.pattern.encode("utf-8"))


class CandidateLine(NamedTuple):
    start: int  # offset of the line's first character
    end: int  # offset of its newline (or of the end of the text)


def candidate_lines(text: str) -> list[CandidateLine]:
    """The lines (split on ``\\n``, as detect-secrets reads them) that hold a prefilter hit, in order.

    Every detector then runs on every candidate line (each behind its own cheap gate): which alternative
    fired is not a safe guide, as a match may swallow another's anchor (``deploy@93.184.216.34``)."""
    lines: dict[int, int] = {}
    haystack, newline = (text.encode("ascii"), b"\n") if text.isascii() else (text, "\n")
    pattern = _PATTERN_BYTES if newline == b"\n" else _PATTERN
    for match in pattern.finditer(haystack):
        pos = match.start()
        start = haystack.rfind(newline, 0, pos) + 1
        if start not in lines:
            end = haystack.find(newline, pos)
            lines[start] = end if end >= 0 else len(haystack)
    return [CandidateLine(start, end) for start, end in sorted(lines.items())]
