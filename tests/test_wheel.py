"""The package as users install it, away from the repository.

PyPA's build makes the sdist and, from the unpacked sdist, the wheel (so the wheel also proves the sdist
whole). Both must hold every module and the recipes and filter data; then the wheel goes into a fresh
virtual environment and ``stack-v2 demo`` runs from an empty directory with the files the wheel carries.

The fresh environment gets stack_v2 from the wheel alone (``pip --no-deps``); its dependencies come from
this environment's site-packages through a plain path line in a .pth file, so nothing is downloaded. A
plain line does not run that directory's own .pth files, so the editable install's finder there stays
off and a file the wheel lacks cannot be found in the repository instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIRS = ("pipelines", "filters")  # top-level in the repository, stack_v2/<dir> in the wheel


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command[:4]}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def _repository_files(top: str) -> set[str]:
    """Files under ROOT/top as repository-relative paths, without bytecode caches."""
    return {
        p.relative_to(ROOT).as_posix() for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    # No --sdist/--wheel: build makes the sdist, then the wheel from it. --no-isolation: this environment's
    # setuptools (the test extras require setuptools>=77, as build-system does), so nothing is downloaded.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], timeout=600)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_sdist_holds_the_package_recipes_and_filter_data(dists):
    with tarfile.open(dists["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    wanted = {"pyproject.toml", "README.md"} | {p for top in ("stack_v2", *DATA_DIRS) for p in _repository_files(top)}
    assert wanted <= names, sorted(wanted - names)


def test_wheel_holds_every_module_and_data_file_inside_the_package(dists):
    with zipfile.ZipFile(dists["wheel"]) as whl:
        names = set(whl.namelist())
        metadata = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    modules = {p for p in _repository_files("stack_v2") if p.endswith(".py")}
    data = {f"stack_v2/{p}" for top in DATA_DIRS for p in _repository_files(top)}
    # A stack_v2 directory missing from pyproject's package list, or a data file whose suffix its
    # package-data globs miss, shows up here by name.
    assert modules | data <= names, sorted((modules | data) - names)
    # Nothing outside the package: no top-level pipelines/ or filters/ beside it in site-packages.
    assert {n.split("/")[0] for n in names} == {"stack_v2", dists["wheel"].name.split("-py")[0] + ".dist-info"}
    assert "License-Expression: Apache-2.0" in metadata.splitlines()


@pytest.mark.slow
def test_demo_runs_from_the_installed_wheel_in_an_empty_directory(dists, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    python = venv / "bin" / "python"
    # Installed before the dependency path is added, so pip sees no other stack-v2 to skip or replace.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(dists["wheel"]),
        ],
        timeout=300,
    )
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    (site / "zz_stack_v2_test_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))

    empty = tmp_path / "cwd"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    # Where the installed package reads from: the five lookups of the recipes and the filter data.
    probe = _run(
        [
            str(python),
            "-c",
            "import json, stack_v2, stack_v2.recipe as r, stack_v2.quality.rules as q, "
            "stack_v2.quality.languages as l, stack_v2.licenses.classify as c, stack_v2.decontam.matcher as m; "
            "print(json.dumps([stack_v2.__file__, str(r.PIPELINES_DIR), str(q.RULES_FILE), "
            "str(l.LANGUAGES_FILE), str(c.PERMISSIVE_FILE), str(m.DEFAULT_BENCHMARKS_FILE)]))",
        ],
        cwd=empty,
        env=env,
        timeout=300,
    )
    package, pipelines, *files = (Path(p) for p in json.loads(probe.stdout))
    assert package == site / "stack_v2" / "__init__.py", package
    assert pipelines == site / "stack_v2" / "pipelines" and (pipelines / "demo.yaml").is_file()
    for path in files:
        assert path.is_relative_to(site / "stack_v2" / "filters") and path.is_file(), path

    workdir = tmp_path / "x"
    done = _run([str(venv / "bin" / "stack-v2"), "demo", "--workdir", str(workdir)], cwd=empty, env=env, timeout=1200)
    dataset = workdir / "dataset"
    assert done.stdout.strip().startswith(f"dataset: {dataset}"), done.stdout[-2000:]
    report = json.loads((dataset / "report.json").read_text())
    assert report["accounting"] == "ok" and report["languages"]["Python"]["files"] > 200
    shards = sorted((dataset / "data").rglob("*.parquet"))
    assert shards and sum(pq.read_metadata(s).num_rows for s in shards) == report["totals"]["kept"]["files"]
    # The training side from the wheel too: the demo dataset exported as training documents.
    train = tmp_path / "train"
    _run(
        [str(venv / "bin" / "stack-v2"), "export", "--dataset", str(dataset), "--output", str(train)],
        cwd=empty,
        env=env,
        timeout=600,
    )
    exported = json.loads((train / "report.json").read_text())
    assert exported["files"] == report["totals"]["kept"]["files"] - exported["left_out"]["files"]
    assert exported["documents"] >= len({r["repo_name"] for r in pq.read_table(str(dataset / "manifest")).to_pylist()})
