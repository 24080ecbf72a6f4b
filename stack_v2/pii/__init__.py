"""PII redaction (docs/the-stack-v2.md §8.1): emails, IP addresses, keys, passwords, and optionally names.

``redact(text, seed_key=blob_id, path=path)`` is the whole of it; the build's ``pii`` stage calls it, and
so can a trainer who downloads raw blobs by manifest. Modules: ``prefilter`` (one RE2 pass that picks
candidate lines), ``patterns`` (emails, IPs), ``secrets`` (detect-secrets' plugins), ``secret_filters``
(the paper's post-filters), ``gibberish`` (the KEY test), ``detect`` (spans), ``redact`` (replacements),
``notebook`` (``.ipynb`` files: the text of their cells, written back as JSON), ``ner`` (names).
"""

from stack_v2.pii.detect import KINDS, Span, find_pii
from stack_v2.pii.redact import REDACTOR_VERSION, counts_json, redact

__all__ = ["KINDS", "REDACTOR_VERSION", "Span", "counts_json", "find_pii", "redact"]
