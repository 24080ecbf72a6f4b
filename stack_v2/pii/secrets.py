"""Keys and passwords: detect-secrets' plugins, run as a library on candidate lines, then the paper's post-filters.

Detection is detect-secrets 1.5's own code: the plugins the issue names (AWS, GitHub, Slack, Stripe, private
keys, JWT, Base64/hex high-entropy strings, and the keyword detector for passwords and named secrets) are
built once per process and their ``analyze_string`` is called on each candidate line (``prefilter``), with
detect-secrets' default filters applied as ``scan_file`` applies them. So ``detect_secrets_view`` of
``scan_lines`` is what ``SecretsCollection.scan_file`` reports for the same file, for these plugins (YAML files
and unknown types that parse as INI, which detect-secrets first rewrites with its transformers, excepted).

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

import functools
import itertools
import math
import re
from typing import NamedTuple

from detect_secrets.filters.allowlist import is_line_allowlisted
from detect_secrets.filters.heuristic import (
    is_indirect_reference,
    is_likely_id_string,
    is_lock_file,
    is_non_text_file,
    is_not_alphanumeric_string,
    is_potential_uuid,
    is_prefixed_with_dollar_sign,
    is_sequential_string,
    is_swagger_file,
    is_templated_secret,
)
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.high_entropy_strings import (
    Base64HighEntropyString,
    HexHighEntropyString,
    HighEntropyStringsPlugin,
)
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.keyword import (
    DENYLIST_REGEX,
    QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
    REGEX_BY_FILETYPE,
    SECRET,
    KeywordDetector,
)
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.util.code_snippet import CodeSnippet
from detect_secrets.util.filetype import determine_file_type

from stack_v2.pii.gibberish import is_gibberish

KEY = "key"
PASSWORD = "password"

# Built once per process: no per-file setup (detect-secrets' defaults: limits 4.5 and 3.0).
PLUGINS: tuple[BasePlugin, ...] = (
    AWSKeyDetector(),
    GitHubTokenDetector(),
    SlackDetector(),
    StripeDetector(),
    PrivateKeyDetector(),
    JwtTokenDetector(),
    Base64HighEntropyString(),
    HexHighEntropyString(),
    KeywordDetector(),
)
SECRET_TYPES = frozenset(plugin.secret_type for plugin in PLUGINS)
_FORMATTED = frozenset(
    p.secret_type
    for p in PLUGINS
    if isinstance(p, (AWSKeyDetector, GitHubTokenDetector, SlackDetector, StripeDetector, JwtTokenDetector))
)
PRIVATE_KEY_TYPE = _PRIVATE_KEY = PrivateKeyDetector.secret_type
_KEYWORD = KeywordDetector.secret_type
# detect-secrets' keyword patterns want a value that starts with a word character (``(?=\w+)`` in their
# ``SECRET``), so ``DB_PASSWORD = "#kjcbhgQ%kxjVbbciV"`` is never reported. The same patterns with a value that
# starts with one of these symbols find such values; they are our finding type, left out of detect_secrets_view.
# Not ``$ { < / . ~ \ * - ( [ ^ ?``: variables, templates, paths, globs, flags and regexes start so.
SYMBOL_KEYWORD = "Secret Keyword (symbol first)"
_SYMBOL_SECRET = SECRET.replace(r"(?=\w+)", r"(?=[!#%&@+=:;|,])")
_SYMBOL_IGNORED = re.compile(r"#[0-9A-Fa-f]{3,8}|.*(?:[#%@]\{|%\().*")  # a CSS colour, an interpolation


class RawFinding(NamedTuple):
    """One plugin finding on one line, after detect-secrets' default filters but ``is_indirect_reference``."""

    secret_type: str  # detect-secrets' name, e.g. "AWS Access Key"
    value: str
    line_start: int  # offset of the line in the text
    line: str  # the line without trailing whitespace, as detect-secrets scans it
    indirect: bool  # is_indirect_reference(line): detect-secrets drops the whole line


@functools.lru_cache(maxsize=256)
def _keyword_regexes(path: str):
    return REGEX_BY_FILETYPE.get(determine_file_type(path), QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP)


@functools.lru_cache(maxsize=64)
def _symbol_regexes(path: str):
    """The keyword patterns for ``path`` with a value that starts with a symbol (``SYMBOL_KEYWORD``)."""
    return {
        re.compile(regex.pattern.replace(SECRET, _SYMBOL_SECRET), regex.flags): group
        for regex, group in _keyword_regexes(path).items()
        if SECRET in regex.pattern
    }


def skips_file(path: str) -> bool:
    """detect-secrets' file filters: lock files, swagger files, binary extensions."""
    return bool(path) and (is_lock_file(path) or is_swagger_file(path) or is_non_text_file(path))


def shannon_entropy(plugin: HighEntropyStringsPlugin, data: str) -> float:
    """``plugin.calculate_shannon_entropy(data)`` with the same float operations in the same order, visiting
    only the characters present (the plugin loops over its whole charset, calling ``count`` for each)."""
    if type(plugin).calculate_shannon_entropy is not HighEntropyStringsPlugin.calculate_shannon_entropy:
        return plugin.calculate_shannon_entropy(data)  # the hex plugin adjusts for numbers: use its own
    if not data:
        return 0
    order = _CHARSET_ORDER.get(plugin.charset) or _CHARSET_ORDER.setdefault(
        plugin.charset, {ch: i for i, ch in enumerate(plugin.charset)}
    )
    entropy = 0.0
    for x in sorted((ch for ch in set(data) if ch in order), key=order.__getitem__):
        p_x = float(data.count(x)) / len(data)
        entropy += -p_x * math.log(p_x, 2)  # noqa: FURB163 (log2 may differ in the last bit)
    return entropy


_CHARSET_ORDER: dict[str, dict[str, int]] = {}


def _values(plugin: BasePlugin, line: str, keyword_regexes) -> set[str]:
    if isinstance(plugin, KeywordDetector):
        return set(plugin.analyze_string(line, denylist_regex_to_group=keyword_regexes))
    values = set(plugin.analyze_string(line))
    if isinstance(plugin, HighEntropyStringsPlugin):  # analyze_line's limit, as in a file scan
        values = {v for v in values if shannon_entropy(plugin, v) > plugin.entropy_limit}
    return values


def _filtered(value: str, line: str, plugin: BasePlugin) -> bool:
    """detect-secrets' default per-secret filters."""
    return (
        is_sequential_string(value)
        or is_potential_uuid(value)
        or is_templated_secret(value)
        or is_prefixed_with_dollar_sign(value)
        or is_not_alphanumeric_string(value)
        or is_likely_id_string(value, line, plugin)
    )


# Per-plugin gates: a plugin can only match a line that holds its anchor, so the others are not run on it.
# Python regexes, as the plugins' own (same case folding); each is implied by the plugin's pattern.
_ENTROPY_RUN = r"['\"](?:[0-9A-Fa-f]{9,}|[A-Za-z0-9+/=_\\-]{23,})['\"]"
_GATES = {
    AWSKeyDetector.secret_type: re.compile(r"A3T|ABIA|ACCA|AKIA|ASIA|(?i:aws)"),
    GitHubTokenDetector.secret_type: re.compile(r"gh[pousr]_"),
    SlackDetector.secret_type: re.compile(r"xox|hooks\.slack\.com", re.IGNORECASE),
    StripeDetector.secret_type: re.compile(r"k_live_"),
    PrivateKeyDetector.secret_type: re.compile(r"PRIVATE KEY|PuTTY-User-Key-File-2"),
    JwtTokenDetector.secret_type: re.compile(r"eyJ"),
    Base64HighEntropyString.secret_type: re.compile(_ENTROPY_RUN),
    HexHighEntropyString.secret_type: re.compile(_ENTROPY_RUN),
    KeywordDetector.secret_type: re.compile(DENYLIST_REGEX, re.IGNORECASE),
}


def scan_lines(text: str, lines, path: str = "") -> list[RawFinding]:
    """The plugins' findings on ``lines``, (start, end) offsets of lines of ``text`` (``prefilter``'s)."""
    if skips_file(path):
        return []
    keyword_regexes = _keyword_regexes(path)
    found = []
    for candidate in lines:
        start, end = candidate[0], candidate[1]
        line = text[start:end].rstrip()
        previous_start = text.rfind("\n", 0, max(start - 1, 0)) + 1 if start else start
        previous = text[previous_start:start].rstrip("\r\n") + "\n" if start else ""
        if "pragma" in line or "pragma" in previous:  # every allowlist comment says "pragma"
            context = CodeSnippet([previous, line], start_line=0, target_index=1 if start else 0)
            if is_line_allowlisted(path, line, context):
                continue
        indirect = None
        for plugin in PLUGINS:
            if not _GATES[plugin.secret_type].search(line):
                continue
            values = [(plugin.secret_type, v) for v in _values(plugin, line, keyword_regexes)]
            if isinstance(plugin, KeywordDetector):
                values += [(SYMBOL_KEYWORD, v) for v in plugin.analyze_string(line, _symbol_regexes(path))]
            for secret_type, value in values:
                if not _filtered(value, line, plugin):
                    if indirect is None:
                        indirect = is_indirect_reference(line)
                    found.append(RawFinding(secret_type, value, start, line, indirect))
    return found


def detect_secrets_view(findings: list[RawFinding]) -> set[tuple[str, str]]:
    """(type, value) pairs as ``SecretsCollection.scan_file`` would report them."""
    return {(f.secret_type, f.value) for f in findings if not f.indirect and f.secret_type != SYMBOL_KEYWORD}


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
