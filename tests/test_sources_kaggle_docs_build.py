"""`stack-v2 build --pipeline kaggle-notebooks` and `--pipeline package-docs` end to end on the DirectRunner.

Kaggle: real notebooks (nbclient's test notebooks, tests/data/kaggle) placed in a Meta Kaggle Code tree under kernel
version ids, one with Kaggle's starter template and one copied twice (near-dedup keeps one), with Meta Kaggle's
tables written in their real column layout. Documentation: pluggy's real sdist and wheel from PyPI
(tests/data/package_docs), a corrupt distribution, and ply's real HTML documentation packed into an sdist here."""

from __future__ import annotations

import csv
import io
import json
import shutil
import tarfile
from pathlib import Path

import pyarrow.parquet as pq

from stack_v2.cli import main

KAGGLE = Path(__file__).parent / "data" / "kaggle" / "nbclient"
DOCS = Path(__file__).parent / "data" / "package_docs"
STARTER = (
    "# This Python 3 environment comes with many helpful analytics libraries installed\n"
    "# It is defined by the kaggle/python Docker image: https://github.com/kaggle/docker-python\n"
    "# For example, here's several helpful packages to load\n\n"
    "import numpy as np # linear algebra\n"
    "import pandas as pd # data processing, CSV file I/O (e.g. pd.read_csv)\n"
)


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def test_kaggle_notebooks_build(tmp_path):
    code = tmp_path / "meta-kaggle-code" / "0000" / "000"
    code.mkdir(parents=True)
    parallel = json.loads((KAGGLE / "parallel_execute_a.json").read_text())
    templated = json.loads(json.dumps(parallel))
    templated["cells"].insert(
        0, {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": STARTER}
    )
    (code / "1001.ipynb").write_text(json.dumps(templated))
    (code / "1002.ipynb").write_text(json.dumps(parallel))  # the same script: a near-duplicate of 1001's
    (code / "1003.ipynb").write_text((KAGGLE / "hello_world.json").read_text())  # one print: too short
    (code / "1004.ipynb").write_text("{ not a notebook")
    meta = tmp_path / "meta-kaggle"
    meta.mkdir()
    _csv(
        meta / "KernelVersions.csv",
        ["Id", "ScriptId", "ScriptLanguageId"],
        [[1001, 77, 2], [1002, 78, 2], [1003, 79, 2]],
    )
    _csv(meta / "KernelLanguages.csv", ["Id", "Name"], [[2, "Python"]])
    _csv(
        meta / "KernelVersionDatasetSources.csv", ["Id", "KernelVersionId", "SourceDatasetVersionId"], [[1, 1001, 500]]
    )
    title, description = (
        "Parallel execution traces",
        "Timings of notebook cells run by two kernels at once.\nOne row per cell.",
    )
    _csv(
        meta / "DatasetVersions.csv",
        ["Id", "DatasetId", "Title", "Subtitle", "Description"],
        [[500, 50, title, "", description]],
    )
    out = tmp_path / "kaggle"
    args = [
        "build",
        "--pipeline",
        "kaggle-notebooks",
        "--input",
        str(tmp_path / "meta-kaggle-code"),
        "--input",
        str(meta),
    ]
    assert main([*args, "--output", str(out), "-q"]) == 0
    current = out / "current"
    (row,) = pq.read_table(current / "data").to_pylist()
    assert row["kernel_version_id"] in (1001, 1002) and row["script_language"] == "Python"
    if row["kernel_version_id"] == 1001:  # the survivor is the smaller blob id; either way its text is checked
        assert row["content"].startswith("# Dataset: Parallel execution traces") and row["template"] == "cell"
        assert row["dataset_ids"] == [50] and row["script_id"] == 77
    assert "os.walk" not in row["content"] and "import numpy as np # linear algebra" not in row["content"]
    dropped = {
        (r["path"], r["stage"], r["outcome"], r["reason"]) for r in pq.read_table(current / "dropped").to_pylist()
    }
    assert ("1003.ipynb", "kaggle_notebooks", "dropped", "script_too_short") in dropped
    assert any(p == "1004.ipynb" and o == "failed" for p, _, o, _ in dropped)
    assert {s for _, s, _, r in dropped if r == "near_duplicate"} == {"near_dedup"}
    report = json.loads((current / "report.json").read_text())
    assert report["accounting"] == "ok" and report["stages"][0]["input"]["files"] == 4
    assert "## Kaggle notebooks" in (current / "README.md").read_text()


def test_package_docs_build(tmp_path):
    dists = tmp_path / "dists"
    dists.mkdir()
    for name in ("pluggy-1.5.0.tar.gz", "pluggy-1.5.0-py3-none-any.whl"):
        shutil.copy(DOCS / name, dists / name)
    (dists / "broken-0.1.tar.gz").write_bytes((DOCS / "pluggy-1.5.0.tar.gz").read_bytes()[:2000])
    with tarfile.open(dists / "ply-3.11.tar.gz", "w:gz") as tar:
        for path in sorted((DOCS / "ply-3.11").rglob("*")):
            if path.is_file():
                tar.add(path, arcname=f"ply-3.11/{path.relative_to(DOCS / 'ply-3.11')}")
    out = tmp_path / "docs"
    assert main(["build", "--pipeline", "package-docs", "--input", str(dists), "--output", str(out), "-q"]) == 0
    current = out / "current"
    rows = pq.read_table(current / "data").to_pylist()
    packages = {(r["package"], r["kind"]) for r in rows}
    assert {("ply", "docs"), ("ply", "readme"), ("pluggy", "docs"), ("pluggy", "long_description")} <= packages
    html = next(r for r in rows if r["package"] == "ply" and r["path"].endswith("internal.html"))
    assert html["content"].startswith("PLY Internals") and html["content_type"] == "text/html"
    assert not any(tag in html["content"] for tag in ("<html", "<p>", "<h2", "</")) and "<EMAIL>" in html["content"]
    dropped = pq.read_table(current / "dropped").to_pylist()
    assert {(r["path"], r["outcome"]) for r in dropped if r["reason"] == "unreadable_archive"} == {
        ("broken-0.1.tar.gz", "failed")
    }
    # the sdist's README is the wheel's long description again: one is kept, the other dropped naming it
    (identical,) = [r for r in dropped if r["reason"] == "identical"]
    assert (
        identical["path"] == "pluggy-1.5.0.tar.gz:pluggy-1.5.0/README.rst"
        and identical["stage"] == "identical_documents"
    )
    assert identical["detail"] == "keeper=package-doc:pluggy-1.5.0-py3-none-any.whl:pluggy-1.5.0.dist-info/METADATA"
    report = json.loads((current / "report.json").read_text())
    assert report["accounting"] == "ok"
    assert "## Package documentation" in (current / "README.md").read_text()
