"""Finding keys and passwords: detect-secrets' plugins, run as a library on candidate lines (which findings
are redacted, and as what, is ``secret_filters``: the paper's post-filters).

Detection is detect-secrets 1.5's own code: the plugins the issue names (AWS, GitHub, Slack, Stripe, private
keys, JWT, Base64/hex high-entropy strings, and the keyword detector for passwords and named secrets) are
built once per process and their ``analyze_string`` is called on each candidate line (``prefilter``), with
detect-secrets' default filters applied as ``scan_file`` applies them. So ``detect_secrets_view`` of
``scan_lines`` is what ``SecretsCollection.scan_file`` reports for the same file, for these plugins (YAML files
and unknown types that parse as INI, which detect-secrets first rewrites with its transformers, excepted).
"""

from __future__ import annotations

import functools
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
PRIVATE_KEY_TYPE = PrivateKeyDetector.secret_type
# detect-secrets' keyword patterns want a value that starts with a word character (``(?=\w+)`` in their
# ``SECRET``), so ``DB_PASSWORD = "#kjcbhgQ%kxjVbbciV"`` is never reported. The same patterns with a value that
# starts with one of these symbols find such values; they are our finding type, left out of detect_secrets_view.
# Not ``$ { < / . ~ \ * - ( [ ^ ?``: variables, templates, paths, globs, flags and regexes start so.
SYMBOL_KEYWORD = "Secret Keyword (symbol first)"
_SYMBOL_SECRET = SECRET.replace(r"(?=\w+)", r"(?=[!#%&@+=:;|,])")


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
