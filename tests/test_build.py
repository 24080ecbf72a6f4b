"""The build end to end on real repositories imported with import-git: schema, dedup, hashes, SWHIDs,
accounting, bad input, determinism."""

from __future__ import annotations

import hashlib
import json
import os
import py_compile
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import charset_normalizer.constant
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gitrepos import git, init, make_library_repo, make_sample_repo
from swh.model.swhids import QualifiedSWHID

from stack_v2.archive.content import sha1_git_of
from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.io.schema import DATA_SCHEMA, DROPPED_SCHEMA, MANIFEST_SCHEMA

RECIPE = """\
name: test
stages:
  - stage: select_repositories
  - stage: exact_dedup
  - stage: fetch_decode
    max_length: 80000
    concurrency: 4
  - stage: language
output:
  target_shard_bytes: 60000
  manifest_rows_per_shard: 20
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    lib = make_library_repo(root)
    sample = make_sample_repo(root, submodule=lib)
    # A fork: the same tree under another name (repo-level dedup keeps one).
    fork = root / "jsonlib-fork"
    subprocess.run(["git", "clone", "-q", str(lib), str(fork)], check=True, capture_output=True)
    # Odd files: a compiled module (binary), a real UTF-8 file with a stray byte (undecodable),
    # a Latin-1 copy of a real text (decoded via its detected charset), and a copy of a library
    # file (an exact duplicate across repositories).
    odd = init(root / "odd")
    py_compile.compile(str(Path(json_init := lib / "json" / "__init__.py")), cfile=str(odd / "json_init.pyc"))
    text = Path(charset_normalizer.constant.__file__).read_bytes()
    cut = text.index("ア".encode())
    (odd / "constant.py").write_bytes(text[:cut] + b"\xff" + text[cut:])
    (odd / "NOTES.txt").write_bytes((lib / "README.md").read_text().replace("library", "librería").encode("latin-1"))
    shutil.copy(json_init, odd / "json_init.py")
    git(odd, "add", "-A")
    git(odd, "commit", "-qm", "odd files", date="2022-03-03T03:03:03+0000")
    empty = init(root / "empty")  # no commits: no branch to list
    archive = root / "archive"
    import_git([str(p) for p in (lib, sample, fork, odd, empty)], str(archive))
    # A content object that the store lost.
    lost = git(sample, "rev-parse", "HEAD:src/email/base64mime.py")
    lost_sha1 = hashlib.sha1(
        subprocess.run(["git", "-C", str(sample), "cat-file", "blob", lost], check=True, capture_output=True).stdout
    ).hexdigest()
    os.remove(archive / "content" / lost_sha1)
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    repos = {"jsonlib": lib, "sample": sample, "jsonlib-fork": fork, "odd": odd, "empty": empty}
    return {"root": root, "archive": archive, "recipe": recipe, "repos": repos, "lost": lost_sha1}


def build(world, out: Path, *extra: str) -> int:
    return main(
        [
            "build",
            "--archive",
            str(world["archive"]),
            "--output",
            str(out),
            "--pipeline",
            str(world["recipe"]),
            "--quiet",
            "--allow-missing",
            "--origin",
            "https://github.com/local/none",
            *extra,
            *(f"--origin=https://github.com/local/{name}" for name in world["repos"]),
        ]
    )


@pytest.fixture(scope="module")
def dataset(world):
    out = world["root"] / "dataset"
    assert build(world, out) == 0
    return out


def read(path: Path) -> pa.Table:
    return pq.read_table(str(path))


def test_outputs_have_the_stack_v2_schema(dataset):
    assert read(dataset / "manifest").schema.equals(MANIFEST_SCHEMA)
    assert read(dataset / "dropped").schema.equals(DROPPED_SCHEMA)
    shards = sorted((dataset / "data").rglob("*.parquet"))
    assert shards and all(pq.read_schema(s).equals(DATA_SCHEMA) for s in shards)
    python = sorted(p.name for p in (dataset / "data" / "Python").iterdir())
    assert len(python) >= 2 and python[0] == f"train-00000-of-{len(python):05d}.parquet"  # sharded by size
    assert len(list((dataset / "manifest").iterdir())) >= 2  # sharded by rows
    # one published version, nothing left unpublished, the lock released
    assert [p.name for p in (dataset / "versions").iterdir()] == [os.path.basename(os.readlink(dataset / "current"))]
    assert not (dataset / ".lock").exists()


def test_kept_rows_are_unique_blobs_whose_content_hashes_back(dataset):
    data = pq.read_table(str(dataset / "data")).to_pylist()
    manifest = read(dataset / "manifest").to_pylist()
    blobs = [r["blob_id"] for r in manifest]
    assert len(blobs) == len(set(blobs)) and sorted(blobs) == sorted(r["blob_id"] for r in data)
    for row in data:
        raw = row["content"].encode(row["src_encoding"])
        assert hashlib.sha1(raw).hexdigest() == row["blob_id"]
        assert sha1_git_of(raw) == row["content_id"]
        assert row["language"] and row["length_bytes"] == len(raw)
    by_path = {(r["repo_name"], r["path"]): r for r in data}
    assert by_path[("local/odd", "NOTES.txt")]["src_encoding"] != "UTF-8"  # decoded through cChardet
    assert by_path[("local/sample", "src/email/mime/text.py")]["language"] == "Python"
    assert by_path[("local/jsonlib", "json/tool.py")]["language"] == "Python"  # kept over sample:bin/tool.py


def test_every_swhid_parses_and_points_to_its_file(world, dataset):
    for row in read(dataset / "manifest").to_pylist():
        swhid = QualifiedSWHID.from_string(row["swhid"])
        assert swhid.object_id.hex() == row["content_id"]
        assert swhid.origin == f"https://github.com/{row['repo_name']}"
        assert swhid.visit.object_id.hex() == row["snapshot_id"] and swhid.anchor.object_id.hex() == row["revision_id"]
        repo = world["repos"][row["repo_name"].split("/", 1)[1]]
        path = swhid.path.decode("utf-8", "surrogateescape").lstrip("/")
        assert git(repo, "rev-parse", f"{row['revision_id']}:{path}") == row["content_id"]


def test_bad_input_is_accounted_with_reasons(world, dataset):
    dropped = read(dataset / "dropped").to_pylist()
    reasons = {(r["stage"], r["outcome"], r["reason"]) for r in dropped}
    assert {
        ("select_repositories", "failed", "no_full_visit"),  # --origin .../none
        ("select_repositories", "failed", "no_default_branch"),  # the empty repository
        ("select_repositories", "dropped", "duplicate_repository"),  # the fork
        ("exact_dedup", "dropped", "exact_duplicate"),  # json/__init__.py copied into odd/
        ("fetch_decode", "dropped", "binary"),  # the .pyc
        ("fetch_decode", "dropped", "undecodable"),  # stray byte in UTF-8
        ("fetch_decode", "dropped", "too_large"),  # over the recipe's max_length
        ("fetch_decode", "failed", "missing"),  # the lost content object
    } <= reasons
    missing = next(r for r in dropped if r["reason"] == "missing")
    assert missing["blob_id"] == world["lost"] and missing["path"] == "src/email/base64mime.py"
    assert {r["repo_name"] for r in dropped if r["reason"] == "duplicate_repository"} == {"local/jsonlib-fork"}


def test_accounting_invariant_holds_and_matches_dropped_table(dataset):
    report = json.loads((dataset / "report.json").read_text())
    assert report["accounting"] == "ok"
    counted = Counter()
    for st in report["stages"]:
        assert st["input"]["files"] == st["kept"]["files"] + st["dropped"]["files"] + st["failed"]["files"]
        for outcome, reasons in st["reasons"].items():
            for reason, c in reasons.items():
                counted[(st["stage"], outcome, reason)] += c["files"]
    table = Counter((r["stage"], r["outcome"], r["reason"]) for r in read(dataset / "dropped").to_pylist())
    assert counted == table
    manifest_rows = read(dataset / "manifest").num_rows
    assert report["totals"]["kept"]["files"] == manifest_rows == report["stages"][-1]["kept"]["files"]
    assert report["totals"]["input"]["files"] == manifest_rows + len(read(dataset / "dropped"))
    card = (dataset / "README.md").read_text()
    assert "| language |" in card and f"{manifest_rows:,} files" in card and "name: test" in card


def test_rerun_replaces_outputs_with_identical_manifest(world, dataset, tmp_path):
    again = tmp_path / "again"
    assert build(world, again) == 0

    def names(d: Path) -> list[str]:  # the shards of the current version
        version = Path(os.path.realpath(d / "current"))
        return sorted(str(p.relative_to(version)) for p in version.rglob("*.parquet"))

    assert names(again) == names(dataset)
    for rel in names(dataset):
        if rel.startswith("manifest/"):
            assert (again / rel).read_bytes() == (dataset / rel).read_bytes()
    # Rerunning into the same directory replaces the previous run cleanly.
    (again / "data" / "Stale").mkdir()
    (again / "versions" / "crashed").mkdir()  # an unpublished run of a build that died
    assert build(world, again) == 0
    assert not (again / "data" / "Stale").exists() and not (again / "versions" / "crashed").exists()
    assert names(again) == names(dataset)


def test_repo_metadata_decides_which_fork_is_kept(world, tmp_path):
    table = pa.table(
        {
            "repo_name": ["local/jsonlib", "local/jsonlib-fork"],
            "star_events_count": [3, 40],
            "fork_events_count": [1, 2],
            "gha_license_id": [None, None],
        },
        schema=pa.schema(
            [
                ("repo_name", pa.string()),
                ("star_events_count", pa.int64()),
                ("fork_events_count", pa.int64()),
                ("gha_license_id", pa.string()),
            ]
        ),
    )
    meta = tmp_path / "repos.parquet"
    pq.write_table(table, meta)
    out = tmp_path / "ds"
    assert build(world, out, "--repo-metadata", str(meta)) == 0
    manifest = read(out / "manifest").to_pylist()
    json_rows = [r for r in manifest if r["path"] == "json/decoder.py"]
    assert [(r["repo_name"], r["star_events_count"], r["fork_events_count"]) for r in json_rows] == [
        ("local/jsonlib-fork", 40, 2)
    ]


def test_bad_recipe_and_metadata_give_one_line_errors(world, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstages:\n  - stage: language\n  - stage: select_repositories\n")
    assert (
        main(["build", "--archive", str(world["archive"]), "--output", str(tmp_path / "o"), "--pipeline", str(bad)])
        == 2
    )
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"stack-v2: error: recipe {bad}: the first stage must be select_repositories"
    )
    meta = tmp_path / "m.parquet"
    pq.write_table(pa.table({"name": ["x"]}), meta)
    assert build(world, tmp_path / "o", "--repo-metadata", str(meta)) == 2
    assert "no 'repo_name' column" in capsys.readouterr().err
