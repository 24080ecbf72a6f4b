"""Strip what GitHub's email gateway adds when someone answers an issue or pull request by email.

A reply by email arrives as the person's text followed by GitHub's footer ("You are receiving this
because ... Reply to this email directly, view it on GitHub ..."), usually the quoted message they
answered, introduced by a header line ("On Tue, Mar 3, 2020 at 10:12 AM Jane <notifications@github.com>
wrote:"), and sometimes an Outlook-style block ("From: ..." down to the footer) or a DCO trailer
("Signed-off-by: Name <email>"). None of it is the person's words; StarCoder removed it before measuring
a thread. Here, line by line:

- a reply header (a line naming ``notifications@github.com``, or a date and time followed by "wrote"),
  and every line after it that is quoted (``>``) or blank, go;
- an Outlook block, from its ``From:`` line to the footer, goes;
- the footer, from "You are receiving this because" or "Reply to this email directly" to the end of
  its paragraph, goes;
- ``Signed-off-by:`` trailers and separator lines of 20 or more underscores go.

What is left is stripped of surrounding blank space. Pure.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"notifications@github\.com|\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4},? .*\d{1,2}:\d{2}.*\bwrote\b")
_ON_WROTE = re.compile(r"^On .+\bwrote:\s*$")
_FOOTER_START = re.compile(r"You are receiving this because|Reply to this email directly")
_SIGNED_OFF = re.compile(r"^\s*Signed-off-by: .+<[^>]+>\s*$")
_SEPARATOR = re.compile(r"^\s*_{20,}\s*$")
_DASHES = frozenset({"\u2014", "-", "--", "---"})


def strip_email_reply(text: str) -> str:
    lines = text.split("\n")
    keep = [True] * len(lines)
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if _FOOTER_START.search(line):
            i = _drop_paragraph_from(lines, keep, _paragraph_start(lines, i))
            continue
        if line.startswith("From:") and _footer_after(lines, i):
            end = _footer_after(lines, i)
            for j in range(i, end):
                keep[j] = False
            i = end
            continue
        if _HEADER.search(line) or _ON_WROTE.match(line):
            keep[i] = False
            i += 1
            while i < len(lines) and (lines[i].lstrip().startswith(">") or not lines[i].strip()):
                keep[i] = False
                i += 1
            continue
        if _SIGNED_OFF.match(line) or _SEPARATOR.match(line):
            keep[i] = False
        i += 1
    return "\n".join(line for line, kept in zip(lines, keep) if kept).strip()


def _paragraph_start(lines: list[str], i: int) -> int:
    """The footer's first line: the one that matched, or the dash line GitHub puts above it."""
    return i - 1 if i > 0 and lines[i - 1].strip() in _DASHES else i


def _drop_paragraph_from(lines: list[str], keep: list[bool], start: int) -> int:
    """Drop from ``start`` through the end of the footer's paragraph; the index after it."""
    j = start
    while j < len(lines) and (j == start or lines[j].strip()):
        keep[j] = False
        j += 1
    return j


def _footer_after(lines: list[str], i: int) -> int:
    """The index of the footer's first line after an Outlook ``From:`` line, or 0 when there is none."""
    for j in range(i + 1, len(lines)):
        if _FOOTER_START.search(lines[j]):
            return j
    return 0
