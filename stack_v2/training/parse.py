"""Parse a training document back into its repository name and files: the inverse of ``format``. Pure.

PSM and SPM both give the file's text back as prefix + middle + suffix: in SPM what follows
``<fim_middle>`` is prefix + middle, so the text is that followed by the suffix, which is also what a PSM
document with an empty prefix (``<fim_prefix><fim_suffix>...``) gives. With metadata, the file's text is
``{path}\\n{content}`` and the path ends at its first newline.
"""

from __future__ import annotations

from stack_v2.training.format import Sentinels


class ParseError(ValueError):
    """A text that is not a document of the format."""


def _unfim(segment: str, s: Sentinels) -> str:
    if not segment.startswith(s.fim_prefix):
        return segment
    rest = segment[len(s.fim_prefix) :]
    if rest.startswith(s.fim_suffix):  # SPM (or PSM with an empty prefix)
        suffix, sep, prefix_middle = rest[len(s.fim_suffix) :].partition(s.fim_middle)
        if not sep:
            raise ParseError("FIM segment without its middle sentinel")
        return prefix_middle + suffix
    prefix, sep, rest = rest.partition(s.fim_suffix)
    suffix, sep2, middle = rest.partition(s.fim_middle)
    if not sep or not sep2:
        raise ParseError("FIM segment without its suffix or middle sentinel")
    return prefix + middle + suffix


def parse_document(text: str, sentinels: Sentinels | None = None) -> tuple[str | None, list[tuple[str | None, str]]]:
    """(repo_name or None, [(path or None, content)]) of a document, files in document order.

    A document without metadata gives None for the repository and the paths; a document dataset's record
    (no ``<file_sep>``) gives ``(None, [(None, text)])``. Raises ParseError for text not in the format.
    """
    s = sentinels or Sentinels()
    if not text.endswith(s.eos):
        raise ParseError(f"a document ends with {s.eos!r}")
    body = text[: -len(s.eos)]
    repo_name = None
    if body.startswith(s.repo_name):
        repo_name, sep, rest = body[len(s.repo_name) :].partition(s.file_sep)
        if not sep:
            raise ParseError(f"a repository header without a following {s.file_sep!r}")
        body = s.file_sep + rest
    elif not body.startswith(s.file_sep):
        return None, [(None, body)]
    files: list[tuple[str | None, str]] = []
    for segment in body.split(s.file_sep)[1:]:
        whole = _unfim(segment, s)
        if repo_name is None:
            files.append((None, whole))
            continue
        path, sep, content = whole.partition("\n")
        if not sep:
            raise ParseError("a file without its path line in a document with metadata")
        files.append((path, content))
    return repo_name, files
