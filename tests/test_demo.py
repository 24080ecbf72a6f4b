"""The README's demo: real standard-library code, imported and built into a dataset, deterministically."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from stack_v2.cli import main
from stack_v2.demo import DEMO_PACKAGES


def test_demo_builds_a_dataset_from_real_code(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert main(["demo", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    dataset = workdir / "dataset"
    assert out.strip().startswith(f"dataset: {dataset}")
    report = json.loads((dataset / "report.json").read_text())
    assert report["accounting"] == "ok" and report["languages"]["Python"]["files"] > 200
    manifest = pq.read_table(str(dataset / "manifest")).to_pylist()
    assert {r["repo_name"] for r in manifest} == {f"local/py-{n}" for n in DEMO_PACKAGES if n != "xmlrpc"}
    dropped = pq.read_table(str(dataset / "dropped")).to_pylist()
    assert any(r["reason"] == "binary" and r["path"].startswith("Icons/") for r in dropped)  # idlelib's images
    # CPython's LICENSE.txt (in py-xmlrpc) mentions the GPL: the paper's rule drops that repository.
    assert {r["repo_name"] for r in dropped if r["reason"] == "non_permissive"} == {"local/py-xmlrpc"}
    assert {r["license_type"] for r in manifest} == {"no_license"}
    assert any(r["path"] == "mime/text.py" and r["repo_name"] == "local/py-email" for r in manifest)
    # A second run adds nothing to the archive and gives a byte-identical manifest.
    before = {p.name: p.read_bytes() for p in (dataset / "manifest").iterdir()}
    assert main(["demo", "--workdir", str(workdir)]) == 0
    assert "nothing new" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (dataset / "manifest").iterdir()} == before
