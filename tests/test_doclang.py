"""Natural language of documentation files, on real text: the message catalogs (.mo) that Debian's essential
packages ship in many languages train a small lid.176-like fastText model in seconds; one catalog is held out.

The model is loaded and queried by the production code (``doclang.model``); only its training is here.
"""

from __future__ import annotations

import email.charset
import gettext
import random
import re
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from occurrences import occurrence

from stack_v2.doclang.detect import MAX_LINE_CHARS, MIN_LETTERS, detect_language, letter_count, model_line
from stack_v2.doclang.html_text import visible_text
from stack_v2.doclang.model import load_model
from stack_v2.doclang.prose import DOC_LANGUAGES, prose
from stack_v2.errors import StackV2Error
from stack_v2.stages.base import Drop
from stack_v2.stages.doc_language import STAGE, DocLanguage, make_doc_language
from stack_v2.stages.select_repos import record_from_occurrence

# Python's own locale directory, then the system's (FHS), where Debian's packages install their catalogs.
LOCALE_DIRS = (Path(sys.base_prefix, "share", "locale"), Path("/usr/share/locale"))
# lid.176 label -> locale. English is every catalog's msgid.
LOCALES = {
    "fr": "fr",
    "de": "de",
    "es": "es",
    "it": "it",
    "pt": "pt",
    "nl": "nl",
    "ru": "ru",
    "ja": "ja",
    "zh": "zh_CN",
}
TRAIN_DOMAINS = ("coreutils", "dpkg", "tar", "findutils", "diffutils")  # programs' help and error messages
HELD_OUT_DOMAIN = "bash"  # the shell's builtin help: long paragraphs the model never saw
PYTHON_SOURCE = Path(email.charset.__file__).read_text(encoding="utf-8")  # real code, with English docstrings


def catalog(domain: str, locale: str | None) -> dict[str, str]:
    """msgid -> translation of one installed catalog ({} when absent); locale None: the English msgids."""
    for base in LOCALE_DIRS:
        path = base / (locale or "fr") / "LC_MESSAGES" / f"{domain}.mo"  # English: the msgids of any catalog
        if path.is_file():
            with path.open("rb") as handle:
                entries = gettext.GNUTranslations(handle)._catalog  # the parsed entries; no public iterator
            pairs = {(key[0] if isinstance(key, tuple) else key): value for key, value in entries.items() if key}
            return {k: k for k in pairs} if locale is None else {k: v for k, v in pairs.items() if v != k}
    return {}


def paragraphs(domain: str, code: str, min_letters: int = 150) -> list[str]:
    """Long messages of a catalog in language ``code`` (lid.176's code), each as one paragraph."""
    texts = catalog(domain, LOCALES.get(code)).values()
    return [" ".join(text.split()) for text in texts if letter_count(text) >= min_letters]  # help texts are indented


@pytest.fixture(scope="session")
def lid_model(tmp_path_factory) -> str:
    """Path of a fastText model shaped like lid.176 (``__label__xx``, character 2- to 4-grams, dim 16)."""
    import fasttext

    lines = []
    for code in ("en", *LOCALES):
        for domain in TRAIN_DOMAINS:
            for text in catalog(domain, LOCALES.get(code)).values():
                line = model_line(text)  # the production preprocessing
                if len(line.split()) >= 3:
                    lines.append(f"__label__{code} {line}")
    labels = {line.split(" ", 1)[0] for line in lines}
    if len(labels) < 3:
        pytest.skip(f"message catalogs in fewer than 3 languages under {[str(d) for d in LOCALE_DIRS]}")
    random.Random(0).shuffle(lines)
    workdir = tmp_path_factory.mktemp("lid")
    (workdir / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = fasttext.train_supervised(
        str(workdir / "train.txt"), minn=2, maxn=4, dim=16, epoch=5, lr=0.5, bucket=100_000, thread=1, seed=1, verbose=0
    )
    model.save_model(str(workdir / "lid.bin"))
    return str(workdir / "lid.bin")


def doc(path: str, content: str, language: str | None = None):
    """A decoded record as the build has it after the language stage."""
    occ = occurrence("real/docs", path, content.encode())
    return record_from_occurrence(occ, None)._replace(content=content, language=language)


def test_held_out_paragraphs_are_classified(lid_model):
    seen = 0
    for code in ("en", *LOCALES):
        texts = paragraphs(HELD_OUT_DOMAIN, code)
        if len(texts) < 10:
            continue
        seen += 1
        found = [detect_language(text, "Text", lid_model) for text in texts]
        right = sum(1 for f in found if f is not None and f[0] == code)
        assert right >= 0.95 * len(texts), (code, [f for f in found if f is None or f[0] != code][:5])
        assert min(f[1] for f in found if f and f[0] == code) > 0.5
    assert seen >= 3


def test_visible_text_excludes_head_scripts_styles_templates_and_comments():
    page = (
        "<!doctype html><html><head><title>Title</title><style>p { color: red }</style>"
        "<script>var inHead = 1;</script><meta name='description' content='meta'></head>"
        "<body><!-- a comment --><h1>Caf&eacute; &amp; th&eacute;</h1>\n<p>Visible <b>bold</b> text.</p>"
        "<script>document.write('script text')</script><noscript>Enable JavaScript</noscript>"
        "<template><p>template text</p></template><style>.x{}</style><iframe>fallback</iframe>"
        "<pre>code()</pre></body></html>"
    )
    assert visible_text(page) == "Café & thé\nVisible bold text.code()"
    assert visible_text(page, hidden=("pre",), separator=" ") == "Café & thé \n Visible  bold  text."
    assert visible_text("just text, <b>no</b> page") == "just text, no page"
    assert visible_text("<frameset><frame src='a.html'></frameset>") == ""
    assert visible_text("") == ""


def test_html_language_comes_from_visible_text_only(lid_model):
    french = paragraphs(HELD_OUT_DOMAIN, "fr")[0]
    page = (
        f"<html><head><title>{PYTHON_SOURCE[:2000]}</title><style>/* {PYTHON_SOURCE[:3000]} */</style></head>"
        f"<body><!-- {PYTHON_SOURCE[:3000]} --><p>{french}</p><script>/* {PYTHON_SOURCE} */</script>"
        f"<pre>{PYTHON_SOURCE[:5000]}</pre></body></html>"
    )
    assert detect_language(page, "HTML", lid_model)[0] == "fr"
    assert detect_language(page, "Text", lid_model)[0] == "en"  # read as plain text, the code outvotes it


@pytest.fixture(scope="module")
def french():
    texts = paragraphs(HELD_OUT_DOMAIN, "fr")
    if not texts:
        pytest.skip("no French bash catalog on this machine")
    return texts[0]


CODE = PYTHON_SOURCE[:6000]
INDENTED_CODE = "\n".join("    " + line for line in CODE.splitlines())
# The same French paragraph with code in each markup's own code syntax.
WITH_CODE = {
    "Markdown": lambda fr: (
        f"# Titre\n\n{fr}\n\n```python\n{CODE}\n```\n\nUtilisez `charset.Charset`.\n\n{INDENTED_CODE}\n"
    ),
    "RMarkdown": lambda fr: f"---\ntitle: Titre\n---\n\n{fr}\n\n```{{r}}\n{CODE}\n```\n",
    "reStructuredText": lambda fr: (
        f"Titre\n=====\n\n{fr} Exemple::\n\n{INDENTED_CODE}\n\n"
        f".. code-block:: python\n   :linenos:\n\n{INDENTED_CODE}\n\n>>> import email\n>>> email.charset\n"
    ),
    "AsciiDoc": lambda fr: f"= Titre\n:toc:\n\n{fr}\n\n[source,python]\n----\n{CODE}\n----\n",
    "Org": lambda fr: f"#+TITLE: Titre\n* Titre\n{fr}\n#+BEGIN_SRC python\n{CODE}\n#+END_SRC\n",
    "RDoc": lambda fr: f"= Titre\n\n{fr}\n\n" + "\n".join("  " + line for line in CODE.splitlines()) + "\n",
    "HTML": lambda fr: f"<html><body><p>{fr}</p><pre><code>{CODE}</code></pre></body></html>",
}


@pytest.mark.parametrize("language", sorted(WITH_CODE))
def test_code_does_not_vote(lid_model, french, language):
    content = WITH_CODE[language](french)
    text = prose(content, language)
    assert "def " not in text and "import" not in text and "Charset" not in text
    assert detect_language(content, language, lid_model)[0] == "fr"
    assert detect_language(content, "Text", lid_model)[0] == "en"  # the same file as plain text


def test_prose_keeps_link_text_lists_and_admonitions_and_drops_the_rest():
    markdown = (
        "[![build](https://ci.example/badge.svg)](https://ci.example)\n\n"
        "Read [the guide](docs/guide.md) or <https://example.org>.\n\n"
        "- first item\n    continued under the item\n\n"
        "<!-- a comment -->\n<p align='center'>Centered</p>\n\n[guide]: https://example.org/guide\n"
        "```\nunclosed fence runs to the end\n"
    )
    text = " ".join(prose(markdown, "Markdown").split())
    assert text == "Read the guide or . - first item continued under the item Centered"
    rst = (
        "Guide\n=====\n\nSee `the site <https://example.org>`_ and :func:`json.dumps`.\n\n"
        ".. note:: Keep this.\n\n   And this body.\n\n"
        ".. toctree::\n   :maxdepth: 2\n\n   install\n   usage\n\n"
        ".. _target: https://example.org\n.. a comment\n   continued\n\n"
        ".. [1] A footnote.\n\nEnd.\n"
    )
    text = " ".join(prose(rst, "reStructuredText").split())
    assert text == "Guide ===== See the site and . Keep this. And this body. A footnote. End."
    assert set(DOC_LANGUAGES) >= {"Markdown", "Text", "reStructuredText", "HTML", "AsciiDoc", "RDoc", "Org"}


def test_model_line_is_one_bounded_line_without_urls():
    text = "See https://example.org/x and mail me@example.org.\n\n## Heading\n| a | b |\n" * 2000
    line = model_line(text)
    assert "\n" not in line and len(line) <= MAX_LINE_CHARS
    assert "http" not in line and "@" not in line and "#" not in line and "|" not in line
    assert line.startswith("See and mail . Heading a b See and mail .")


def test_too_little_prose_gives_none(lid_model, french):
    assert detect_language("# Project\n\nA tool.\n", "Markdown", lid_model) is None
    assert detect_language(f"# x\n\n```python\n{CODE}\n```\n", "Markdown", lid_model) is None  # code only
    words = french.split()
    short = next(
        " ".join(words[:n]) for n in range(len(words)) if letter_count(" ".join(words[: n + 1])) >= MIN_LETTERS
    )
    assert detect_language(short, "Text", lid_model) is None
    assert detect_language(short + " " + words[len(short.split())], "Text", lid_model) is not None


def test_keep_languages_drops_other_languages_only_on_evidence(lid_model, french):
    english = paragraphs(HELD_OUT_DOMAIN, "en")[0]
    core = make_doc_language(lid_model, keep_languages=["en"])
    kept = core(doc("README.md", f"# Usage\n\n{english}\n", "Markdown"))
    assert kept.nl_language == "en"
    dropped = core(doc("docs/LISEZMOI.rst", f"Titre\n=====\n\n{french}\n", "reStructuredText"))
    assert isinstance(dropped, Drop) and dropped.reason == "nl_language"
    assert re.fullmatch(r"nl_language=fr;p=(0\.\d\d|1\.00)", dropped.detail)
    source = doc("charset.py", PYTHON_SOURCE, "Python")
    assert core(source) is source  # not documentation: unchanged
    short = core(doc("NOTES.txt", "Voir le fichier.\n", "Text"))
    assert not isinstance(short, Drop) and short.nl_language is None  # undetermined: kept
    tagging = make_doc_language(lid_model)  # no keep list: every language is kept and recorded
    assert tagging(doc("docs/LISEZMOI.rst", french, "reStructuredText")).nl_language == "fr"


def test_bad_parameters_and_models_fail_before_any_record(lid_model, tmp_path):
    with pytest.raises(StackV2Error, match="min_probability"):
        make_doc_language(lid_model, min_probability=1.5)
    with pytest.raises(StackV2Error, match="keep_languages"):
        make_doc_language(lid_model, keep_languages=[])
    with pytest.raises(StackV2Error, match=r"such as \['en'\], got 'en'"):
        make_doc_language(lid_model, keep_languages="en")  # a YAML scalar where a list was meant
    missing = str(tmp_path / "lid.176.bin")
    with pytest.raises(StackV2Error, match="lid.176.bin"):
        make_doc_language(missing)
    assert load_model(lid_model) is load_model(lid_model)  # once per process and path


def test_stage_runs_on_beam(lid_model, french):
    english = paragraphs(HELD_OUT_DOMAIN, "en")[0]
    records = [
        doc("README.md", f"# Usage\n\n{english}\n", "Markdown"),
        doc("docs/index.html", f"<html><body><p>{french}</p></body></html>", "HTML"),
        doc("charset.py", PYTHON_SOURCE, "Python"),
        doc("TODO.txt", "Voir le fichier.\n", "Text"),
    ]
    with beam.Pipeline() as p:
        out = p | beam.Create(records) | DocLanguage(lid_model, ["en"])
        assert_that(
            out["kept"] | beam.Map(lambda r: (r.path, r.nl_language)),
            equal_to([("README.md", "en"), ("charset.py", None), ("TODO.txt", None)]),
            label="kept",
        )
        assert_that(
            out["dropped"] | beam.Map(lambda d: (d.path, d.stage, d.reason, d.detail.split(";")[0])),
            equal_to([("docs/index.html", STAGE, "nl_language", "nl_language=fr")]),
            label="dropped",
        )
