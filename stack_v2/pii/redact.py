"""The redaction itself: ``redact(text, seed_key=blob_id)``, the library function that the stage runs.

Replacements follow the paper (docs/the-stack-v2.md §8.1): ``<EMAIL>``, ``<KEY>``, ``<PASSWORD>``, ``<NAME>``; an IP
address becomes one of five synthetic private addresses of its family. The paper draws that address with ``random``;
here it is chosen by a hash of (seed_key, value), so the same value always gets the same address within a file, and
a trainer who fetches the raw blob named in the manifest and calls ``redact`` with the same ``seed_key`` (the blob
id) and ``path`` gets exactly the shard's content, on any machine, in any run.

IPv6 replacements: the paper's list mixes fd00::/8 and fc00::/8 addresses; we use fd00::/8 (locally assigned
unique local addresses) only: its three fd00::/8 addresses and its two fc00:: ones moved to fd00::.

A notebook (``path`` ending ``.ipynb``) is redacted in the text of its cells, outputs and metadata, then
written back as JSON (``notebook``); the same ``redact`` call reproduces it from the raw blob.
"""

from __future__ import annotations

import hashlib
import json

from stack_v2.pii.detect import NAME, NameDetector, find_pii
from stack_v2.pii.notebook import is_notebook_path, parse_notebook, redact_notebook
from stack_v2.pii.patterns import EMAIL, IP_ADDRESS, ip_version
from stack_v2.pii.secret_filters import KEY, PASSWORD

# Bump when a rule change alters what gets redacted: redaction is reproducible only within one version
# (with detect-secrets pinned, as the findings are its plugins'). 2: notebooks by cell, emails by domain,
# passwords that start with a symbol.
REDACTOR_VERSION = "2"

IPV4_REPLACEMENTS = ("172.16.31.10", "172.16.58.3", "172.16.17.32", "192.168.127.12", "192.168.3.11")
IPV6_REPLACEMENTS = (
    "fd00:c2b6:b24b:be67:2827:688d:e6a1:6a3b",
    "fd00:a516:7c1b:17cd:6d81:2137:bd2a:2c5b",
    "fd00:e968:6179::de52:7100",
    "fd00:db20:35b:7399::5",
    "fdf8:f53e:61e4::18",
)
PLACEHOLDERS = {EMAIL: "<EMAIL>", KEY: "<KEY>", PASSWORD: "<PASSWORD>", NAME: "<NAME>"}


def replacement(kind: str, value: str, seed_key: str) -> str:
    if kind != IP_ADDRESS:
        return PLACEHOLDERS[kind]
    choices = IPV6_REPLACEMENTS if ip_version(value) == 6 else IPV4_REPLACEMENTS
    digest = hashlib.blake2b(f"{seed_key}\0{value}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return choices[int.from_bytes(digest, "big") % len(choices)]


def redact(
    text: str, *, seed_key: str, path: str = "", name_detector: NameDetector | None = None
) -> tuple[str, dict[str, int]]:
    """``text`` with its PII replaced, and the number of replaced spans per type (empty when none).

    ``seed_key`` is the file's blob id (sha1); ``path`` its path in the repository (detect-secrets picks its
    keyword rules by extension and skips lock files; a ``.ipynb`` path redacts the notebook's cells, see
    ``notebook``); ``name_detector`` the optional NER plugin.
    """
    data = parse_notebook(text) if is_notebook_path(path) else None
    if data is not None:
        try:
            return redact_notebook(
                text,
                data,
                path=path,
                name_detector=name_detector,
                replace=lambda span: replacement(span.kind, span.value, seed_key),
            )
        except RecursionError:  # JSON nested deeper than the walk can follow: redacted as plain text below
            pass
    spans = find_pii(text, path=path, name_detector=name_detector)
    if not spans:
        return text, {}
    parts, counts, last = [], {}, 0
    for span in spans:
        parts.append(text[last : span.start])
        parts.append(replacement(span.kind, span.value, seed_key))
        counts[span.kind] = counts.get(span.kind, 0) + 1
        last = span.end
    parts.append(text[last:])
    return "".join(parts), counts


def counts_json(counts: dict[str, int]) -> str | None:
    """The manifest's compact form, e.g. '{"email":2,"ip_address":1}', or None when nothing was redacted."""
    return json.dumps(counts, separators=(",", ":"), sort_keys=True) if counts else None
