"""The ``tokens`` section of report.json (``stack_v2.tokens.summary`` makes it) as markdown for a card: the
total, tables by language and by source (most tokens first), the tokenizer; between markers, so that
``stack-v2 tokens`` can replace it in any stack-v2 card (a code build's, a document dataset's, an export's)."""

from __future__ import annotations

from stack_v2 import storage
from stack_v2.io.markdown import md_code

SECTION = "tokens"  # the key in report.json


def card_lines(section: dict, *, heading: str = "## Tokens") -> list[str]:
    """Markdown for a card: the total, a table by language (most tokens first), one by source, the tokenizer."""
    total = int(section.get("total", 0))
    tok = section.get("tokenizer") or {}
    lines = ["", heading, "", f"{total:,} tokens in all" + (f", counted with {md_code(tok['path'])}." if tok else ".")]
    by_language = _sorted_by_count(section.get("by_language") or {})
    if by_language:
        lines += ["", "| language | tokens | % |", "|---|---:|---:|"]
        lines += [f"| {md_code(k)} | {n:,} | {_pct(n, total)} |" for k, n in by_language.items()]
    by_source = _sorted_by_count(section.get("by_source") or {})
    if by_source:
        lines += ["", "| source | tokens | % |", "|---|---:|---:|"]
        lines += [f"| {md_code(k)} | {n:,} | {_pct(n, total)} |" for k, n in by_source.items()]
    if tok:
        lines += [
            "",
            f"Tokenizer: {md_code(tok['path'])}, sha256 {md_code(tok.get('sha256', ''))}, "
            f"{int(tok.get('vocab_size', 0)):,} ids; counts exclude special tokens the tokenizer would add.",
        ]
    return lines


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.2f}" if total else "0.00"


def _sorted_by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# The token counts section (`stack-v2 tokens` rewrites what lies between the markers).
TOKENS_BEGIN = "<!-- stack-v2:tokens (rewritten by `stack-v2 tokens`) -->"
TOKENS_END = "<!-- /stack-v2:tokens -->"


def tokens_section(report: dict) -> list[str]:
    """The card's token counts (report.json's ``tokens``, see ``stack_v2.tokens.summary``), between markers;
    nothing when the report has none."""
    section = report.get(SECTION)
    return ["", TOKENS_BEGIN, *card_lines(section)[1:], TOKENS_END] if section else []


def embed_tokens(path: str, section: dict) -> None:
    """Put the token counts into any stack-v2 card at ``path`` (code, documents, export): in place of the
    previous ones, else before `## Tool versions` (or the configuration, or the end)."""
    text = storage.read_text(path)
    block = "\n".join(tokens_section({SECTION: section})[1:])
    head = text.find("\n## Configuration\n")  # the recipe's text shown there may hold the markers too
    head = len(text) if head < 0 else head
    start, end = text.find(TOKENS_BEGIN, 0, head), text.find(TOKENS_END, 0, head)
    if start >= 0 and end > start:
        text = text[:start] + block + text[end + len(TOKENS_END) :]
    else:
        at = text.find("\n## Tool versions\n", 0, head)
        at = head if at < 0 else at
        text = text[:at].rstrip("\n") + "\n\n" + block + "\n" + text[at:]
    storage.write_text(path, text)
