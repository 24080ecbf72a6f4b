"""The worked example of docs/adding-a-stage.md: a stage written as one file plus one registry line,
then named in a recipe and run by ``stack-v2 build`` on a real repository (the email package of this
machine's standard library, with a script, a symlink and a Latin-1 named text file)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from gitrepos import make_sample_repo

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.recipe import RecipeError, parse_recipe
from stack_v2.stages import drop_extensions, registry


def test_the_stage_is_registered_with_its_typed_config():
    stage = registry.STAGES["drop_extensions"]
    assert stage is drop_extensions.DEFINITION and stage.name in registry.filter_stages()
    assert stage.parameters.defaults() == {"extensions": ["lock"]}
    assert stage.config({"extensions": [".TXT"]}) == drop_extensions.DropExtensionsConfig([".TXT"])


def test_a_recipe_checks_its_parameters(tmp_path):
    text = "name: x\nstages:\n  - stage: select_repositories\n  - stage: drop_extensions\n    extensions: []\n"
    with pytest.raises(RecipeError, match=r"stage drop_extensions: extensions=\[\] is not allowed"):
        parse_recipe(text, str(tmp_path / "x.yaml"))


def test_a_build_drops_the_named_extensions_and_accounts_for_them(tmp_path: Path):
    repo = make_sample_repo(tmp_path / "repos")
    archive = tmp_path / "archive"
    import_git([repo], str(archive))
    recipe = tmp_path / "no-text.yaml"
    recipe.write_text(
        "name: no-text\nstages:\n  - stage: select_repositories\n"
        "  - stage: drop_extensions\n    extensions: [.TXT, json]\n"
    )
    out = tmp_path / "dataset"
    assert main(["build", "--archive", str(archive), "--output", str(out), "--pipeline", str(recipe), "-q"]) == 0

    kept = {r["path"] for r in pq.read_table(str(out / "manifest")).to_pylist()}
    dropped = pq.read_table(str(out / "dropped")).to_pylist()
    assert {(r["stage"], r["reason"]) for r in dropped} == {("drop_extensions", "extension")}
    assert {r["detail"] for r in dropped} == {"extension=txt"}  # the Latin-1 named café.txt
    assert all(not p.lower().endswith((".txt", ".json")) for p in kept) and any(p.endswith(".py") for p in kept)
    report = json.loads((out / "report.json").read_text())
    stage = next(st for st in report["stages"] if st["stage"] == "drop_extensions")
    assert stage["input"]["files"] == len(kept) + len(dropped) and stage["dropped"]["files"] == len(dropped)
    assert [r["filter"] for r in report["filters"]["rules"]] == ["drop_extensions"]  # grouped with the filters
