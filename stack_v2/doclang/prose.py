"""The prose of a documentation file: its natural-language text without code, markup or links.

Code would vote for English (keywords, identifiers, English comments) in a French README, so code
blocks, inline code, literal blocks and the like are removed per markup language. The scanners are
line based and forgiving: documentation in the wild is often malformed, and an unclosed code fence
runs to the end of the file, as CommonMark renders it. Markup punctuation and whitespace are left
for ``detect.model_line`` to normalise.

Every pattern runs in linear time on any input (character classes stop at the next delimiter, or
are bounded; pairs are matched by scanning): a file of a million unmatched backticks or brackets
must not stall a worker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from stack_v2.doclang.html_text import visible_text

# go-enry language -> markup. Jupyter notebooks' markdown cells come as "Markdown" text.
_MARKDOWN, _RST, _HTML, _ASCIIDOC, _RDOC, _ORG, _TEXT = "md", "rst", "html", "adoc", "rdoc", "org", "text"
MARKUP = {
    "Markdown": _MARKDOWN,
    "RMarkdown": _MARKDOWN,
    "reStructuredText": _RST,
    "HTML": _HTML,
    "AsciiDoc": _ASCIIDOC,
    "RDoc": _RDOC,
    "Org": _ORG,
    "Text": _TEXT,
}
DOC_LANGUAGES = frozenset(MARKUP)

_INDENTED = re.compile(r"^(?: {4}|\t)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s")


def prose(content: str, language: str) -> str:
    """The natural-language text of ``content``, a file of go-enry ``language`` (one of DOC_LANGUAGES)."""
    return _EXTRACTORS[MARKUP[language]](content)


def _indented_code(lines: list[str], indented: re.Pattern = _INDENTED) -> Iterator[str]:
    """Lines without indented code blocks: an indented run after a blank line, outside a list."""
    previous_blank, in_list, in_code = True, False, False
    for line in lines:
        if not line.strip():
            previous_blank = True
            continue
        if indented.match(line) and (in_code or (previous_blank and not in_list)):
            in_code, previous_blank = True, False
            continue
        in_code = False
        if _LIST_ITEM.match(line):
            in_list = True
        elif not line[:1].isspace():
            in_list = False  # a paragraph at the margin ends the list
        previous_blank = False
        yield line


def _without_spans(text: str, tokens: re.Pattern, key: Callable[[re.Match], tuple]) -> str:
    """``text`` without each span from an opening token to the next closing token of the same kind.

    ``key(token)`` is (kind, closes): closes True or False for tags, None for a token that closes a
    pending one of its kind or else opens (backtick runs). One pass over the tokens; an opener that
    is never closed is left as it is, and does not hide later spans.
    """
    pending, spans = {}, []
    for token in tokens.finditer(text):
        kind, closes = key(token)
        if kind in pending and closes is not False:
            spans.append((pending.pop(kind), token.end()))
        elif closes is not True:
            pending.setdefault(kind, token.start())
    if not spans:
        return text
    out, kept_from = [], 0
    for start, end in sorted(spans):  # nested spans: the outer one wins
        if end > kept_from:
            out.append(text[kept_from : max(start, kept_from)])
            out.append(" ")
            kept_from = end
    out.append(text[kept_from:])
    return "".join(out)


def _tag_key(tag: re.Match) -> tuple:
    return tag.group(2).lower(), tag.group(1) == "/"


# ---- Markdown (CommonMark and GitHub's flavour) ----

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n(?:---|\.\.\.)\s*(?:\n|\Z)", re.DOTALL)
_MD_BACKTICKS = re.compile(r"`+")  # a code span runs to the next run of as many backticks, in its line
_MD_IMAGE = re.compile(r"!\[[^\[\]\n]*\](?:\([^()\n]*\)|\[[^\[\]\n]*\])")
_MD_LINK = re.compile(r"\[([^\[\]\n]*)\](?:\([^()\n]*\)|\[[^\[\]\n]*\])")
_MD_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*\S.*$", re.MULTILINE)
_HTML_CODE = re.compile(r"<(/?)(pre|code|script|style|kbd|samp)\b[^<>]*>", re.IGNORECASE)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")


def _run_key(run: re.Match) -> tuple:
    return len(run.group()), None


def _unfenced(lines: list[str]) -> Iterator[str]:
    fence = None
    for line in lines:
        if fence is None:
            match = _FENCE.match(line)
            if match:
                fence = match.group(1)
                continue
            yield line
        elif line.strip().startswith(fence) and not line.strip().lstrip(fence[0]):
            fence = None  # a closing fence: the same character, at least as long, nothing after


def _markdown(text: str) -> str:
    text = _FRONT_MATTER.sub("", text)
    text = "\n".join(_indented_code(list(_unfenced(text.splitlines()))))
    text = _HTML_COMMENT.sub(" ", text)
    text = _without_spans(text, _HTML_CODE, _tag_key)
    text = "\n".join(
        _without_spans(line, _MD_BACKTICKS, _run_key) if "`" in line else line for line in text.split("\n")
    )
    text = _MD_IMAGE.sub(" ", text)  # mostly badges and screenshots
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_LINK_DEFINITION.sub(" ", text)
    return _HTML_TAG.sub(" ", text)


# ---- reStructuredText ----

_RST_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+(?:\|[^|]+\|\s+)?([\w:+-]+)::(.*)$")
_RST_EXPLICIT = re.compile(r"^(\s*)\.\.(?:\s|$)")
_RST_FOOTNOTE = re.compile(r"^(\s*)\.\.\s+\[[^\]]+\]\s+(.*)$")
_RST_OPTION = re.compile(r"^\s*:[\w -]+:")
# Directives whose body is prose; every other directive's body (code, tables of contents, autodoc, math,
# images, raw HTML, includes) is left out with it.
_RST_PROSE_DIRECTIVES = frozenset(
    [
        "admonition",
        "attention",
        "caution",
        "danger",
        "error",
        "hint",
        "important",
        "note",
        "tip",
        "warning",
        "seealso",
        "topic",
        "sidebar",
        "rubric",
        "epigraph",
        "highlights",
        "pull-quote",
        "compound",
        "container",
        "versionadded",
        "versionchanged",
        "deprecated",
        "only",
        "glossary",
        "centered",
        "hlist",
        "tab",
        "tabs",
    ]
)
_RST_LITERAL = re.compile(r"``.+?``")  # within a line: a stray ``, rare, stays local
_RST_ROLE = re.compile(r":[\w+-]{1,40}(?::[\w+-]{1,40})?:`[^`]*`|`[^`]*`:[\w+-]{1,40}(?::[\w+-]{1,40})?:")
_RST_LINK = re.compile(r"`([^`<]*?)\s*<[^`>]*>`__?")
_RST_REFERENCE = re.compile(r"`([^`]+)`__?|\|[^|\n]+\|_{0,2}")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _rst_blocks(lines: list[str]) -> Iterator[str]:
    """Lines without literal blocks (after ``::``), doctests, comments and non-prose directive bodies."""
    skip_deeper_than = None  # the indentation of the line whose indented body is left out
    options_of = None  # a kept directive's options follow it
    literal_of = None  # the indentation of a paragraph that ended with "::"
    in_doctest = False
    for line in lines:
        if not line.strip():
            in_doctest = False  # a doctest block ends at a blank line; a body does not
            yield line
            continue
        indent = _indent(line)
        if skip_deeper_than is not None:
            if indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        if in_doctest:
            continue
        if options_of is not None and indent > options_of and _RST_OPTION.match(line):
            continue
        options_of = None
        if literal_of is not None and indent > literal_of:
            skip_deeper_than, literal_of = literal_of, None
            continue
        literal_of = None
        directive = _RST_DIRECTIVE.match(line)
        if directive:
            if directive.group(2).lower() in _RST_PROSE_DIRECTIVES:
                options_of = indent
                yield directive.group(1) + directive.group(3)  # an admonition's title is prose
            else:
                skip_deeper_than = indent
            continue
        footnote = _RST_FOOTNOTE.match(line)
        if footnote:
            yield footnote.group(1) + footnote.group(2)
            continue
        if _RST_EXPLICIT.match(line):  # comments, hyperlink targets
            skip_deeper_than = indent
            continue
        if line.lstrip().startswith(">>>"):
            in_doctest = True
            continue
        if line.rstrip().endswith("::"):
            literal_of = indent
            line = line.rstrip()[:-1]  # "Example::" reads "Example:"
        yield line


def _rst(text: str) -> str:
    text = "\n".join(_rst_blocks(text.splitlines()))
    text = _RST_LITERAL.sub(" ", text)
    text = _RST_ROLE.sub(" ", text)
    text = _RST_LINK.sub(r"\1", text)
    return _RST_REFERENCE.sub(lambda m: m.group(1) or " ", text)


# ---- AsciiDoc ----

_ADOC_DELIMITER = re.compile(r"^(-{4,}|\.{4,}|/{4,}|\+{4,}|={4,}|\*{4,}|_{4,}|```)\s*$")
_ADOC_HIDDEN_BLOCKS = ("-", ".", "/", "+", "`")  # listing, literal, comment, passthrough, fenced code
_ADOC_LINE = re.compile(r"^(?://(?!/).*|:!?[\w-]+!?:.*|\[.*\]|[\w-]+::\S*\[.*\])$")  # comment, attribute, macro
_ADOC_MONOSPACE = re.compile(r"`[^`\n]+`|\+\+[^+\n]+\+\+|\+[^+\s][^+\n]*\+")
_ADOC_LINK = re.compile(
    r"\b(?:https?|ftp|mailto|link|xref|image|footnote|kbd|btn|menu):?[^\s\[\]]{0,500}\[([^\[\]\n]*)\]"
)


def _underlines(previous: str, delimiter: str) -> bool:
    """A two-line section title ("Title" over "-----" of about its length), not a block delimiter."""
    title = previous.strip()
    return bool(title) and not _ADOC_LINE.match(title) and abs(len(title) - len(delimiter)) <= 2


def _asciidoc(text: str) -> str:
    out, closing, previous = [], None, ""
    for line in text.splitlines():
        if closing is not None:
            if line.rstrip() == closing:
                closing = None
            continue
        delimiter = _ADOC_DELIMITER.match(line)
        if delimiter and not _underlines(previous, delimiter.group(1)):
            if delimiter.group(1)[0] in _ADOC_HIDDEN_BLOCKS:
                closing = delimiter.group(1)
            previous = ""
            continue  # the delimiters of example, sidebar and quote blocks; their content is prose
        previous = line
        if _ADOC_LINE.match(line.strip()) or (line[:1] == " " and line.strip()):  # indented: a literal paragraph
            continue
        out.append(line)
    text = _ADOC_MONOSPACE.sub(" ", "\n".join(out))
    return _ADOC_LINK.sub(r"\1", text)


# ---- RDoc ----

_RDOC_VERBATIM = re.compile(r"^\s")
_RDOC_TAG = re.compile(r"<(/?)(tt|code)>", re.IGNORECASE)
_RDOC_CODE = re.compile(r"\+[\w.:#$@!?-]+\+")
_RDOC_LINK = re.compile(r"\{([^{}\n]*)\}\[[^\[\]\n]*\]|\b(\w+)\[(?:https?|mailto|ftp|link):[^\[\]\n]*\]")
_RDOC_DIRECTIVE = re.compile(r"^\s*:[\w-]+:.*$|^#--.*?^#\+\+", re.MULTILINE | re.DOTALL)


def _rdoc(text: str) -> str:
    text = _RDOC_DIRECTIVE.sub(" ", text)
    # Verbatim text is indented past the paragraph's margin (often by two spaces), as Markdown's code by four.
    text = "\n".join(_indented_code(text.splitlines(), _RDOC_VERBATIM))
    text = _RDOC_CODE.sub(" ", _without_spans(text, _RDOC_TAG, _tag_key))
    return _RDOC_LINK.sub(lambda m: m.group(1) or m.group(2), text)


# ---- Org ----

_ORG_BEGIN = re.compile(r"^\s*#\+begin_(\w+)", re.IGNORECASE)
_ORG_HIDDEN_BLOCKS = frozenset({"src", "example", "export", "comment", "latex", "html"})
_ORG_LINE = re.compile(r"^\s*(?:#\+\w+:.*|#\+end_\w+|# .*|#$|:.*|:\w+:.*)$", re.IGNORECASE)
_ORG_CODE = re.compile(r"(?<!\w)([~=])[^\s~=](?:[^\n]{0,200}?[^\s])?\1(?!\w)")  # Org: at most a few lines
_ORG_LINK = re.compile(r"\[\[[^\[\]\n]*\](?:\[([^\[\]\n]*)\])?\]")


def _org(text: str) -> str:
    out, closing = [], None
    for line in text.splitlines():
        if closing is not None:
            if line.strip().lower() == closing:
                closing = None
            continue
        begin = _ORG_BEGIN.match(line)
        if begin:
            if begin.group(1).lower() in _ORG_HIDDEN_BLOCKS:
                closing = f"#+end_{begin.group(1).lower()}"
            continue
        if _ORG_LINE.match(line):  # keywords, comments, fixed-width lines, drawers
            continue
        out.append(line)
    text = _ORG_CODE.sub(" ", "\n".join(out))
    return _ORG_LINK.sub(lambda m: m.group(1) or " ", text)


def _html(text: str) -> str:
    return visible_text(text, hidden=("pre", "code", "kbd", "samp"), separator=" ")


_EXTRACTORS: dict[str, Callable[[str], str]] = {
    _MARKDOWN: _markdown,
    _RST: _rst,
    _HTML: _html,
    _ASCIIDOC: _asciidoc,
    _RDOC: _rdoc,
    _ORG: _org,
    _TEXT: lambda text: text,
}
