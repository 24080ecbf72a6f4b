"""Jupyter notebooks' script and structured forms, on notebooks built with nbformat from real code: the
source and docstrings of installed modules, with outputs made by calling those functions for real.

The Guesslang test runs the real model when TensorFlow is installed (it is an optional extra): the model
comes from the guesslang wheel on PyPI, fetched by ``guesslang_model`` into pytest's cache (a temporary
folder under ``-p no:cacheprovider``), or from the folder named by STACK_V2_GUESSLANG_MODEL.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import inspect
import json
import os
import textwrap

import apache_beam as beam
import nbformat
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from occurrences import occurrence

from stack_v2.errors import StackV2Error
from stack_v2.notebooks import languages
from stack_v2.notebooks.guess import GuesslangGuesser
from stack_v2.notebooks.parse import NotebookError, read_notebook
from stack_v2.notebooks.script import ScriptConfig, code_text, to_script
from stack_v2.notebooks.structured import EMPTY_OUTPUT, output_text, render, triplets
from stack_v2.stages.base import Drop, Fail
from stack_v2.stages.notebooks import STAGE, ConvertNotebooks, NotebooksConfig, StructuredNotebook, convert
from stack_v2.stages.select_repos import record_from_occurrence

PYTHON_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "file_extension": ".py", "mimetype": "text/x-python", "version": "3.11.7"},
}
R_METADATA = {
    "kernelspec": {"display_name": "R", "language": "R", "name": "ir"},
    "language_info": {"name": "R", "file_extension": ".r", "mimetype": "text/x-r-source", "version": "4.3.1"},
}
KOTLIN_METADATA = {"kernelspec": {"display_name": "Kotlin", "language": "kotlin", "name": "kotlin"}}
SAMPLE = "    def f():\n        return 1\n"
# Real R (base R and stats only), as an R kernel's notebook would hold it.
R_CELLS = [
    "data(mtcars)\nfit <- lm(mpg ~ wt + hp, data = mtcars)\nsummary(fit)$r.squared",
    "aggregate(mpg ~ cyl, data = mtcars, FUN = mean)",
]


def textwrap_notebook(metadata: dict | None = None):
    """A tutorial on ``textwrap``: its docstrings as markdown, its source as code, real outputs."""
    return new_notebook(
        metadata=PYTHON_METADATA if metadata is None else metadata,
        cells=[
            new_markdown_cell(f"# textwrap\n\n{inspect.getdoc(textwrap)}"),
            new_code_cell("import textwrap"),
            new_markdown_cell(f"## `dedent`\n\n{inspect.getdoc(textwrap.dedent)}"),
            new_code_cell(inspect.getsource(textwrap.dedent)),
            new_code_cell(
                f"print(dedent({SAMPLE!r}))",
                outputs=[new_output("stream", name="stdout", text=textwrap.dedent(SAMPLE) + "\n")],
            ),
            new_markdown_cell(f"## `indent`\n\n{inspect.getdoc(textwrap.indent)}"),
            new_code_cell(inspect.getsource(textwrap.indent)),
            new_code_cell(
                "indent('a\\nb', '> ')",
                outputs=[
                    new_output(
                        "execute_result", data={"text/plain": repr(textwrap.indent("a\nb", "> "))}, execution_count=4
                    )
                ],
            ),
        ],
    )


def r_notebook():
    return new_notebook(
        metadata=R_METADATA,
        cells=[
            new_markdown_cell("# Linear model on `mtcars`"),
            *(new_code_cell(source) for source in R_CELLS),
        ],
    )


def code_notebook(code: str, metadata: dict | None = None):
    """A notebook with no language metadata whose code cells are ``code``'s blank-line separated chunks."""
    chunks = [chunk for chunk in code.split("\n\n") if chunk.strip()]
    return new_notebook(metadata=metadata or {}, cells=[new_code_cell(chunk) for chunk in chunks])


def text_of(notebook) -> str:
    return nbformat.writes(notebook)


def record(path: str, content: str, language: str):
    """A decoded record as the build has it after the language stage."""
    occ = occurrence("real/notebooks", path, content.encode())
    return record_from_occurrence(occ, None)._replace(content=content, language=language)


class FixedGuesser:
    """A deterministic guesser: always the same answer; remembers what it was asked."""

    def __init__(self, language: str, probability: float):
        self.answer, self.asked = (language, probability), []

    def guess(self, code: str):
        self.asked.append(code)
        return self.answer


# ---- parsing ----


def test_read_notebook_joins_sources_and_outputs():
    notebook = read_notebook(
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 2,
                "metadata": {},
                "cells": [
                    {
                        "cell_type": "code",
                        "metadata": {},
                        "execution_count": 1,
                        "source": ["import os\n", "os.sep"],
                        "outputs": [{"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]}],
                    }
                ],
            }
        )
    )
    assert notebook.cells[0].source == "import os\nos.sep"
    assert notebook.cells[0].outputs[0].text == "a\nb\n"


def test_nbformat3_notebook_is_upgraded():
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": ""},
        "worksheets": [
            {
                "cells": [
                    {"cell_type": "heading", "level": 2, "source": ["dedent"], "metadata": {}},
                    {
                        "cell_type": "code",
                        "language": "python",
                        "input": ["print(1)\n", "1 + 2"],
                        "prompt_number": 1,
                        "metadata": {},
                        "outputs": [
                            {"output_type": "stream", "stream": "stdout", "text": ["1\n"]},
                            {"output_type": "pyout", "prompt_number": 1, "text": ["3"], "metadata": {}},
                        ],
                    },
                ]
            }
        ],
    }
    notebook = read_notebook(json.dumps(v3))
    assert notebook.nbformat == 4
    assert [(cell.cell_type, cell.source) for cell in notebook.cells] == [
        ("markdown", "## dedent"),
        ("code", "print(1)\n1 + 2"),
    ]
    assert output_text(notebook.cells[1].outputs) == "1\n3"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (text_of(textwrap_notebook())[:700], "JSONDecodeError: "),  # truncated download
        ("", "JSONDecodeError: Expecting value: line 1 column 1 (char 0)"),
        ("[1, 2]", "not a notebook: JSON list without 'nbformat'"),  # JSON, but not a notebook
        ('{"cells": []}', "not a notebook: JSON dict without 'nbformat'"),
        ('{"nbformat": 5, "cells": []}', "unsupported nbformat 5"),
        ('{"nbformat": "4.x", "cells": []}', "unsupported nbformat (a JSON str, not a known version)"),
        ('{"nbformat": [4], "cells": []}', "unsupported nbformat (a JSON list, not a known version)"),
        ('{"nbformat": 4, "nbformat_minor": 4, "metadata": {}}', "nbformat 4 without a 'cells' list"),
        (None, "no content"),  # the fetch stage did not run
    ],
)
def test_unreadable_notebooks_have_a_one_line_reason(text, detail):
    with pytest.raises(NotebookError) as caught:
        read_notebook(text)
    assert caught.value.reason == "notebook_parse_error"
    assert caught.value.detail.startswith(detail) and "\n" not in caught.value.detail


# A value from the file in a field that breaks it: dropped/ details are published, so none may echo it.
LEAKED = "Tr0ub4dor&3kQzm"


@pytest.mark.parametrize(
    "data",
    [
        {"nbformat": LEAKED, "cells": []},
        {"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [LEAKED]},
        {"nbformat": 4, "nbformat_minor": 4, "metadata": LEAKED, "cells": []},
        {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": LEAKED},
        {
            "nbformat": 4,
            "nbformat_minor": 4,
            "cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}}],
            "metadata": {"kernelspec": {"language": LEAKED, "name": LEAKED}},
        },
    ],
)
def test_dropped_details_never_quote_the_notebook(data):
    result = convert(record("leak.ipynb", json.dumps(data), "Jupyter Notebook"), FixedGuesser("Python", 0.9))
    assert isinstance(result, (Drop, Fail)) and result.detail and LEAKED not in result.detail, result


def test_known_language_names_are_still_named():
    notebook = read_notebook(text_of(code_notebook("val x = 1\nprintln(x)", KOTLIN_METADATA)))
    with pytest.raises(NotebookError) as caught:
        to_script(notebook)
    assert caught.value.detail == "metadata language 'kotlin' has no Jupytext script format"


# ---- script language ----


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (PYTHON_METADATA, ("Python", ".py")),
        (R_METADATA, ("R", ".r")),
        ({"language_info": {"name": "julia", "file_extension": ".jl"}}, ("Julia", ".jl")),
        ({"language_info": {"name": "c++", "file_extension": ".cpp"}}, ("C++", ".cpp")),  # xeus-cling
        ({"kernelspec": {"name": "julia-1.9", "display_name": "Julia 1.9.3"}}, ("Julia", ".jl")),  # no language key
        ({"kernelspec": {"name": "bash", "language": "bash"}}, ("Shell", ".sh")),
        ({"kernelspec": {"name": "octave", "language": "octave"}}, ("MATLAB", ".m")),
        (
            {"kernelspec": {"name": "conda-env-tf-py", "display_name": "Python [conda env:tf]"}},
            ("Python", ".py"),
        ),  # BigCode
        ({}, None),
        ({"kernelspec": {"name": "kotlin", "language": "kotlin"}}, None),  # Jupytext has no Kotlin scripts
    ],
)
def test_script_language_from_metadata(metadata, expected):
    found = languages.from_metadata(metadata)
    assert (found and tuple(found)) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Python", "Python"),
        ("JavaScript", "JavaScript"),
        ("Shell", "Shell"),
        ("C++", "C++"),
        ("Matlab", "MATLAB"),
        ("C", None),
        ("SQL", None),
        ("HTML", None),  # Guesslang names without a Jupytext script
    ],
)
def test_guessed_names(name, expected):
    found = languages.from_name(name)
    assert (found and found.language) == expected


# ---- scripts ----


def test_python_notebook_becomes_a_light_script_with_header():
    script = to_script(read_notebook(text_of(textwrap_notebook())))
    assert (script.language, script.extension, script.language_source) == ("Python", ".py", "metadata")
    assert script.text.startswith("# ---\n# jupyter:\n")  # Jupytext's YAML header, as in BigCode's scripts
    assert "#       format_name: light\n" in script.text
    assert "# # textwrap\n" in script.text  # markdown as comments
    assert inspect.getsource(textwrap.dedent) in script.text
    compile(script.text, "script.py", "exec")  # the script is Python


def test_script_options_header_and_percent():
    notebook = read_notebook(text_of(textwrap_notebook()))
    script = to_script(notebook, config=ScriptConfig(format_name="percent", header=False))
    assert script.text.startswith("# %% [markdown]\n# # textwrap\n")
    assert "jupytext" not in script.text
    assert notebook.metadata == PYTHON_METADATA  # the caller's notebook is left as it was


def test_r_notebook_becomes_an_r_script():
    script = to_script(read_notebook(text_of(r_notebook())))
    assert (script.language, script.extension) == ("R", ".r")
    assert "# # Linear model on `mtcars`\n" in script.text
    assert all(source in script.text for source in R_CELLS)


def test_no_metadata_uses_the_guesser_on_code_cells():
    notebook = read_notebook(text_of(textwrap_notebook(metadata={})))
    guesser = FixedGuesser("Python", 0.9)
    script = to_script(notebook, guesser)
    assert guesser.asked == [code_text(notebook)]
    assert guesser.asked[0].startswith("import textwrap\ndef dedent(")  # code cells joined by newlines
    assert (script.language, script.extension, script.language_source) == ("Python", ".py", "guess")
    assert not script.text.startswith("# ---")  # no header: BigCode filtered all metadata here


@pytest.mark.parametrize(
    ("guesser", "detail"),
    [
        (None, "no language in metadata; no guesser"),
        (FixedGuesser("Python", 0.49), "no language in metadata; guess=Python p=0.49"),  # below the paper's 0.5
        (FixedGuesser("SQL", 0.97), "no language in metadata; guess=SQL p=0.97 has no script"),
    ],
)
def test_no_language_is_a_failure_with_reason(guesser, detail):
    notebook = read_notebook(text_of(textwrap_notebook(metadata={})))
    with pytest.raises(NotebookError) as caught:
        to_script(notebook, guesser)
    assert (caught.value.reason, caught.value.detail) == ("no_notebook_language", detail)


def test_guess_accepted_at_exactly_half():
    notebook = read_notebook(text_of(textwrap_notebook(metadata={})))
    assert to_script(notebook, FixedGuesser("Python", 0.5)).language == "Python"


def test_known_language_without_script_format_is_not_guessed():
    notebook = read_notebook(text_of(code_notebook("val x = 1\nprintln(x)", KOTLIN_METADATA)))
    guesser = FixedGuesser("Java", 0.99)
    with pytest.raises(NotebookError) as caught:
        to_script(notebook, guesser)
    assert caught.value.reason == "unsupported_notebook_language"
    assert guesser.asked == []


def test_notebook_without_code_has_no_script():
    notebook = read_notebook(
        text_of(
            new_notebook(
                metadata=PYTHON_METADATA,
                cells=[new_markdown_cell(inspect.getdoc(textwrap.fill)), new_code_cell("   \n")],
            )
        )
    )
    with pytest.raises(NotebookError) as caught:
        to_script(notebook)
    assert (caught.value.reason, caught.value.detail) == ("no_code", "cells=2")


# ---- structured ----


def test_structured_triplets_merge_and_keep_the_last_output():
    items = triplets(read_notebook(text_of(textwrap_notebook())))
    dedent_doc, indent_doc = inspect.getdoc(textwrap.dedent), inspect.getdoc(textwrap.indent)
    assert items == [
        {"markdown": f"# textwrap\n\n{inspect.getdoc(textwrap)}", "code": "import textwrap", "output": EMPTY_OUTPUT},
        {
            "markdown": f"## `dedent`\n\n{dedent_doc}",
            "code": inspect.getsource(textwrap.dedent) + "\n" + f"print(dedent({SAMPLE!r}))",  # merged code cells
            "output": textwrap.dedent(SAMPLE).rstrip(),
        },  # the last cell's output
        {
            "markdown": f"## `indent`\n\n{indent_doc}",
            "code": inspect.getsource(textwrap.indent) + "\nindent('a\\nb', '> ')",
            "output": "'> a\\n> b'",
        },
    ]


def test_structured_edges():
    notebook = new_notebook(
        metadata=PYTHON_METADATA,
        cells=[
            new_code_cell("import textwrap", outputs=[new_output("stream", name="stdout", text="loaded\n")]),
            new_markdown_cell("## Wrapping\n\n- `wrap`: a list of lines"),
            new_raw_cell("raw cells are not markdown"),
            new_markdown_cell("<b>HTML</b> stays"),
            new_code_cell(
                "textwrap.wrap('a b', 1)",
                outputs=[new_output("execute_result", data={"text/plain": "['a', 'b']"}, execution_count=2)],
            ),
            new_code_cell(""),  # blank cells are skipped: they do not split or end blocks
            new_code_cell("textwrap.shorten('Hello  world!', width=0)", outputs=[]),
            new_markdown_cell("The end."),
        ],
    )
    assert triplets(read_notebook(text_of(notebook))) == [
        {"markdown": None, "code": "import textwrap", "output": "loaded"},  # a leading code block is kept
        {
            "markdown": "## Wrapping\n\n- `wrap`: a list of lines\n\n<b>HTML</b> stays",  # markdown structure kept
            "code": "textwrap.wrap('a b', 1)\ntextwrap.shorten('Hello  world!', width=0)",
            "output": EMPTY_OUTPUT,
        },  # the last cell had no output: earlier outputs are not used
        {"markdown": "The end.", "code": None, "output": None},  # a trailing markdown block is kept
    ]


def test_output_text_rendering():
    try:
        textwrap.shorten("Hello  world!", width=0)
    except ValueError as exc:
        error = new_output(
            "error",
            ename=type(exc).__name__,
            evalue=str(exc),
            traceback=["\x1b[0;31m---------\x1b[0m", f"ValueError: {exc}"],
        )
        raised = f"ValueError: {exc}"
    outputs = [
        new_output("stream", name="stdout", text="wrapping "),
        new_output("stream", name="stdout", text="\x1b[1mdone\x1b[0m\n"),  # chunks of one stream join as written
        new_output("stream", name="stderr", text="DeprecationWarning: x"),
        new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/html": "<img>"}),  # nothing as text
        new_output("display_data", data={"text/plain": "<Figure size 640x480 with 1 Axes>", "image/png": "iVBO"}),
        error,
    ]
    assert output_text(outputs) == (
        f"wrapping done\nDeprecationWarning: x\n<Figure size 640x480 with 1 Axes>\n{raised}"
    )
    assert output_text([]) == EMPTY_OUTPUT
    assert output_text([new_output("display_data", data={"image/png": "iVBO"})]) == EMPTY_OUTPUT
    assert output_text([new_output("stream", name="stdout", text="\n\n")]) == EMPTY_OUTPUT


def test_render_training_text():
    items = [
        {"markdown": None, "code": "import textwrap\n", "output": EMPTY_OUTPUT},
        {"markdown": "## Wrap\n", "code": "print(x)", "output": "y" * 1_001},
        {"markdown": "The end.", "code": None, "output": None},
    ]
    assert render(items) == (
        "<jupyter_start><jupyter_code>import textwrap<jupyter_output><empty_output>"
        f"<jupyter_text>## Wrap<jupyter_code>print(x)<jupyter_output>{'y' * 1_000}[...]"
        "<jupyter_text>The end."
    )


# ---- the stage ----


def test_convert_core():
    notebook = record("docs/textwrap.ipynb", text_of(textwrap_notebook()), "Jupyter Notebook")
    script_record, structured = convert(notebook, None)
    assert (script_record.path, script_record.language, script_record.extension) == (
        "docs/textwrap.ipynb",
        "Python",
        "py",
    )
    assert script_record.blob_id == notebook.blob_id
    assert script_record.length_bytes == len(script_record.content.encode())
    assert script_record.num_lines == len(script_record.content.splitlines())
    assert structured.content.startswith("<jupyter_start><jupyter_text># textwrap\n")
    assert json.loads(structured.cells) == triplets(read_notebook(notebook.content))

    r_script, r_structured = convert(record("r/lm.ipynb", text_of(r_notebook()), "Jupyter Notebook"), None)
    assert (r_script.language, r_script.extension, r_structured) == ("R", "r", None)  # structured: Python only
    guessed = convert(
        record("nb.ipynb", text_of(textwrap_notebook(metadata={})), "Jupyter Notebook"), FixedGuesser("Python", 0.8)
    )
    assert guessed[0].language == "Python" and guessed[1] is None  # structured: per metadata only
    assert convert(
        record("e.ipynb", text_of(new_notebook(metadata=PYTHON_METADATA)), "Jupyter Notebook"), None
    ) == Drop("no_code", "cells=0")
    assert isinstance(convert(record("t.ipynb", "{", "Jupyter Notebook"), None), Fail)


def test_convert_notebooks_routes_each_output():
    python_nb = record("docs/textwrap.ipynb", text_of(textwrap_notebook()), "Jupyter Notebook")
    r_nb = record("r/lm.ipynb", text_of(r_notebook()), "Jupyter Notebook")
    bare_nb = record("bare.ipynb", text_of(textwrap_notebook(metadata={})), "Jupyter Notebook")
    corrupt = record("broken.ipynb", text_of(textwrap_notebook())[:500], "Jupyter Notebook")
    source = inspect.getsource(textwrap)
    python_file = record("textwrap.py", source, "Python")
    json_file = record("data.ipynb.json", text_of(r_notebook()), "JSON")  # notebook JSON, but not a notebook file
    inputs = [python_nb, r_nb, bare_nb, corrupt, python_file, json_file]
    with BeamTestPipeline() as p:
        out = p | beam.Create(inputs) | ConvertNotebooks(NotebooksConfig(), guesser=FixedGuesser("Python", 0.75))
        assert_that(out["kept"], equal_to(inputs), label="AllKept")
        assert_that(
            out["scripts"] | beam.Map(lambda r: (r.path, r.language, r.extension, r.blob_id)),
            equal_to(
                [
                    ("docs/textwrap.ipynb", "Python", "py", python_nb.blob_id),
                    ("r/lm.ipynb", "R", "r", r_nb.blob_id),
                    ("bare.ipynb", "Python", "py", bare_nb.blob_id),
                ]
            ),
            label="Scripts",
        )
        assert_that(
            out["structured"] | beam.Map(lambda r: (type(r).__name__, r.path, r.language)),
            equal_to([("StructuredNotebook", "docs/textwrap.ipynb", "Python")]),
            label="Structured",
        )
        assert_that(
            out["dropped"] | beam.Map(lambda d: (d.path, d.stage, d.outcome, d.reason, d.detail[:16])),
            equal_to([("broken.ipynb", STAGE, "failed", "notebook_parse_error", "JSONDecodeError:")]),
            label="Dropped",
        )


def test_structured_row_schema():
    assert list(StructuredNotebook._fields) == ["blob_id", "repo_name", "path", "language", "cells", "content"]


# ---- Guesslang (optional: TensorFlow) ----


def test_guesslang_guesser_checks_its_model_folder(tmp_path):
    with pytest.raises(StackV2Error, match="no saved_model.pb"):
        GuesslangGuesser(str(tmp_path)).check()
    with pytest.raises(StackV2Error, match="no saved_model.pb"):
        ConvertNotebooks(NotebooksConfig(guesslang_model=str(tmp_path)))  # fails before any record


def test_guesslang_guesser_without_tensorflow(tmp_path, monkeypatch):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)  # as where TensorFlow is absent
    with pytest.raises(StackV2Error, match=r"TensorFlow is not installed; pip install 'tensorflow-cpu"):
        GuesslangGuesser(str(tmp_path)).check()


@pytest.fixture(scope="session")
def guesslang_dir(request, tmp_path_factory):
    pytest.importorskip(
        "tensorflow", reason="TensorFlow not installed (optional: pip install 'tensorflow-cpu==2.21.*')"
    )
    from stack_v2.notebooks.guesslang_model import fetch_model

    if os.environ.get("STACK_V2_GUESSLANG_MODEL"):  # an extracted model folder: no download
        return os.environ["STACK_V2_GUESSLANG_MODEL"]
    cache = getattr(request.config, "cache", None)  # pytest's cache survives runs: one pip download
    root = cache.mkdir("guesslang") if cache is not None else tmp_path_factory.mktemp("guesslang")
    return fetch_model(str(root))


def _package_file(package: str, relative: str) -> str:
    path = importlib.resources.files(package).joinpath(relative)
    if not path.is_file():
        pytest.skip(f"{package} ships no {relative} here")
    return path.read_text(encoding="utf-8")


def test_guesslang_on_real_code(guesslang_dir):
    guesser = GuesslangGuesser(guesslang_dir)
    guesser.check()
    python = inspect.getsource(json.decoder)
    javascript = _package_file("werkzeug", "debug/shared/debugger.js")  # werkzeug: via moto[server]
    c = _package_file("numpy.f2py", "src/fortranobject.c")
    for code, language in ((python, "Python"), (javascript, "JavaScript"), (c, "C")):
        name, probability = guesser.guess(code)
        assert name == language and probability >= 0.5, (language, name, probability)

    as_script = [to_script(read_notebook(text_of(code_notebook(code))), guesser) for code in (python, javascript)]
    assert [(s.language, s.extension, s.language_source) for s in as_script] == [
        ("Python", ".py", "guess"),
        ("JavaScript", ".js", "guess"),
    ]
    with pytest.raises(NotebookError, match=r"guess=C p=\d\.\d\d has no script"):  # Jupytext writes no C scripts
        to_script(read_notebook(text_of(code_notebook(c))), guesser)


def test_convert_notebooks_with_guesslang_model(guesslang_dir):
    javascript = _package_file("werkzeug", "debug/shared/debugger.js")
    bare = record("static/debugger.ipynb", text_of(code_notebook(javascript)), "Jupyter Notebook")
    with BeamTestPipeline() as p:
        out = p | beam.Create([bare]) | ConvertNotebooks(NotebooksConfig(guesslang_model=guesslang_dir))
        assert_that(
            out["scripts"] | beam.Map(lambda r: (r.path, r.language, r.extension)),
            equal_to([("static/debugger.ipynb", "JavaScript", "js")]),
        )
