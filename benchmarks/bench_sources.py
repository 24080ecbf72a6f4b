"""Kaggle notebooks and package documentation: each source's whole build, and its core alone, in MB of input
per CPU-second.

Corpora:

- ``kaggle``: notebooks made from the standard library's modules, one per module, laid out as Meta Kaggle
  Code (``<id>.ipynb``): the module docstring as a markdown cell and each top-level function or class as a
  code cell (real code in notebook form; no notebooks ship with this machine's packages), every tenth with
  Kaggle's starter cell first, with KernelVersions, KernelLanguages, KernelVersionDatasetSources and
  DatasetVersions tables in Meta Kaggle's columns.
- ``docs``: sdists downloaded from PyPI (``pip download --no-binary :all: --no-deps``) of well-documented
  packages into the work directory, once.

Measured: the core over every input in this process (``decide_kaggle_notebook`` / ``extract_docs``), and
the build (``stack-v2 build --pipeline kaggle-notebooks`` / ``package-docs``, the recipes' near-dedup and
PII included) in a fresh subprocess on the DirectRunner, imports included; MB is the input's bytes
(notebook JSON, distribution files). Not a test.

    python benchmarks/bench_sources.py [--workdir /tmp/bench-sources] [--sources kaggle docs]
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import resource
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

STARTER = (
    "# This Python 3 environment comes with many helpful analytics libraries installed\n"
    "# It is defined by the kaggle/python Docker image: https://github.com/kaggle/docker-python\n"
    "# For example, here's several helpful packages to load\n\n"
    "import numpy as np # linear algebra\n"
    "import pandas as pd # data processing, CSV file I/O (e.g. pd.read_csv)\n"
)
PACKAGES = ("requests", "rich", "click", "attrs", "pluggy", "jinja2", "packaging", "httpx", "pydantic", "flask")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cell(kind: str, source: str) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    return {**cell, "execution_count": None, "outputs": []} if kind == "code" else cell


def make_kaggle(workdir: Path) -> list[Path]:
    code, meta = workdir / "meta-kaggle-code", workdir / "meta-kaggle"
    code.mkdir(parents=True, exist_ok=True)
    meta.mkdir(parents=True, exist_ok=True)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    kernels, sources, versions = [], [], []
    for i, module in enumerate(sorted(stdlib.glob("*.py"))):
        text = module.read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        lines = text.split("\n")
        cells = [_cell("markdown", ast.get_docstring(tree) or module.stem)]
        if i % 10 == 0:
            cells.insert(0, _cell("code", STARTER))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                cells.append(_cell("code", "\n".join(lines[node.lineno - 1 : node.end_lineno])))
        notebook = {
            "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        kernel_id = 10_000 + i
        (code / f"{kernel_id}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
        kernels.append([kernel_id, 5_000 + i, 2])
        if i % 3 == 0:
            sources.append([len(sources) + 1, kernel_id, 900 + i])
            versions.append([900 + i, 90 + i, f"{module.stem} usage", "", ast.get_docstring(tree) or ""])
    for name, header, rows in (
        ("KernelVersions", ["Id", "ScriptId", "ScriptLanguageId"], kernels),
        ("KernelLanguages", ["Id", "Name"], [[2, "Python"]]),
        ("KernelVersionDatasetSources", ["Id", "KernelVersionId", "SourceDatasetVersionId"], sources),
        ("DatasetVersions", ["Id", "DatasetId", "Title", "Subtitle", "Description"], versions),
    ):
        with open(meta / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    return [code, meta]


def make_docs(workdir: Path) -> list[Path]:
    dists = workdir / "dists"
    dists.mkdir(parents=True, exist_ok=True)
    if not any(dists.iterdir()):
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", str(dists)]
        subprocess.run([*pip, *PACKAGES], check=True)
    return [dists]


def core_seconds(source: str, inputs: list[Path]) -> tuple[float, float]:
    """(CPU-seconds of the core over every input, MB of input)."""
    files = sorted(p for d in inputs for p in d.rglob("*") if p.is_file())
    start, nbytes = time.process_time(), 0
    if source == "kaggle":
        from stack_v2.kaggle import decide_kaggle_notebook

        for path in files:
            if path.suffix == ".ipynb":
                text = path.read_text(encoding="utf-8")
                nbytes += len(text)
                decide_kaggle_notebook(path.name, text)
    else:
        from stack_v2.package_docs import extract_docs

        for path in files:
            data = path.read_bytes()
            nbytes += len(data)
            extract_docs(path.name, data)
    return time.process_time() - start, nbytes / 1e6


def build_seconds(source: str, inputs: list[Path], out: Path) -> float:
    pipeline = {"kaggle": "kaggle-notebooks", "docs": "package-docs"}[source]
    args = [sys.executable, "-m", "stack_v2.cli", "build", "--pipeline", pipeline, "--output", str(out), "-q"]
    for path in inputs:
        args += ["--input", str(path)]
    before = _children_cpu()
    subprocess.run(args, check=True)
    return _children_cpu() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="/tmp/bench-sources")
    parser.add_argument("--sources", nargs="+", default=["kaggle", "docs"], choices=["kaggle", "docs"])
    args = parser.parse_args()
    workdir = Path(args.workdir)
    results = {}
    for source in args.sources:
        inputs = (make_kaggle if source == "kaggle" else make_docs)(workdir / source)
        core_s, mb = core_seconds(source, inputs)
        build_s = build_seconds(source, inputs, workdir / source / "dataset")
        report = json.loads((workdir / source / "dataset" / "current" / "report.json").read_text())
        results[source] = {
            "input_mb": round(mb, 2),
            "read": report["totals"]["input"]["files"],
            "kept": report["totals"]["kept"]["files"],
            "core_mb_per_cpu_s": round(mb / core_s, 2),
            "build_cpu_s": round(build_s, 2),
            "build_mb_per_cpu_s": round(mb / build_s, 3),
        }
    print(json.dumps(results, indent=2))
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
