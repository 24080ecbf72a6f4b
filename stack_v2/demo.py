"""The embedded demo: real code from this machine's Python, made into git repositories and archived.

It takes a few pure-Python packages of the standard library (each becomes a repository with two
commits), plus one repository of installed packages' web assets and generated code (ScanCode's HTML
templates and minified JavaScript, Beam's generated protobuf modules) for the quality filters, imports them into a
local SWH-layout archive and builds the dataset from it with the demo recipe: Parquet shards per language, the SWHID
manifest, the dropped table, report and card. Dates are fixed, so two runs give the same archive ids and
byte-identical manifests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence

LICENSED_PACKAGE = "xmlrpc"
DEMO_PACKAGES = ("json", "email", "http", "xmlrpc", "urllib", "asyncio", "unittest", "xml", "idlelib")
_DATES = ("2021-03-04T05:06:07+0100", "2022-07-08T09:10:11-0400")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "stack-v2 demo",
    "GIT_AUTHOR_EMAIL": "demo@stack-v2.invalid",
    "GIT_COMMITTER_NAME": "stack-v2 demo",
    "GIT_COMMITTER_EMAIL": "demo@stack-v2.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(repo: str, *args: str, date: str | None = None) -> None:
    env = {**os.environ, **_GIT_ENV}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, env=env)


def make_demo_repos(repos_dir: str, packages: Sequence[str] = DEMO_PACKAGES) -> list[str]:
    """One git repository per standard-library package: its modules, then a README and subpackages."""
    stdlib = sysconfig.get_paths()["stdlib"]
    paths = []
    for name in packages:
        src = os.path.join(stdlib, name)
        repo = os.path.join(repos_dir, f"py-{name}")
        if os.path.isdir(os.path.join(repo, ".git")):
            paths.append(repo)
            continue
        os.makedirs(repo, exist_ok=True)
        _git(repo, "init", "-q", "-b", "main")
        top = [f for f in sorted(os.listdir(src)) if f.endswith(".py")]
        for f in top:
            shutil.copy(os.path.join(src, f), os.path.join(repo, f))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"import {name}", date=_DATES[0])
        for sub in sorted(os.listdir(src)):
            if os.path.isdir(os.path.join(src, sub)) and not sub.startswith("__"):
                shutil.copytree(
                    os.path.join(src, sub),
                    os.path.join(repo, sub),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
        with open(os.path.join(repo, "README.md"), "w", encoding="utf-8") as f:
            f.write(f"# {name}\n\nThe `{name}` package of CPython {sys.version.split()[0]}'s standard library.\n")
        if name == LICENSED_PACKAGE and os.path.isfile(os.path.join(os.path.dirname(src), "LICENSE.txt")):
            # CPython's own license text: ScanCode finds Python-2.0, 0BSD, BSD-3-Clause and GPL mentions in
            # it, so the paper's rule classes this repository non_permissive and the precise rule permissive.
            shutil.copy(os.path.join(os.path.dirname(src), "LICENSE.txt"), os.path.join(repo, "LICENSE.txt"))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "subpackages and README", date=_DATES[1])
        paths.append(repo)
    return paths


# A repository of files the quality filters exist for, from packages the project installs:
# (package, directory inside it, directory in the repository).
ASSETS_REPO = "web-assets"
_ASSET_SOURCES = (
    ("formattedcode", "templates", "templates"),
    ("licensedcode", "static", "static"),
    ("apache_beam", "portability/api", "generated/api"),
)


def make_assets_repo(repos_dir: str) -> str:
    import importlib.util

    repo = os.path.join(repos_dir, ASSETS_REPO)
    if os.path.isdir(os.path.join(repo, ".git")):
        return repo
    os.makedirs(repo, exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    for package, inside, target in _ASSET_SOURCES:
        spec = importlib.util.find_spec(package)
        src = os.path.join(os.path.dirname(spec.origin), inside)
        shutil.copytree(src, os.path.join(repo, target), ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _write_demo_notebook(os.path.join(repo, "notebooks", "json_tour.ipynb"))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "web assets and generated code", date=_DATES[1])
    return repo


def _write_demo_notebook(path: str) -> None:
    """A Python notebook made of the json module's own docstring examples: its prose as markdown cells,
    each ``>>>`` example as a code cell whose output is the example's expected output."""
    import doctest
    import json

    import nbformat

    cells = []
    for example_block in doctest.DocTestParser().parse(json.__doc__):
        if isinstance(example_block, str):
            if example_block.strip():
                cells.append(nbformat.v4.new_markdown_cell(example_block.strip()))
            continue
        code = nbformat.v4.new_code_cell(example_block.source.rstrip())
        if example_block.want:
            code.outputs = [nbformat.v4.new_output("stream", name="stdout", text=example_block.want)]
        cells.append(code)
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i}"  # nbformat makes random ids: fixed ones keep the demo's archive the same every run
    notebook = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "file_extension": ".py"},
        },
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    nbformat.write(notebook, path)


def run_demo(workdir: str, beam_args: Sequence[str] = (), show_progress: bool = True) -> int:
    """Make the repositories, import them, build the dataset with the demo recipe; print where it is."""
    import datetime as dt

    from stack_v2.archive.import_git import import_git
    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.build import BuildRequest, run_build
    from stack_v2.finish import summary_table
    from stack_v2.recipe import load_recipe

    def say(msg: str) -> None:
        print(f"[demo] {msg}", file=sys.stderr)

    workdir = os.path.abspath(workdir)
    archive = os.path.join(workdir, "archive")
    say(f"making git repositories from the standard library and installed packages in {workdir}/repos")
    repos = make_demo_repos(os.path.join(workdir, "repos")) + [make_assets_repo(os.path.join(workdir, "repos"))]
    say(f"importing {len(repos)} repositories into {archive}")
    summary = import_git(repos, archive, visit_date=dt.datetime(2023, 9, 6, tzinfo=dt.UTC))
    say(
        "added: "
        + (", ".join(f"{n} {t}" for t, n in summary.new_rows.items() if n) or "nothing new (already imported)")
    )

    dataset = os.path.join(workdir, "dataset")
    say(f"building the dataset with the demo recipe (pipelines/demo.yaml) into {dataset}")
    started = time.perf_counter()
    report = run_build(
        BuildRequest(ArchiveLocation(archive), dataset, load_recipe("demo")), beam_args, show_progress=show_progress
    )
    print(summary_table(report), file=sys.stderr)
    kept = report["totals"]["kept"]
    say(
        f"{kept['files']:,} files, {kept['bytes'] / 1e6:,.2f} MB in {len(report['languages'])} languages "
        f"({time.perf_counter() - started:.1f} s); accounting {report['accounting']}"
    )
    print(f"dataset: {dataset}  (data/, manifest/, dropped/, report.json, README.md, report/index.html)")
    return 0 if report["accounting"] == "ok" else 1
