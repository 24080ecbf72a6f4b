"""The package-documentation source's pure core (stack_v2.package_docs), on real distributions.

pluggy 1.5.0's sdist and wheel are kept as published; ply 3.11's README.md, PKG-INFO and
doc/internal.html (from its sdist) are packed here into a .zip sdist and a wheel, the other layouts a
distribution comes in (tests/data/package_docs/README.md).
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from stack_v2.package_docs import DocsConfig, PackageDocs, extract_docs
from stack_v2.package_docs import extract as extract_module
from stack_v2.package_docs.html_text import html_to_text
from stack_v2.package_docs.layout import doc_member, root
from stack_v2.package_docs.metadata import content_format, parse_metadata
from stack_v2.package_docs.rst_text import rst_to_text
from stack_v2.verdicts import Drop, Fail

DATA = Path(__file__).parent / "data" / "package_docs"
PLUGGY_SDIST = (DATA / "pluggy-1.5.0.tar.gz").read_bytes()
PLUGGY_WHEEL = (DATA / "pluggy-1.5.0-py3-none-any.whl").read_bytes()
PLY = DATA / "ply-3.11"
PLY_PKG_INFO = (PLY / "PKG-INFO").read_text(encoding="utf-8")  # metadata 1.1: Description header, type UNKNOWN
PLY_README = (PLY / "README.md").read_text(encoding="utf-8")
PLY_HTML = (PLY / "doc" / "internal.html").read_text(encoding="utf-8")


def _zip(members: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            archive.writestr(path, data)
    return out.getvalue()


def _sdist_members(name: str) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(PLUGGY_SDIST)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive if m.isfile() and m.name == name}


def _ply_zip() -> bytes:
    return _zip(
        {
            "ply-3.11/PKG-INFO": PLY_PKG_INFO,
            "ply-3.11/README.md": PLY_README,
            "ply-3.11/doc/internal.html": PLY_HTML,
            "ply-3.11/ply.egg-info/PKG-INFO": PLY_PKG_INFO,
        }
    )


def _ply_wheel_metadata(body: str, content_type: str | None) -> str:
    head = PLY_PKG_INFO.split("Description-Content-Type:", 1)[0].replace(
        "Metadata-Version: 1.1", "Metadata-Version: 2.1"
    )
    typed = f"Description-Content-Type: {content_type}\n" if content_type else ""
    return f"{head}{typed}\n{body}"


def _by_path(result: PackageDocs) -> dict:
    return {doc.path: doc for doc in result.docs}


# --- sdists and wheels --------------------------------------------------------------------------------


def test_an_sdist_gives_its_readme_and_docs_tree_with_name_version_and_path():
    result = extract_docs("pluggy-1.5.0.tar.gz", PLUGGY_SDIST)
    assert (result.package, result.version) == ("pluggy", "1.5.0")
    docs = _by_path(result)
    assert list(docs) == [
        "pluggy-1.5.0/README.rst",
        "pluggy-1.5.0/docs/api_reference.rst",
        "pluggy-1.5.0/docs/index.rst",
    ]
    assert {(d.package, d.version, d.archive) for d in result.docs} == {("pluggy", "1.5.0", "pluggy-1.5.0.tar.gz")}
    assert [d.kind for d in docs.values()] == ["readme", "docs", "docs"]
    assert {d.content_type for d in docs.values()} == {"text/x-rst"}
    # docs/changelog.rst only includes ../CHANGELOG.rst: file insertion is off, so it has no text.
    assert result.skipped == (("pluggy-1.5.0/docs/changelog.rst", Drop("empty_doc", "rst: no text after conversion")),)


def test_members_that_are_not_documentation_are_skipped():
    paths = {doc.path for doc in extract_docs("pluggy-1.5.0.tar.gz", PLUGGY_SDIST).docs}
    for not_docs in (
        "pluggy-1.5.0/docs/conf.py",  # code in docs/
        "pluggy-1.5.0/docs/_static/img/plug.png",  # an image
        "pluggy-1.5.0/CHANGELOG.rst",  # rst at the top, not a README
        "pluggy-1.5.0/changelog/README.rst",  # a README, not at the top
        "pluggy-1.5.0/downstream/README.md",
        "pluggy-1.5.0/src/pluggy/_hooks.py",
    ):
        assert not_docs not in paths
    assert not any(path.endswith(("PKG-INFO", ".py", ".png", ".txt")) for path in paths)


def test_the_long_description_is_left_out_when_it_is_the_readme():
    with tarfile.open(fileobj=io.BytesIO(PLUGGY_SDIST)) as archive:
        readme = archive.extractfile("pluggy-1.5.0/README.rst").read().decode()
        pkg_info = archive.extractfile("pluggy-1.5.0/PKG-INFO").read().decode()
    assert parse_metadata(pkg_info).description.strip() == readme.strip()  # setup.cfg reads README.rst into it
    kinds = [d.kind for d in extract_docs("pluggy-1.5.0.tar.gz", PLUGGY_SDIST).docs]
    assert "long_description" not in kinds


def test_a_wheel_gives_its_long_description_converted_by_its_content_type():
    result = extract_docs("pluggy-1.5.0-py3-none-any.whl", PLUGGY_WHEEL)
    assert (result.package, result.version, result.skipped) == ("pluggy", "1.5.0", ())
    (doc,) = result.docs
    assert (doc.path, doc.kind, doc.content_type) == (
        "pluggy-1.5.0.dist-info/METADATA",
        "long_description",
        "text/x-rst",
    )
    assert doc.content.startswith("pluggy - A minimalist production ready plugin system\n\n")
    assert "====" not in doc.content and "|pypi|" not in doc.content  # title underline, substitution references
    assert 'hookspec = pluggy.HookspecMarker("myproject")' in doc.content  # the literal block, as written


def test_a_zip_sdist_gives_html_as_laid_out_text_markdown_as_written_and_an_old_style_description():
    result = extract_docs("ply-3.11.zip", _ply_zip())
    assert (result.package, result.version, result.skipped) == ("ply", "3.11", ())
    docs = _by_path(result)
    assert list(docs) == ["ply-3.11/README.md", "ply-3.11/doc/internal.html", "ply-3.11/PKG-INFO"]
    readme, html, description = docs.values()
    assert (readme.kind, readme.content_type, readme.content) == ("readme", "text/markdown", PLY_README.strip("\n"))
    assert (html.kind, html.content_type) == ("docs", "text/html")
    assert html.content.startswith(
        "PLY Internals\n\nDavid M. Beazley\ndave@dabeaz.com\n\nPLY Version: 3.11\n\n- Introduction\n"
    )
    assert "\n\n1. Introduction\n\nThis document describes classes and functions" in html.content
    assert "<" not in html.content.split("\n", 1)[0] and "<tt>" not in html.content and "<!--" not in html.content
    assert "g.set_precedence('PLUS',  'left',1)\ng.set_precedence('MINUS', 'left',1)" in html.content  # <pre> kept
    # Metadata 1.1 keeps the description in an indented header; its type is UNKNOWN, so it is read as
    # reStructuredText, which it is (plain paragraphs).
    assert (description.kind, description.content_type) == ("long_description", "text/x-rst")
    assert description.content.startswith(
        "PLY is yet another implementation of lex and yacc for Python. Some notable\n"
    )
    assert "\n\nPLY provides most of the standard lex/yacc features" in description.content
    assert "        " not in description.content


def test_a_markdown_long_description_is_kept_as_written_unless_it_is_the_readme():
    metadata = _ply_wheel_metadata(PLY_README, "text/markdown")
    wheel = _zip({"ply/__init__.py": b"__version__ = '3.11'\n", "ply-3.11.dist-info/METADATA": metadata})
    (doc,) = extract_docs("ply-3.11-py2.py3-none-any.whl", wheel).docs
    assert (doc.kind, doc.content_type, doc.content) == ("long_description", "text/markdown", PLY_README.strip("\n"))
    with_readme = _zip({"ply-3.11/PKG-INFO": metadata, "ply-3.11/README.md": PLY_README})
    assert [d.kind for d in extract_docs("ply-3.11.zip", with_readme).docs] == ["readme"]


def test_an_untyped_long_description_that_is_not_valid_rst_is_kept_as_plain_text():
    assert not rst_to_text(PLY_README).valid  # ply's Markdown README is not valid reStructuredText
    wheel = _zip({"ply-3.11.dist-info/METADATA": _ply_wheel_metadata(PLY_README, None)})
    (doc,) = extract_docs("ply-3.11-py2.py3-none-any.whl", wheel).docs
    assert (doc.content_type, doc.content) == ("text/plain", PLY_README.strip("\n"))


# --- failures and dropped members ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "detail"),
    [
        ("pluggy-1.5.0.tar.gz", PLUGGY_SDIST[:30_000], "pluggy-1.5.0.tar.gz: unreadable tar archive (EOFError)"),
        (
            "pluggy-1.5.0-py3-none-any.whl",
            PLUGGY_SDIST,
            "pluggy-1.5.0-py3-none-any.whl: unreadable zip archive (BadZipFile)",
        ),
        ("pluggy-1.5.0.tar.gz", PLUGGY_WHEEL, "pluggy-1.5.0.tar.gz: unreadable tar archive (ReadError)"),
        (
            "pluggy-1.5.0.egg",
            PLUGGY_WHEEL,
            "pluggy-1.5.0.egg: not a .tar.gz, .tgz, .tar.bz2, .tar.xz, .zip or .whl file",
        ),
    ],
    ids=["truncated", "tar-named-whl", "zip-named-tar", "egg"],
)
def test_a_bad_archive_fails_naming_the_file(filename, data, detail):
    assert extract_docs(filename, data) == Fail("unreadable_archive", detail)


def test_a_distribution_without_metadata_fails_naming_the_file():
    no_metadata = _zip({"ply-3.11/README.md": PLY_README, "ply-3.11/doc/internal.html": PLY_HTML})
    assert extract_docs("ply-3.11.zip", no_metadata) == Fail(
        "no_package_metadata", "ply-3.11.zip: no readable PKG-INFO or .dist-info/METADATA with Name and Version"
    )
    nameless = _zip({"ply-3.11/PKG-INFO": PLY_PKG_INFO.replace("Name: ply\n", ""), "ply-3.11/README.md": PLY_README})
    assert extract_docs("ply-3.11.zip", nameless).reason == "no_package_metadata"


def test_binary_and_oversized_documentation_members_are_dropped_with_their_path():
    (png,) = _sdist_members("pluggy-1.5.0/docs/_static/img/plug.png").values()
    archive = _zip(
        {"ply-3.11/PKG-INFO": PLY_PKG_INFO, "ply-3.11/doc/logo.md": png, "ply-3.11/doc/internal.html": PLY_HTML}
    )
    result = extract_docs("ply-3.11.zip", archive, DocsConfig(max_member_bytes=len(PLY_HTML) - 1))
    assert result.skipped == (
        ("ply-3.11/doc/logo.md", Drop("binary", "contains NUL bytes")),
        ("ply-3.11/doc/internal.html", Drop("doc_too_large", f"over {len(PLY_HTML) - 1} bytes")),
    )
    assert [d.kind for d in result.docs] == ["long_description"]


def test_a_conversion_error_fails_that_member_only(monkeypatch):
    def broken(source):
        raise RecursionError("nested too deep")

    monkeypatch.setattr(extract_module, "html_to_text", broken)
    result = extract_docs("ply-3.11.zip", _ply_zip())
    assert result.skipped == (
        ("ply-3.11/doc/internal.html", Fail("doc_conversion_error", "html conversion failed (RecursionError)")),
    )
    assert [d.path for d in result.docs] == ["ply-3.11/README.md", "ply-3.11/PKG-INFO"]


# --- the parts ------------------------------------------------------------------------------------------


def test_which_members_are_documentation():
    assert root(["pluggy-1.5.0/PKG-INFO", "pluggy-1.5.0/docs/index.rst"]) == "pluggy-1.5.0/"
    assert root(["pluggy/__init__.py", "pluggy-1.5.0.dist-info/METADATA"]) == ""
    assert doc_member("README.rst") == ("readme", "rst")
    assert doc_member("readme") == ("readme", "text")
    assert doc_member("docs/index.rst") == ("docs", "rst")
    assert doc_member("src/pkg/doc/guide.markdown") == ("docs", "markdown")
    assert doc_member("Docs/API.HTM") == ("docs", "html")
    for not_docs in ("docs/_build/html/index.html", "docs/_templates/layout.html", "docs/conf.py", "sub/README.md"):
        assert doc_member(not_docs) is None
    assert doc_member("guide.md") is None and doc_member("README.py") is None


def test_rst_conversion_drops_markup_comments_and_sphinx_syntax_but_keeps_text():
    (index,) = _sdist_members("pluggy-1.5.0/docs/index.rst").values()
    text, valid = rst_to_text(index.decode())
    assert not valid  # Sphinx roles and directives are errors to plain docutils
    assert text.startswith("pluggy\n\nThe pytest plugin system\n\nWhat is it?\n\npluggy is the crystallized core")
    for markup in (":ref:", ":py:", "\n.. ", "code-block", "System Message", "Unknown interpreted text role"):
        assert markup not in text
    assert "see marking_hooks" in text  # :ref:`marking_hooks` as its text
    safe = rst_to_text(
        ".. include:: /etc/hostname\n\n.. a comment\n\nSee :func:`os.walk` and :ref:`the guide <guide>`."
    )
    assert safe == ("See os.walk and the guide.", False)
    assert rst_to_text("Title\n=====\n\nA *plain* paragraph.\n") == ("Title\n\nA plain paragraph.", True)


def test_html_conversion_lays_out_blocks_and_leaves_out_what_is_not_shown():
    text = html_to_text(PLY_HTML)
    assert "PLY Internals" == text.split("\n", 1)[0]  # the <title> in <head> is not text; the <h1> is
    assert "\n- LRParser\n- ParserReflect\n" in text
    assert "INDEX" not in text  # <!-- INDEX --> comments
    assert html_to_text("<html><head><style>p{}</style></head><frameset></frameset></html>") == ""


def test_old_and_new_metadata_forms_read_alike():
    old = parse_metadata(PLY_PKG_INFO)
    assert (old.name, old.version, old.content_type) == ("ply", "3.11", "UNKNOWN")
    assert content_format(old.content_type) is None and content_format("text/markdown; variant=GFM") == "markdown"
    specification_form = PLY_PKG_INFO.replace("\n        ", "\n       |")  # 7 spaces and a pipe
    assert parse_metadata(specification_form).description == old.description
    assert old.description.startswith("PLY is yet another") and old.description.endswith("Python 2 and Python 3.")
    assert parse_metadata(PLY_PKG_INFO.replace("Version: 3.11\n", "")) is None
