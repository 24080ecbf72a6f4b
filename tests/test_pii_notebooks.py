"""PII in Jupyter notebooks: the pii stage redacts the text of cells and outputs (not the JSON that escapes it),
the notebook stays valid and keeps its JSON style, and the notebooks stage's script and structured forms, made
after it, hold no secret. Notebooks are built with nbformat from the source of installed modules, with outputs
made by running that code, a real PNG from ScanCode's data, and secrets in each provider's real format."""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import inspect
import json
import random
import string
import textwrap

import apache_beam as beam
import nbformat
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from occurrences import occurrence

from stack_v2.pii import counts_json, find_pii, redact
from stack_v2.stages.base import ApplyCore
from stack_v2.stages.notebooks import ConvertNotebooks, NotebooksConfig, convert
from stack_v2.stages.pii import STAGE, core_factory, make_redactor
from stack_v2.stages.select_repos import record_from_occurrence

PYTHON_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "file_extension": ".py", "mimetype": "text/x-python", "version": "3.11.7"},
}
_rng = random.Random(14)
AWS_ID = "AKIA" + "".join(_rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
AWS_SECRET = "".join(_rng.choice(string.ascii_letters + string.digits + "+") for _ in range(40))
PASSWORD = "Tr0ub4dor&3" + "".join(_rng.choice(string.ascii_letters) for _ in range(4))
DB_PASSWORD = "#kjcbhgQ%kxjVbbciV"
MAINTAINER = "jane.doe@acme-robotics.com"
SECRETS = {
    AWS_ID: "<KEY>",
    AWS_SECRET: "<KEY>",
    PASSWORD: "<PASSWORD>",
    DB_PASSWORD: "<PASSWORD>",
    MAINTAINER: "<EMAIL>",
}
SAMPLE = "    def f():\n        return 1\n"


def _png() -> str:
    png = importlib.resources.files("licensedcode").joinpath("static/images/sort_both.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")  # scancode-toolkit, a dependency, ships it
    return base64.b64encode(png).decode()


def secret_notebook():
    """A ``textwrap`` tutorial (its docstrings, source and real outputs) whose setup cell holds credentials."""
    setup = (
        f'import os\n\nAWS_ACCESS_KEY_ID = "{AWS_ID}"\nAWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"\n'
        f'DB_PASSWORD = "{DB_PASSWORD}"\npassword = "{PASSWORD}"\nprint(password)'
    )
    return new_notebook(
        metadata=PYTHON_METADATA,
        cells=[
            new_markdown_cell(f"# textwrap\n\nMaintainer: Jane Doe <{MAINTAINER}>\n\n{inspect.getdoc(textwrap)}"),
            new_code_cell(setup, outputs=[new_output("stream", name="stdout", text=PASSWORD + "\n")]),
            new_code_cell(inspect.getsource(textwrap.dedent)),
            new_code_cell(
                f"print(dedent({SAMPLE!r}))",
                outputs=[new_output("stream", name="stdout", text=textwrap.dedent(SAMPLE) + "\n")],
            ),
            new_code_cell(
                "from IPython.display import Image\nImage('sort_both.png')",
                outputs=[
                    new_output(
                        "display_data", data={"image/png": _png(), "text/plain": "<IPython.core.display.Image object>"}
                    )
                ],
            ),
        ],
    )


def clean_notebook():
    return new_notebook(
        metadata=PYTHON_METADATA,
        cells=[
            new_markdown_cell(f"## `indent`\n\n{inspect.getdoc(textwrap.indent)}"),
            new_code_cell(inspect.getsource(textwrap.indent)),
            new_code_cell(
                "indent('a\\nb', '> ')",
                outputs=[
                    new_output(
                        "execute_result", data={"text/plain": repr(textwrap.indent("a\nb", "> "))}, execution_count=3
                    )
                ],
            ),
        ],
    )


def record(path: str, content: str):
    """A decoded notebook record as the build has it after the language stage."""
    occ = occurrence("real/notebooks", path, content.encode())
    return record_from_occurrence(occ, None)._replace(content=content, language="Jupyter Notebook")


def replaced(text: str) -> str:
    for secret, placeholder in SECRETS.items():
        text = text.replace(secret, placeholder)
    return text


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert not [secret for secret in SECRETS if secret in text]


def test_cells_and_outputs_are_redacted_and_the_notebook_stays_as_written():
    text = nbformat.writes(secret_notebook())
    redacted, counts = redact(text, seed_key="b" * 40, path="tutorials/textwrap.ipynb")
    assert redacted == replaced(text)  # nbformat's own style (indent 1, key order, line lists); the PNG untouched
    assert counts == {"email": 1, "key": 2, "password": 3}  # the printed password too
    notebook = nbformat.reads(redacted, as_version=4)
    nbformat.validate(notebook)
    setup = notebook.cells[1]
    assert 'AWS_SECRET_ACCESS_KEY = "<KEY>"\nDB_PASSWORD = "<PASSWORD>"\npassword = "<PASSWORD>"\n' in setup.source
    assert setup.outputs[0].text == "<PASSWORD>\n"
    assert "Jane Doe <<EMAIL>>" in notebook.cells[0].source
    assert redact(redacted, seed_key="b" * 40, path="tutorials/textwrap.ipynb") == (redacted, {})


def test_notebook_without_pii_is_unchanged():
    text = nbformat.writes(clean_notebook())
    assert redact(text, seed_key="c" * 40, path="indent.ipynb") == (text, {})


@pytest.mark.parametrize("style", [{"indent": 2, "ensure_ascii": True}, {"indent": 4, "ensure_ascii": False}, {}])
def test_other_json_styles_are_kept(style):
    data = json.loads(nbformat.writes(secret_notebook()))  # written again by another tool, in another style
    data["cells"][0]["source"].append("\nMerci, café crème.\n")  # non-ASCII: escaped or not, as the file had it
    text = json.dumps(data, **style)
    assert redact(text, seed_key="d" * 40, path="nb.ipynb")[0] == replaced(text)


def test_private_key_over_several_lines_keeps_the_line_list():
    body = [base64.b64encode(hashlib.sha512(f"{i}".encode()).digest()).decode()[:64] for i in range(5)]
    key = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END RSA PRIVATE KEY-----"
    text = nbformat.writes(new_notebook(metadata=PYTHON_METADATA, cells=[new_code_cell(f'KEY = """{key}"""\n')]))
    redacted, counts = redact(text, seed_key="e" * 40, path="keys.ipynb")
    before, after = json.loads(text)["cells"][0]["source"], json.loads(redacted)["cells"][0]["source"]
    assert len(after) == len(before)
    assert "".join(after) == 'KEY = """-----BEGIN RSA PRIVATE KEY-----\n<KEY>\n-----END RSA PRIVATE KEY-----"""\n'
    assert counts == {"key": 1}


def test_nbformat3_input_is_redacted():
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": ""},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "language": "python",
                        "input": [f'password = "{PASSWORD}"\n', "login(password)"],
                        "prompt_number": 1,
                        "metadata": {},
                        "outputs": [],
                    },
                ]
            }
        ],
    }
    text = json.dumps(v3, indent=1)
    redacted, counts = redact(text, seed_key="f" * 40, path="old.ipynb")
    assert redacted == replaced(text) and counts == {"password": 1}
    assert nbformat.reads(redacted, as_version=4).cells[0].source == 'password = "<PASSWORD>"\nlogin(password)'


def test_text_that_is_not_a_notebook_is_redacted_as_plain_text():
    truncated = nbformat.writes(secret_notebook())[:900]  # a cut download: the markdown cell and the setup cell
    assert MAINTAINER in truncated
    redacted, counts = redact(truncated, seed_key="a" * 40, path="cut.ipynb")
    assert (redacted, counts) == redact(truncated, seed_key="a" * 40, path="cut.txt")
    assert MAINTAINER not in redacted and counts["email"] == 1


def test_scripts_and_structured_forms_hold_no_secret_a_py_file_would_lose():
    raw = record("tutorials/textwrap.ipynb", nbformat.writes(secret_notebook()))
    clean = make_redactor()(raw)
    assert clean.content == redact(raw.content, seed_key=raw.blob_id, path=raw.path)[0]  # reproducible from the blob
    assert clean.pii_redactions == counts_json({"email": 1, "key": 2, "password": 3})
    script, structured = convert(clean, None)
    assert_no_secret(clean.content, script.content, structured.content, structured.cells)
    assert 'DB_PASSWORD = "<PASSWORD>"' in script.content and 'DB_PASSWORD = "<PASSWORD>"' in structured.content
    # whatever redaction finds in the original notebook's script as a .py, none of it is left
    original_script, original_structured = convert(raw, None)
    lost = {span.value for span in find_pii(original_script.content, path="textwrap.py")}
    lost |= {span.value for span in find_pii(original_structured.content, path="textwrap.py")}
    assert lost and not [v for v in lost if v in clean.content + script.content + structured.content]


def test_pii_then_notebooks_stage_in_a_pipeline():
    notebooks = [
        record("tutorials/textwrap.ipynb", nbformat.writes(secret_notebook())),
        record("tutorials/indent.ipynb", nbformat.writes(clean_notebook())),
    ]
    with BeamTestPipeline() as p:
        redacted = (p | beam.Create(notebooks) | "Pii" >> ApplyCore(STAGE, core_factory()))["kept"]
        out = redacted | ConvertNotebooks(NotebooksConfig())
        secrets = beam.Map(lambda text: sorted(secret for secret in SECRETS if secret in text))
        for name, texts in (
            ("Data", out["kept"] | "DataText" >> beam.Map(lambda r: r.content)),
            ("Scripts", out["scripts"] | "ScriptText" >> beam.Map(lambda r: r.content)),
            ("Structured", out["structured"] | "StructuredText" >> beam.Map(lambda r: r.content + r.cells)),
        ):
            assert_that(texts | f"{name}Secrets" >> secrets, equal_to([[], []]), label=f"{name}HoldsNoSecret")
        assert_that(
            out["kept"] | beam.Map(lambda r: (r.path, r.pii_redactions)),
            equal_to(
                [("tutorials/textwrap.ipynb", '{"email":1,"key":2,"password":3}'), ("tutorials/indent.ipynb", None)]
            ),
            label="Counts",
        )
