"""Which of detect-secrets' findings are redacted, and as what (``key`` or ``password``): the paper's
post-filters and ours, on the findings of ``secrets.scan_lines``, and the span of a private key's material.

What is redacted (``accept``) follows the paper (docs/the-stack-v2.md §8.1) and avoids eating code:
- every span longer than 3 characters; a KEY also longer than 8 characters and gibberish (``gibberish``);
  format-checked tokens (AWS key ids and secret keys, GitHub, Slack, Stripe, JWT) skip the gibberish test,
  because their random body already follows a known shape; private keys are redacted as whole blocks;
- a high-entropy string only as the value of an assignment (``=``, ``:``, ``=>``, ``:=``, ``<-``) and not on a
  line about hashes (``sha``, ``md5``, ``hash``, ``digest``, ``checksum``, ``integrity``, ...); an all-hex one
  only when the assigned name says it is secret (``key``, ``token``, ``secret``, ...), since unnamed hex
  strings in code are hashes, ids and test vectors far more often than credentials;
- detect-secrets' ``is_indirect_reference`` (``x = f(...)``) drops only keyword and entropy findings whose
  value is not a quoted literal: a token or ``passwd="..."`` inside a call is still a secret;
- no placeholders: values containing ``example``, ``sample``, ``dummy``, ``placeholder``, ``your_``, ``xxxx``,
  ``***``, ``...``, with fewer than 6 distinct characters, alphabets and keyboard rows (``ABC...XYZ234567``),
  resource paths (``projects/123/global/networks/vpc``); AWS's documented ``AKIAIOSFODNN7EXAMPLE`` and
  jwt.io's sample token stay; nor values assigned to a ``public`` name (``publicKeyToken``);
- keyword values that start with a symbol (``DB_PASSWORD = "#kjcbhgQ%kxjVbbciV"``), which detect-secrets'
  patterns cannot match, are found by the same patterns allowing ``! # % & @ + = : ; | ,`` first
  (``SYMBOL_KEYWORD``), then judged like the keyword detector's; CSS colours and interpolations are not;
- a PASSWORD (keyword detector on ``password``, ``passwd``, ``pwd``, ``*_pass``, ``contraseña``) has no
  whitespace, is not a common placeholder or well-known default (``password``, ``admin``, ``test``,
  ``postgres``, ...), an environment-variable name, or a word-like value naming a credential
  (``password_confirm``, ``SECRET_KEY``). Test passwords that look real (``"doesnotexist"``) are redacted:
  nothing in the text tells them from real ones.
"""

from __future__ import annotations

import itertools
import re

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.high_entropy_strings import HexHighEntropyString
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.keyword import DENYLIST_REGEX, KeywordDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.stripe import StripeDetector

from stack_v2.pii.gibberish import is_gibberish
from stack_v2.pii.secrets import PLUGINS, PRIVATE_KEY_TYPE, SYMBOL_KEYWORD, RawFinding

KEY = "key"
PASSWORD = "password"
_FORMATTED = frozenset(
    p.secret_type
    for p in PLUGINS
    if isinstance(p, (AWSKeyDetector, GitHubTokenDetector, SlackDetector, StripeDetector, JwtTokenDetector))
)
_PRIVATE_KEY = PRIVATE_KEY_TYPE
_KEYWORD = KeywordDetector.secret_type
_SYMBOL_IGNORED = re.compile(r"#[0-9A-Fa-f]{3,8}|.*(?:[#%@]\{|%\().*")  # a CSS colour, an interpolation

# --- the paper's post-filters, and ours ---

_PLACEHOLDER = re.compile(r"example|sample|dummy|placeholder|your[_-]|xxxx|\*\*\*|\.\.\.", re.IGNORECASE)
_HASH_LINE = re.compile(
    r"sha\d|sha[-_]?\b|md5|hash|digest|checksum|integrity|fingerprint|etag|crc32|commit", re.IGNORECASE
)
_ASSIGNED = re.compile(r"(?:(?<![=!<>])=|:|=>|:=|<-)\s*(?:[@rRbBuUfF]{1,2})?\(?\s*$")
_ASSIGNED_NAME = re.compile(r"([\w.\-]+)['\"\]]*\s*(?:\[[^\]]*\]\s*)?(?:(?<![=!<>])=|:|=>|:=|<-)\s*[^=]*$")
_SECRET_NAME = re.compile(r"key|token|secret|passw|pwd|auth|cred|api|private|session|cookie|access", re.IGNORECASE)
_PASSWORD_KEYWORD = re.compile(r"pass|pwd|contrase", re.IGNORECASE)
_CREDENTIAL_WORD = re.compile(r"pass|pwd|secret|token|key|auth|cred", re.IGNORECASE)
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_SEGMENTS = re.compile(r"[^-_.:/ ]{12,}")
PLACEHOLDER_PASSWORDS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "secret",
        "admin",
        "root",
        "test",
        "testing",
        "guest",
        "default",
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "empty",
        "blank",
        "required",
        "optional",
        "string",
        "text",
        "value",
        "hidden",
        "foo",
        "bar",
        "foobar",
        "changeme",
        "changeit",
        "letmein",
        "mysecret",
        "mypassword",
        "pass123",
        "password1",
        "password123",
        "1234",
        "12345",
        "123456",
        "qwerty",
        "user",
        "username",
        # well-known defaults of databases, brokers and tutorials
        "postgres",
        "mysql",
        "mariadb",
        "oracle",
        "redis",
        "rabbitmq",
        "sa",
        "admin123",
        "admin1234",
        "root123",
        "test123",
        "secret123",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "pa55word",
        "s3cr3t",
        "tiger",
        "scott",
    }
)


_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _alphabet_like(value: str) -> bool:
    """An alphabet or a keyboard row ("ABC...XYZ234567", "fedcba9876543210", "QWERTY..."): half or more of its
    steps go to the next or previous code point, or it holds six keys of one keyboard row in order."""
    steps = sum(1 for a, b in itertools.pairwise(value) if abs(ord(b) - ord(a)) == 1)
    lowered = value.lower()
    rows = any(row[i : i + 6] in lowered for row in _KEYBOARD_ROWS for i in range(len(row) - 5))
    return steps * 2 >= len(value) - 1 or rows


def _path_like(value: str) -> bool:
    """A resource path ("projects/8441/global/networks/test-vpc"): two or more of its '/' segments are words."""
    words = [part for part in value.split("/") if len(part) >= 3 and part.isalpha() and not is_gibberish(part)]
    return len(words) >= 2


def is_placeholder(value: str) -> bool:
    return len(set(value)) < 6 or bool(_PLACEHOLDER.search(value)) or _alphabet_like(value) or _path_like(value)


def _key_like(value: str) -> bool:
    """The paper's KEY rule: longer than 8 characters and gibberish (judged whole, or on a long segment)."""
    if len(value) <= 8:
        return False
    return is_gibberish(value) or any(is_gibberish(s) for s in _SEGMENTS.findall(value) if not s.isdigit())


def _quoted_assignment(line: str, value: str) -> tuple[bool, str]:
    """Is a quoted occurrence of ``value`` on ``line`` an assigned value; and the assigned name, if any."""
    at = line.find(value)
    while at > 0:
        end = at + len(value)
        if line[at - 1] in "'\"`" and line[end : end + 1] in ("'", '"', "`"):
            before = line[max(0, at - 201) : at - 1]  # bounded: minified lines are long
            if _ASSIGNED.search(before):
                name = _ASSIGNED_NAME.search(before)
                return True, name.group(1) if name else ""
        at = line.find(value, at + 1)
    return False, ""


def _quoted(line: str, value: str) -> bool:
    return any(f"{q}{value}{q}" in line for q in "'\"`")


def _keyword_kind(line: str, value: str) -> str:
    """PASSWORD when the nearest denylisted keyword before the value names a password, else KEY."""
    at = line.find(value)
    before = (line[:at] if at >= 0 else line)[-200:]
    keywords = re.findall(DENYLIST_REGEX, before, flags=re.IGNORECASE)
    keyword = keywords[-1] if keywords else ""
    return PASSWORD if _PASSWORD_KEYWORD.search(keyword) else KEY


def _password_ok(value: str) -> bool:
    if len(value) <= 3 or any(ch.isspace() for ch in value) or value.lower() in PLACEHOLDER_PASSWORDS:
        return False
    if _ENV_NAME.fullmatch(value) or is_placeholder(value):
        return False
    return not (_CREDENTIAL_WORD.search(value) and not is_gibberish(value))


# jwt.io's default token (secret "your-256-bit-secret"), pasted into countless docs and tests.
_JWT_IO_EXAMPLE = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
)
_JWT_TAIL = r"[A-Za-z0-9_\-.+/=]*"


def full_values(finding: RawFinding) -> list[str]:
    """The values to redact for a finding. Two plugins report less than the secret: JwtTokenDetector's lazy
    pattern stops before the signature, and GitHubTokenDetector's capturing group makes ``findall`` report
    only the prefix ("ghp") of each token."""
    if finding.secret_type == JwtTokenDetector.secret_type:
        match = re.search(re.escape(finding.value) + _JWT_TAIL, finding.line)
        return [match.group(0) if match else finding.value]
    if finding.secret_type == GitHubTokenDetector.secret_type:
        return [m.group(0) for regex in GitHubTokenDetector.denylist for m in regex.finditer(finding.line)]
    return [finding.value]


def accept(finding: RawFinding) -> str | None:
    """The PII type to redact this finding as (``key`` or ``password``), or None to keep it."""
    value, kind = finding.value, finding.secret_type
    if kind == _PRIVATE_KEY:
        return KEY  # the block is found and checked by ``private_key_span``
    if kind == GitHubTokenDetector.secret_type:  # the value is the prefix: judge the tokens
        return KEY if any(not is_placeholder(v) for v in full_values(finding)) else None
    if len(value) <= 3:
        return None
    if kind in _FORMATTED:
        if value.startswith(_JWT_IO_EXAMPLE):
            return None
        return KEY if len(value) > 8 and not is_placeholder(value) else None
    if finding.indirect and not _quoted(finding.line, value):  # "x = f(...)"; a quoted literal is still one
        return None
    if kind == SYMBOL_KEYWORD and _SYMBOL_IGNORED.fullmatch(value):
        return None
    if kind in (_KEYWORD, SYMBOL_KEYWORD):
        if _keyword_kind(finding.line, value) == PASSWORD:
            return PASSWORD if _password_ok(value) else None
        return KEY if _key_like(value) and not is_placeholder(value) and not _ENV_NAME.fullmatch(value) else None
    # high-entropy strings
    assigned, name = _quoted_assignment(finding.line, value)
    if not assigned or _HASH_LINE.search(finding.line) or is_placeholder(value):
        return None
    if "public" in name.lower():  # publicKeyToken, PUBLIC_KEY: published by design
        return None
    if kind == HexHighEntropyString.secret_type and not _SECRET_NAME.search(name):
        return None
    return KEY if _key_like(value) else None


# --- private key blocks ---

_BLOCK = re.compile(
    r"-{4,5} ?BEGIN (?P<kind>[A-Z0-9 ]*?)PRIVATE KEY(?P<block>(?: BLOCK)?) ?-{4,5}"
    r"(?P<body>.*?)-{4,5} ?END (?P=kind)PRIVATE KEY(?P=block) ?-{4,5}",
    re.DOTALL,
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]{16,}")
_MAX_BLOCK = 64 * 1024  # PEM keys are a few KB; bounds the search on a header without a footer


def private_key_span(text: str, line_start: int) -> tuple[int, int] | None:
    """The key material of the private key whose header is on the line at ``line_start``: from its first to
    its last base64 run (the header, footer and string syntax around them stay), or None if there is none."""
    window_end = min(len(text), line_start + _MAX_BLOCK)
    match = _BLOCK.search(text, line_start, window_end)
    if match and text.rfind("\n", 0, match.start()) + 1 == line_start:
        lo, hi = match.span("body")
    else:  # no footer (truncated, or PuTTY): the base64 runs up to the first blank line
        lo = text.find("\n", line_start)
        if lo < 0:
            return None
        blank = text.find("\n\n", lo, window_end)
        hi = blank if blank >= 0 else window_end
    runs = list(_BASE64_RUN.finditer(text, lo, hi))
    if not runs:
        return None
    start = runs[0].start()
    if text[start] == "n" and text[start - 1] == "\\":  # a key in a string literal: keep the "\n" escape
        start += 1
    return start, runs[-1].end()
