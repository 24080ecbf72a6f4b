"""Opt-outs applied to a finished build (`manifest regenerate`, `optout apply`) and during a build
(`build --optouts`), on a dataset built from real repositories with GitHub origins of two owners."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from gitrepos import make_library_repo, make_sample_repo

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.demo import make_demo_repos
from stack_v2.manifest_check import check_dataset
from stack_v2.recipe import load_recipe


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two owners, two repositories each, all of different real files: Octo-Org/jsonlib (the json
    package), Octo-Org/tools (a sample project), hubot/py-http and hubot/py-urllib (standard library)."""
    root = tmp_path_factory.mktemp("optout-world")
    archive = root / "archive"
    octo = [make_library_repo(root / "octo", "jsonlib"), make_sample_repo(root / "octo", "tools")]
    hubot = [Path(p) for p in make_demo_repos(str(root / "hubot"), packages=("http", "urllib"))]
    import_git([str(p) for p in octo], str(archive), origin_prefix="https://github.com/Octo-Org/")
    import_git([str(p) for p in hubot], str(archive), origin_prefix="https://github.com/hubot/")
    dataset = root / "dataset"
    recipe = root / "small-shards.yaml"  # the demo recipe with small shards, so most shards hold one repository
    recipe.write_text(
        load_recipe("demo").text.split("output:")[0] + "output:\n  target_shard_bytes: 150000\n"
        "  manifest_rows_per_shard: 25\n"
    )
    assert (
        main(["build", "--archive", str(archive), "--output", str(dataset), "--pipeline", str(recipe), "--quiet"]) == 0
    )
    return {"root": root, "archive": archive, "dataset": dataset, "recipe": recipe}


def requests_file(path: Path, *requests) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in requests))
    return path


def rows(dataset: Path, table: str) -> set[tuple]:
    return {
        (r["blob_id"], r["repo_name"], r["path"])
        for r in pq.read_table(str(dataset / table), columns=["blob_id", "repo_name", "path"]).to_pylist()
    }


def version(dataset: Path) -> Path:
    """The directory of a dataset's current version (io/publish.py)."""
    return Path(os.path.realpath(dataset / "current"))


def digest(dataset: Path) -> dict[str, str]:
    root = version(dataset)
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_regenerate_removes_exactly_the_requested_repositories(world, tmp_path):
    before_manifest, before_data = rows(world["dataset"], "manifest"), rows(world["dataset"], "data")
    repos = {r for _, r, _ in before_manifest}
    assert repos == {"Octo-Org/jsonlib", "Octo-Org/tools", "hubot/py-http", "hubot/py-urllib"}
    optouts = requests_file(
        tmp_path / "optouts.jsonl",
        {"owner": "octo-org", "repos": "all", "received": "2023-11-20", "via": "form"},
        {"owner": "HUBOT", "repos": ["PY-urllib"], "received": "2023-11-19"},
    )
    out = tmp_path / "regenerated"
    assert (
        main(
            [
                "manifest",
                "regenerate",
                "--dataset",
                str(world["dataset"]),
                "--output",
                str(out),
                "--optouts",
                str(optouts),
                "--group-by-repo",
            ]
        )
        == 0
    )
    gone = {"Octo-Org/jsonlib", "Octo-Org/tools", "hubot/py-urllib"}
    assert rows(out, "manifest") == {r for r in before_manifest if r[1] not in gone}
    assert rows(out, "data") == {r for r in before_data if r[1] not in gone}
    dropped = [r for r in pq.read_table(str(out / "dropped")).to_pylist() if r["stage"] == "optout"]
    assert {(r["blob_id"], r["repo_name"], r["path"]) for r in dropped} == {r for r in before_manifest if r[1] in gone}
    assert all(r["reason"] == "opted_out" and r["detail"].startswith("request=") for r in dropped)
    # The report's accounting still holds, the card and the audit log say what happened.
    report = json.loads((out / "report.json").read_text())
    assert report["accounting"] == "ok" and report["stages"][-1]["stage"] == "optout"
    assert report["optouts"]["files_removed"] == len(dropped) and report["optouts"]["repositories_removed"] == 3
    assert "## Opt-outs" in (out / "README.md").read_text()
    audit = [json.loads(line) for line in (out / "optout-audit.jsonl").read_text().splitlines()]
    assert audit[0]["request"] == {"owner": "octo-org", "repos": "all", "received": "2023-11-20", "via": "form"}
    assert audit[0]["repositories_removed"] == ["Octo-Org/jsonlib", "Octo-Org/tools"]
    assert audit[1]["repositories_removed"] == ["hubot/py-urllib"] and audit[1]["files_removed"] > 0
    # The repository-grouped manifest holds what remains, one row per repository.
    grouped = pq.read_table(str(out / "manifest-by-repo")).to_pylist()
    assert [g["repo_name"] for g in grouped] == ["hubot/py-http"]
    assert grouped[0]["num_files"] == len(grouped[0]["files"]) == len(rows(out, "manifest"))
    assert grouped[0]["repo_url"] == "https://github.com/hubot/py-http"
    assert check_dataset(out, optouts=str(optouts)) == []
    assert rows(world["dataset"], "manifest") == before_manifest  # the input dataset is untouched


def test_only_shards_holding_removed_files_are_rewritten(world, tmp_path):
    before = digest(world["dataset"])
    optouts = requests_file(tmp_path / "o.jsonl", {"owner": "hubot", "repos": ["py-urllib"], "received": "2023-11-20"})
    out = tmp_path / "out"
    assert (
        main(
            [
                "manifest",
                "regenerate",
                "--dataset",
                str(world["dataset"]),
                "--output",
                str(out),
                "--optouts",
                str(optouts),
            ]
        )
        == 0
    )
    after = digest(out)
    shards = [k for k in before if k.startswith(("manifest/", "data/"))]
    source = version(world["dataset"])
    holding = {
        str(p.relative_to(source))
        for p in source.rglob("*.parquet")
        if p.parts[-3:-1] != ("dropped",)
        and str(p.relative_to(source)).startswith(("manifest", "data"))
        and "hubot/py-urllib" in pq.read_table(str(p), columns=["repo_name"]).column("repo_name").to_pylist()
    }
    assert holding and len(holding) < len(shards)
    for shard in shards:
        assert (after[shard] != before[shard]) == (shard in holding), shard


def test_optout_apply_twice_changes_nothing_and_bad_requests_change_nothing(world, tmp_path, capsys):
    dataset = tmp_path / "dataset"
    shutil.copytree(world["dataset"], dataset, symlinks=True)
    optouts = requests_file(tmp_path / "o.jsonl", {"owner": "Octo-Org", "repos": ["JSONLIB"], "received": "2023-11-20"})
    assert main(["optout", "apply", "--requests", str(optouts), "--dataset", str(dataset)]) == 0
    once = digest(dataset)
    assert "Octo-Org/jsonlib" not in {r for _, r, _ in rows(dataset, "manifest")}
    assert main(["optout", "apply", "--requests", str(optouts), "--dataset", str(dataset)]) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert digest(dataset) == once
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"owner": "hubot", "repos": "all", "received": "2023-11-20"})
        + "\n"
        + json.dumps({"owner": "hubot", "repos": "some", "received": "2023-11-20"})
        + "\n"
    )
    assert main(["optout", "apply", "--requests", str(bad), "--dataset", str(dataset)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "bad.jsonl line 2" in err and '"repos"' in err
    assert digest(dataset) == once  # the valid first line was not applied either


def test_build_with_optouts_matches_regenerate(world, tmp_path):
    optouts = requests_file(tmp_path / "o.jsonl", {"owner": "octo-org", "repos": "all", "received": "2023-11-20"})
    built = tmp_path / "built"
    assert (
        main(
            [
                "build",
                "--archive",
                str(world["archive"]),
                "--output",
                str(built),
                "--pipeline",
                str(world["recipe"]),
                "--quiet",
                "--optouts",
                str(optouts),
            ]
        )
        == 0
    )
    regenerated = tmp_path / "regenerated"
    assert (
        main(
            [
                "manifest",
                "regenerate",
                "--dataset",
                str(world["dataset"]),
                "--output",
                str(regenerated),
                "--optouts",
                str(optouts),
            ]
        )
        == 0
    )
    assert rows(built, "manifest") == rows(regenerated, "manifest")
    report = json.loads((built / "report.json").read_text())
    optout_stage = next(s for s in report["stages"] if s["stage"] == "optout")
    assert optout_stage["dropped"]["files"] == report["optouts"]["files_removed"] > 0
    audit = json.loads((built / "optout-audit.jsonl").read_text())
    assert audit["repositories_removed"] == ["Octo-Org/jsonlib", "Octo-Org/tools"]
    assert check_dataset(built, optouts=str(optouts)) == []
