"""One package distribution -> its documentation documents.

``extract_docs(filename, data, config)`` reads an sdist or a wheel in memory (``archives``) and returns
``PackageDocs`` (the package's name and version from its core metadata, one ``PackageDoc`` per
documentation member, one for the long description, and a verdict for each documentation member that
gave no document) or a ``Fail`` naming the file:

- ``Fail("unreadable_archive")``: not a distribution file name, or an archive that cannot be read;
- ``Fail("no_package_metadata")``: no PKG-INFO / METADATA, or one without a Name and a Version.

Documents (formats and member choice: ``layout``):

- Markdown is kept as written: it is text already, and code models read it as such;
- reStructuredText becomes text (``rst_text``), HTML its laid-out visible text (``html_text``), a README
  without a format extension or ``.txt`` stays as written;
- the long description is converted by its ``Description-Content-Type``; an untyped one is read as
  reStructuredText when it parses without errors and kept as written otherwise (the core metadata
  specification's rule). It is left out when it is empty or is the text of a README (compared as
  written, and as converted, with surrounding whitespace ignored): setuptools projects often read their
  README into it.

A member's verdict: ``Drop("undecodable" | "binary")`` (``decode.decode_content``), ``Drop("doc_too_large")``
(over ``max_member_bytes``), ``Fail("doc_conversion_error")`` (docutils or the HTML parser raised),
``Drop("empty_doc")`` (no text after conversion). Members that are not documentation are skipped
silently. Details never quote the member's content. Pure.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from stack_v2.decode import decode_content
from stack_v2.package_docs import layout
from stack_v2.package_docs.archives import ArchiveError, read_members
from stack_v2.package_docs.html_text import html_to_text
from stack_v2.package_docs.metadata import content_format, parse_metadata
from stack_v2.verdicts import Drop, Fail

UNREADABLE, NO_METADATA = "unreadable_archive", "no_package_metadata"
TOO_LARGE, CONVERSION_ERROR, EMPTY = "doc_too_large", "doc_conversion_error", "empty_doc"
LONG_DESCRIPTION = "long_description"  # a document's kind, beside layout.DOCS and layout.README
_MIME = {
    layout.MARKDOWN: "text/markdown",
    layout.RST: "text/x-rst",
    layout.HTML: "text/html",
    layout.TEXT: "text/plain",
}


@dataclasses.dataclass(frozen=True, slots=True)
class DocsConfig:
    max_member_bytes: int = 5_000_000  # a documentation member (or metadata file) larger than this is not read

    def __post_init__(self) -> None:
        if self.max_member_bytes <= 0:
            raise ValueError(f"max_member_bytes must be positive, got {self.max_member_bytes}")


class PackageDoc(NamedTuple):
    package: str  # Name from the metadata, as written
    version: str  # Version from the metadata
    archive: str  # the distribution's file name
    path: str  # the member's path in the archive (the metadata file's for the long description)
    kind: str  # "docs", "readme" or "long_description"
    # The source's: text/markdown, text/x-rst, text/html, text/plain; for the long description, its
    # Description-Content-Type as written, or the format it was read as when that names none.
    content_type: str
    content: str  # the text


class PackageDocs(NamedTuple):
    package: str
    version: str
    docs: tuple[PackageDoc, ...]  # in archive order, the long description last
    skipped: tuple[tuple[str, Drop | Fail], ...]  # (member path, verdict) of documentation members left out


def _convert(source: str, fmt: str) -> str:
    from stack_v2.package_docs.rst_text import rst_to_text  # docutils: imported by the builds that convert

    if fmt == layout.RST:
        return rst_to_text(source).text
    if fmt == layout.HTML:
        return html_to_text(source)
    return source.strip("\n")  # Markdown and plain text: as written


def _convert_untyped(source: str) -> tuple[str, str]:
    """An untyped long description: (text, the format it was read as)."""
    from stack_v2.package_docs.rst_text import rst_to_text

    try:
        converted = rst_to_text(source)
    except Exception:  # docutils raises many types on odd input: then it is not valid reStructuredText
        return source.strip("\n"), layout.TEXT
    return (converted.text, layout.RST) if converted.valid else (source.strip("\n"), layout.TEXT)


def _text(data: bytes) -> str | Drop:
    decoded = decode_content(data)
    return decoded if isinstance(decoded, Drop) else decoded[0]


def _doc(path: str, data: bytes, fmt: str) -> tuple[str, str] | Drop | Fail:
    """(source, text) of one documentation member, or its verdict."""
    source = _text(data)
    if isinstance(source, Drop):
        return source
    try:
        text = _convert(source, fmt)
    except Exception as exc:  # docutils and the HTML parser raise many types on odd input
        return Fail(CONVERSION_ERROR, f"{fmt} conversion failed ({type(exc).__name__})")
    return (source, text) if text.strip() else Drop(EMPTY, f"{fmt}: no text after conversion")


def extract_docs(filename: str, data: bytes, config: DocsConfig = DocsConfig()) -> PackageDocs | Fail:
    """The documentation of the distribution ``filename`` (its bytes ``data``); see the module docstring."""

    def wanted(path: str) -> bool:  # the sdist's top folder is not known yet: try the path with and without it
        relative = path.split("/", 1)[1] if "/" in path else path
        is_metadata = path.endswith(("PKG-INFO", ".dist-info/METADATA"))
        return is_metadata or layout.doc_member(path) is not None or layout.doc_member(relative) is not None

    try:
        members = read_members(filename, data, wanted, config.max_member_bytes)
    except ArchiveError as exc:
        return Fail(UNREADABLE, str(exc))
    prefix = layout.root(members.paths)
    meta_path = layout.metadata_member(members.paths, prefix)
    meta_text = _text(members.data[meta_path]) if meta_path in members.data else None
    metadata = parse_metadata(meta_text) if isinstance(meta_text, str) else None
    if metadata is None:
        return Fail(NO_METADATA, f"{filename}: no readable PKG-INFO or .dist-info/METADATA with Name and Version")

    docs, skipped, readmes = [], [], []
    for path in members.paths:
        found = layout.doc_member(path[len(prefix) :]) if path.startswith(prefix) else None
        if found is None:
            continue
        kind, fmt = found
        if path in members.too_large:
            skipped.append((path, Drop(TOO_LARGE, f"over {config.max_member_bytes} bytes")))
            continue
        result = _doc(path, members.data[path], fmt)
        if isinstance(result, (Drop, Fail)):
            skipped.append((path, result))
            continue
        source, text = result
        if kind == layout.README:
            readmes.append((source.strip(), text.strip()))
        docs.append(PackageDoc(metadata.name, metadata.version, filename, path, kind, _MIME[fmt], text))

    if metadata.description.strip():
        fmt = content_format(metadata.content_type)
        try:
            text, read_as = (
                (_convert(metadata.description, fmt), fmt) if fmt else _convert_untyped(metadata.description)
            )
        except Exception as exc:
            skipped.append((meta_path, Fail(CONVERSION_ERROR, f"{fmt} conversion failed ({type(exc).__name__})")))
        else:
            same = any(metadata.description.strip() == s or text.strip() == t for s, t in readmes)
            if text.strip() and not same:
                content_type = metadata.content_type if fmt else _MIME[read_as]  # "UNKNOWN" says nothing
                docs.append(
                    PackageDoc(
                        metadata.name, metadata.version, filename, meta_path, LONG_DESCRIPTION, content_type, text
                    )
                )
    return PackageDocs(metadata.name, metadata.version, tuple(docs), tuple(skipped))
