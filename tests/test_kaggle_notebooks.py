"""The Kaggle source's pure core (stack_v2.kaggle): StarCoder2's rules for Kaggle notebooks, one case each.

The notebooks are real (nbclient's test notebooks, tests/data/kaggle/README.md), placed in a Meta Kaggle
Code tree under made-up kernel version ids; the metadata tables are written in Meta Kaggle's column layout.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pytest

from stack_v2.kaggle import (
    DatasetVersion,
    KaggleConfig,
    KaggleScript,
    KernelMetadata,
    KernelVersion,
    dataset_block,
    decide_kaggle_notebook,
    index_tables,
    kernel_metadata,
    kernel_version_id,
    notebook_path,
    read_rows,
    strip_template,
)
from stack_v2.notebooks import read_notebook
from stack_v2.notebooks.script import ScriptConfig, to_script
from stack_v2.verdicts import Drop, Fail

DATA = Path(__file__).parent / "data" / "kaggle" / "nbclient"
PARALLEL = (DATA / "parallel_execute_a.json").read_text(encoding="utf-8")  # Python kernelspec, markdown + code
CLEAR_OUTPUT = (DATA / "clear_output.json").read_text(encoding="utf-8")  # Python kernelspec, 12 code cells
HELLO = (DATA / "hello_world.json").read_text(encoding="utf-8")  # no metadata, one print

# Kaggle's starter cell as its notebook editor writes it (2020 on), and an older one (2017-2019).
KAGGLE_STARTER = """\
# This Python 3 environment comes with many helpful analytics libraries installed
# It is defined by the kaggle/python Docker image: https://github.com/kaggle/docker-python
# For example, here's several helpful packages to load

import numpy as np # linear algebra
import pandas as pd # data processing, CSV file I/O (e.g. pd.read_csv)

# Input data files are available in the read-only "../input/" directory
# For example, running this (by clicking run or pressing Shift+Enter) will list all files under the input directory

import os
for dirname, _, filenames in os.walk('/kaggle/input'):
    for filename in filenames:
        print(os.path.join(dirname, filename))

# You can write up to 20GB to the current directory (/kaggle/working/) that gets preserved as output when \
you create a version using "Save & Run All"
# You can also write temporary files to /kaggle/temp/, but they won't be saved outside of the current session"""
OLD_KAGGLE_STARTER = """\
# This Python 3 environment comes with many helpful analytics libraries installed

# It is defined by the kaggle/python docker image: https://github.com/kaggle/docker-python

# For example, here's several helpful packages to load in \n\n\n
import numpy as np # linear algebra

import pandas as pd # data processing, CSV file I/O (e.g. pd.read_csv)

# Input data files are available in the "../input/" directory.
# For example, running this (by clicking run or pressing Shift+Enter) will list the files in the input directory

from subprocess import check_output
print(check_output(["ls", "../input"]).decode("utf8"))

# Any results you write to the current directory are saved as output."""
STARTER_COMMENT_WORDS = ("helpful analytics", "docker-python", "Shift+Enter", "/kaggle/temp/", "saved as output")

KERNEL_VERSIONS_HEADER = (
    "Id,ScriptId,ParentScriptVersionId,ScriptLanguageId,AuthorUserId,CreationDate,VersionNumber,Title,"
    "EvaluationDate,IsChange,TotalLines,LinesInsertedFromPrevious,LinesChangedFromPrevious,"
    "LinesUnchangedFromPrevious,LinesInsertedFromFork,LinesDeletedFromFork,LinesChangedFromFork,"
    "LinesUnchangedFromFork,TotalVotes"
)
DATASET_VERSIONS_HEADER = (
    "Id,DatasetId,DatasourceVersionId,CreatorUserId,LicenseName,CreationDate,VersionNumber,Title,Slug,"
    "Subtitle,Description,VersionNotes,TotalCompressedBytes,TotalUncompressedBytes"
)
# nbclient's description of itself (its PKG-INFO), as a dataset's text.
NBCLIENT_DESCRIPTION = (
    "NBClient lets you **execute** notebooks.\n\nA client library for programmatic notebook execution, "
    'NBClient is a tool for running Jupyter Notebooks in different execution contexts, including the "command line".'
)


def _csv(header: str, rows: list[list]) -> list[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return out.getvalue().splitlines(keepends=True)


def _kernel_row(version_id, script_id, language_id=2) -> list:
    return [version_id, script_id, "", language_id, 99, "06/01/2021 10:00:00", 1, "Parallel", "", True] + [""] * 9


def _dataset_row(version_id, dataset_id, title, subtitle, description) -> list:
    slug = title.lower().replace(" ", "-")
    meta = [version_id, dataset_id, "", 99, "CC0: Public Domain", "05/01/2021", 3.0, title, slug, subtitle]
    return meta + [description, "", 1000, 2000]


def _tables():
    kernel_versions = _csv(KERNEL_VERSIONS_HEADER, [_kernel_row(123, 45), _kernel_row(124, 46, 9)])
    languages = _csv("Id,Name,DisplayName,IsNotebook", [[2, "Python", "Python", True], [9, "Python", "Python", True]])
    sources = _csv("Id,KernelVersionId,SourceDatasetVersionId", [[1, 123, 501], [2, 123, 502], [3, 124, 777]])
    datasets = _csv(
        DATASET_VERSIONS_HEADER,
        [
            _dataset_row(501, 51, "NBClient", "Executing notebooks", NBCLIENT_DESCRIPTION),
            _dataset_row(502, 52, "Parallel runs", "", "Two kernels, one lock file."),
        ],
    )
    return kernel_versions, languages, sources, datasets


def _index():
    kernel_versions, languages, sources, datasets = _tables()
    return index_tables(
        read_rows(kernel_versions, "KernelVersions"),
        read_rows(sources, "KernelVersionDatasetSources"),
        read_rows(datasets, "DatasetVersions"),
        read_rows(languages, "KernelLanguages"),
    )


def _with_cells(text: str, *sources: str, at: int = 0, metadata: dict | None = None) -> str:
    notebook = json.loads(text)
    for offset, source in enumerate(sources):
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
        notebook["cells"].insert(at + offset, cell)
    if metadata is not None:
        notebook["metadata"] = metadata
    return json.dumps(notebook)


PYTHON = KernelMetadata(KernelVersion(123, 45, "Python"))


# --- layout and metadata ---------------------------------------------------------------------------


def test_kernel_version_ids_come_from_meta_kaggle_code_file_names():
    assert notebook_path(123456789) == "0123/456/123456789.ipynb"
    assert notebook_path(123) == "0000/000/123.ipynb"
    assert kernel_version_id("meta-kaggle-code/0123/456/123456789.ipynb") == 123456789
    for path in ("0000/000/123.py", "0000/000/abc.ipynb", "0000/000/.ipynb", "0000/000/-1.ipynb"):
        assert kernel_version_id(path) is None
    assert decide_kaggle_notebook("0000/000/notebook.ipynb", PARALLEL, PYTHON) == Fail(
        "kaggle_path_without_id", "file name is not <kernel version id>.ipynb"
    )


def test_tables_join_a_kernel_version_to_its_script_language_and_datasets():
    found = _index().lookup(123)
    assert found.kernel == KernelVersion(123, 45, "Python")
    assert found.dataset_version_ids == (501, 502)
    assert [(d.id, d.dataset_id, d.title) for d in found.datasets] == [
        (501, 51, "NBClient"),
        (502, 52, "Parallel runs"),
    ]
    assert found.datasets[0].description == NBCLIENT_DESCRIPTION  # quoted newlines and commas survive the CSV
    assert _index().lookup(999) == KernelMetadata()


def test_a_table_without_a_required_column_is_named():
    rows = _csv("Id,ScriptLanguageId", [[1, 2]])
    with pytest.raises(ValueError, match="KernelVersions.csv has no column ScriptId"):
        list(read_rows(rows, "KernelVersions"))


def test_ids_written_as_floats_read_as_integers_and_bad_ids_are_skipped():
    rows = [{"Id": "123.0", "ScriptId": "45.0"}, {"Id": "", "ScriptId": "1"}, {"Id": "x", "ScriptId": "1"}]
    index = index_tables(rows)
    assert index.kernels == {123: KernelVersion(123, 45, None)}


# --- the rules ---------------------------------------------------------------------------------------


def test_a_kept_notebook_is_its_script_after_its_datasets_title_and_description():
    result = decide_kaggle_notebook(notebook_path(123), PARALLEL, _index().lookup(123))
    assert isinstance(result, KaggleScript)
    assert (result.kernel_version_id, result.script_id) == (123, 45)
    assert (result.dataset_version_ids, result.dataset_ids) == ((501, 502), (51, 52))
    assert (result.language, result.extension, result.template) == ("Python", ".py", "")
    head, script = result.content.split("\n\n# # Ensure notebooks", 1)
    assert head.splitlines() == [
        "# Dataset: NBClient",
        "# Executing notebooks",
        "#",
        "# NBClient lets you **execute** notebooks.",
        "#",
        "# A client library for programmatic notebook execution, NBClient is a tool for running Jupyter Notebooks "
        'in different execution contexts, including the "command line".',
        "#",
        "# Dataset: Parallel runs",
        "#",
        "# Two kernels, one lock file.",
    ]
    assert 'this_notebook = "A"' in script and "while time.time() < end:" in script
    assert not result.content.startswith("# ---")  # no Jupytext YAML header by default
    assert len(result.content) - result.script_chars == len(head) + 2
    compile(result.content, "kept", "exec")  # the comment block leaves it valid Python


def test_without_dataset_sources_the_script_stands_alone():
    result = decide_kaggle_notebook(notebook_path(123), PARALLEL, PYTHON)
    assert result.content.startswith("# # Ensure notebooks can execute in parallel\n")
    assert result.dataset_version_ids == result.dataset_ids == ()
    assert result.script_chars == len(result.content)


def test_missing_metadata_keeps_the_notebook_with_what_is_known():
    # Version 124 links to dataset version 777, which DatasetVersions does not have; 300 is in no table.
    linked_to_missing = decide_kaggle_notebook(notebook_path(124), PARALLEL, _index().lookup(124))
    assert (linked_to_missing.script_id, linked_to_missing.dataset_version_ids) == (46, (777,))
    assert linked_to_missing.dataset_ids == ()
    assert linked_to_missing.content.startswith("# # Ensure notebooks")
    unknown = decide_kaggle_notebook(notebook_path(300), PARALLEL, _index().lookup(300))
    assert (unknown.kernel_version_id, unknown.script_id, unknown.dataset_version_ids) == (300, None, ())
    # The notebook's own metadata names Python; without it and without a KernelVersions row, no language.
    assert decide_kaggle_notebook(notebook_path(300), HELLO, _index().lookup(300)) == Fail(
        "no_notebook_language", "no language in metadata; no guesser"
    )


def test_the_kernel_language_from_the_tables_converts_a_notebook_without_language_metadata():
    long_hello = _with_cells(HELLO, "for name in sorted(globals()):\n    print(name, type(globals()[name]).__name__)")
    long_hello = _with_cells(long_hello, "import sys\nprint(sys.version_info, sys.platform, sys.executable)", at=1)
    result = decide_kaggle_notebook(notebook_path(124), long_hello, _index().lookup(124))
    assert (result.language, result.extension) == ("Python", ".py")
    assert 'print("Hello World")' in result.content


def test_scripts_of_100_characters_or_fewer_are_dropped():
    assert decide_kaggle_notebook(notebook_path(1), HELLO, PYTHON) == Drop("script_too_short", "21 chars <= 100")
    # At the limit: a script of exactly min_chars characters goes, one more keeps it.
    size = decide_kaggle_notebook(notebook_path(1), PARALLEL, PYTHON).script_chars
    assert decide_kaggle_notebook(notebook_path(1), PARALLEL, PYTHON, KaggleConfig(min_chars=size)) == Drop(
        "script_too_short", f"{size} chars <= {size}"
    )
    assert isinstance(
        decide_kaggle_notebook(notebook_path(1), PARALLEL, PYTHON, KaggleConfig(min_chars=size - 1)), KaggleScript
    )


def test_scripts_over_5_000_000_characters_are_dropped():
    notebook = json.loads(CLEAR_OUTPUT)
    loop = "".join(notebook["cells"][1]["source"]) + "\n"  # for i in range(10): clear_output(); print(i)
    huge = _with_cells(CLEAR_OUTPUT, loop * (5_000_000 // len(loop) + 1))
    result = decide_kaggle_notebook(notebook_path(1), huge, PYTHON)
    assert result.reason == "script_too_long" and isinstance(result, Drop)
    assert int(result.detail.split()[0]) > 5_000_000
    size = decide_kaggle_notebook(notebook_path(1), CLEAR_OUTPUT, PYTHON).script_chars
    assert (
        decide_kaggle_notebook(notebook_path(1), CLEAR_OUTPUT, PYTHON, KaggleConfig(max_chars=size)).script_chars
        == size
    )
    assert decide_kaggle_notebook(notebook_path(1), CLEAR_OUTPUT, PYTHON, KaggleConfig(max_chars=size - 1)).reason == (
        "script_too_long"
    )


def test_bigcodes_cap_on_the_notebook_json_is_optional():
    cap = KaggleConfig(max_notebook_chars=len(CLEAR_OUTPUT) - 1)
    assert decide_kaggle_notebook(notebook_path(1), CLEAR_OUTPUT, PYTHON, cap) == Drop(
        "notebook_too_large", f"{len(CLEAR_OUTPUT)} chars > {len(CLEAR_OUTPUT) - 1}"
    )
    assert isinstance(decide_kaggle_notebook(notebook_path(1), CLEAR_OUTPUT, PYTHON), KaggleScript)


def test_python_scripts_that_do_not_compile_are_dropped_with_the_line_only():
    python2 = CLEAR_OUTPUT.replace('print(\\"Hello world\\", end=\\"\\")', 'print \\"Hello world\\",')
    assert python2 != CLEAR_OUTPUT
    result = decide_kaggle_notebook(notebook_path(1), python2, PYTHON)
    line = _line_of(python2, 'print "Hello world",')
    assert result == Drop("syntax_error", f"SyntaxError at line {line}")
    unclosed = CLEAR_OUTPUT.replace("for i in range(10):", "for i in range(10:")
    assert decide_kaggle_notebook(notebook_path(1), unclosed, PYTHON).reason == "syntax_error"


def _line_of(text: str, needle: str) -> int:
    lines = to_script(read_notebook(text), config=ScriptConfig(header=False)).text.splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(needle))


def test_magics_and_shell_escapes_compile_as_jupytext_comments_them_out():
    with_magics = _with_cells(PARALLEL, "%matplotlib inline\n!pip install nbclient", at=1)
    result = decide_kaggle_notebook(notebook_path(1), with_magics, PYTHON)
    assert "# %matplotlib inline" in result.content and "# !pip install nbclient" in result.content


def test_only_the_selected_languages_are_kept():
    assert decide_kaggle_notebook(notebook_path(1), PARALLEL, PYTHON, KaggleConfig(languages=frozenset({"R"}))) == Drop(
        "language_not_selected", "Python"
    )
    assert isinstance(
        decide_kaggle_notebook(notebook_path(1), PARALLEL, PYTHON, KaggleConfig(languages=frozenset())), KaggleScript
    )


def test_unreadable_notebooks_fail_and_empty_ones_are_dropped():
    assert decide_kaggle_notebook(notebook_path(1), PARALLEL[:500], PYTHON).reason == "notebook_parse_error"
    assert isinstance(decide_kaggle_notebook(notebook_path(1), PARALLEL[:500], PYTHON), Fail)
    only_starter = _with_cells(json.dumps({**json.loads(PARALLEL), "cells": []}), KAGGLE_STARTER)
    assert decide_kaggle_notebook(notebook_path(1), only_starter, PYTHON) == Drop("no_code", "cells=0")


# --- Kaggle's starter cell ---------------------------------------------------------------------------


def _plain(text: str) -> KaggleScript:
    return decide_kaggle_notebook(notebook_path(1), text, PYTHON)


@pytest.mark.parametrize("starter", [KAGGLE_STARTER, OLD_KAGGLE_STARTER], ids=["2020", "2017"])
def test_the_unmodified_starter_cell_is_removed(starter):
    result = _plain(_with_cells(PARALLEL, starter, at=1))
    assert result.template == "cell"
    assert result.content == _plain(PARALLEL).content
    assert "os.walk" not in result.content and "check_output" not in result.content


def test_a_starter_cell_the_author_built_on_keeps_its_code_but_loses_kaggles_comments():
    built_on = KAGGLE_STARTER.replace("import os\n", "import os\nimport seaborn as sns\n")
    result = _plain(_with_cells(PARALLEL, built_on, at=1))
    assert result.template == "header"
    assert not any(word in result.content for word in STARTER_COMMENT_WORDS)
    for kept in ("import numpy as np # linear algebra", "import seaborn as sns", "os.walk('/kaggle/input')"):
        assert kept in result.content
    compile(result.content, "built_on", "exec")


def test_the_starter_is_recognised_only_at_the_top_of_a_cell():
    quoted = "# Kaggle's starter begins like this:\n" + KAGGLE_STARTER
    result = _plain(_with_cells(PARALLEL, quoted, at=1))
    assert result.template == "" and "helpful analytics libraries" in result.content


def test_stripping_the_template_leaves_the_callers_notebook_unchanged():
    notebook = read_notebook(_with_cells(PARALLEL, KAGGLE_STARTER, at=1))
    before = copy.deepcopy(notebook)
    stripped, removed = strip_template(notebook)
    assert removed == "cell" and len(stripped.cells) == len(notebook.cells) - 1
    assert notebook == before
    assert strip_template(read_notebook(PARALLEL)) == (read_notebook(PARALLEL), "")


# --- the datasets' text ------------------------------------------------------------------------------


def test_dataset_text_shows_each_dataset_once_cleaned_and_in_the_scripts_comment_syntax():
    older = DatasetVersion(501, 51, "NBClient", "", "first version")
    newer = DatasetVersion(503, 51, "NBClient", "", "Executes\x00 notebooks\tfast.")
    empty = DatasetVersion(502, 52, "", "", "")

    found = kernel_metadata(None, [503, 502, 501, 501], {d.id: d for d in (older, newer, empty)})
    assert found.dataset_version_ids == (501, 502, 503)
    assert found.datasets == (empty, newer)  # dataset 51 once, at its latest linked version
    assert dataset_block(found.datasets) == "# Dataset: NBClient\n#\n# Executes notebooks\tfast.\n\n"
    assert dataset_block(found.datasets, comment="//") == "// Dataset: NBClient\n//\n// Executes notebooks\tfast.\n\n"
    assert dataset_block([empty]) == ""


# --- a Meta Kaggle Code tree -------------------------------------------------------------------------


def test_a_meta_kaggle_code_tree_with_its_tables(tmp_path):
    notebooks = {123: PARALLEL, 124: _with_cells(CLEAR_OUTPUT, KAGGLE_STARTER), 125: HELLO}
    for version_id, text in notebooks.items():
        path = tmp_path / notebook_path(version_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    index = _index()
    results = {}
    for path in sorted(tmp_path.rglob("*.ipynb")):
        relative = path.relative_to(tmp_path).as_posix()
        results[relative] = decide_kaggle_notebook(
            relative, path.read_text(encoding="utf-8"), index.lookup(kernel_version_id(relative))
        )
    assert sorted(results) == ["0000/000/123.ipynb", "0000/000/124.ipynb", "0000/000/125.ipynb"]
    assert results["0000/000/123.ipynb"].dataset_ids == (51, 52)
    assert results["0000/000/124.ipynb"].template == "cell"
    assert results["0000/000/125.ipynb"] == Fail("no_notebook_language", "no language in metadata; no guesser")
