"""Fault injection: no fault, mistake or crash turns into a dataset that looks good.

Real repositories imported with import-git, real builds through the CLI (in this process, or in a child
process that is killed with SIGKILL), a real S3 server (moto) behind the fault proxy. Each case checks the
invariant: the output holds the previous complete dataset or the new complete one, never a mix, and a
build that could not be right exits non-zero with one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from faultproxy import FaultProxy
from gitrepos import make_library_repo, make_sample_repo
from s3util import s3_client, upload_tree

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.io import publish

RECIPE = """\
name: fail-closed
stages:
  - stage: select_repositories
  - stage: exact_dedup
  - stage: fetch_decode
  - stage: language
output:
  manifest_rows_per_shard: 10
"""
ORIGINS = ["https://github.com/local/jsonlib", "https://github.com/local/sample"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("failclosed")
    archive = root / "archive"
    import_git([str(make_library_repo(root)), str(make_sample_repo(root))], str(archive))
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    return {"root": root, "archive": archive, "recipe": recipe}


def argv(world, out: Path, *extra: str, archive: str | None = None) -> list[str]:
    return [
        "build",
        "--archive",
        archive or str(world["archive"]),
        "--output",
        str(out),
        "--pipeline",
        str(world["recipe"]),
        "--quiet",
        *extra,
    ]


def child(args: list[str], **env: str) -> subprocess.Popen:
    """``stack-v2 ARGS`` in a child process (so that it can be killed), from any directory."""
    return subprocess.Popen(
        [sys.executable, "-m", "stack_v2.cli", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def snapshot(out: Path) -> dict:
    """What a reader sees: the current version's name and a digest of every file under it."""
    version = publish.current_version(str(out))
    root = out / "versions" / version
    files = {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    return {"version": version, "files": files}


def assert_complete(out: Path) -> dict:
    """The dataset seen through the output's own paths is one whole build: report, manifest and dropped agree."""
    report = json.loads((out / "report.json").read_text())
    assert report["accounting"] == "ok" and not report["failure_budget"]["exceeded"]
    assert report["tool_versions"]["apache-beam"] == version("apache-beam") and report["stages_off"] == {}
    manifest = pq.read_table(str(out / "manifest"))
    assert manifest.num_rows == report["totals"]["kept"]["files"] > 0
    assert pq.read_table(str(out / "data")).num_rows == manifest.num_rows
    assert report["totals"]["input"]["files"] == manifest.num_rows + pq.read_table(str(out / "dropped")).num_rows
    return report


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not line.startswith(("stack-v2: building", "[stack-v2]"))]
    assert len(lines) == 1 and lines[0].startswith("stack-v2: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def good(world):
    """One good build, which each test copies (symlinks as symlinks, as `cp -a` does)."""
    out = world["root"] / "good"
    assert main(argv(world, out)) == 0
    assert_complete(out)
    return out


@pytest.fixture
def built(good, tmp_path):
    """A good dataset in a fresh output: what every failure below must leave untouched."""
    out = tmp_path / "out"
    shutil.copytree(good, out, symlinks=True)
    return out


def test_an_origin_typo_or_an_unarchived_swhid_fails_and_changes_nothing(world, built, capsys):
    before = snapshot(built)
    typo = "https://github.com/local/jsonlb"
    assert main(argv(world, built, "--origin", ORIGINS[0], "--origin", typo)) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"requested but found nothing: {typo} (no_full_visit)" in line and ORIGINS[0] + " " not in line
    missing = "swh:1:rev:" + "0" * 40
    assert main(argv(world, built, "--swhid", missing)) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{missing} (revision_not_in_export)" in line
    assert snapshot(built) == before and not (built / ".lock").exists()
    # the failed runs are kept for inspection, their report saying why
    failed = [v for v in publish.list_versions(str(built)) if v != before["version"]]
    assert len(failed) == 2
    reports = [json.loads((built / "versions" / v / "report.json").read_text()) for v in failed]
    assert all(r["published"] is False and r["requested_but_empty"] for r in reports)
    # --allow-missing builds what was found, and says what was not
    assert main(argv(world, built, "--origin", ORIGINS[0], "--origin", typo, "--allow-missing")) == 0
    report = assert_complete(built)
    assert report["requested_but_empty"] == [f"{typo} (no_full_visit)"]
    assert {r["repo_name"] for r in pq.read_table(str(built / "manifest")).to_pylist()} == {"local/jsonlib"}


@pytest.fixture(scope="module")
def s3_archive(world, s3_endpoint):
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="failclosed")
    upload_tree(s3_endpoint, world["archive"], "failclosed", "archive")
    return "s3://failclosed/archive"


def test_an_s3_outage_while_fetching_fails_the_build_within_its_budget(
    world, built, s3_archive, s3_endpoint, monkeypatch, capsys
):
    before = snapshot(built)
    with FaultProxy(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        # the graph export reads fine; about half of the content objects answer 503 until retries run out
        proxy.set(error=r"^GET /failclosed/archive/content/[0-7]")
        assert main(argv(world, built, archive=s3_archive)) == 2
        assert proxy.faults["error"] > 0
    line = one_error_line(capsys.readouterr().err)
    assert "build not published, the previous dataset is unchanged" in line
    assert "files failed in stage fetch_decode" in line and "failure_budget allows max(10, 0.001 x input)" in line
    assert snapshot(built) == before and not (built / ".lock").exists()
    assert_complete(built)
    (run,) = [v for v in publish.list_versions(str(built)) if v != before["version"]]
    report = json.loads((built / "versions" / run / "report.json").read_text())
    fetch = report["failure_budget"]["stages"]["fetch_decode"]
    assert report["published"] is False and "fetch_decode" in report["failure_budget"]["exceeded"]
    assert fetch["failed"] > fetch["allowed"] == 10
    # the same archive without the outage builds, and replaces the dataset
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    assert main(argv(world, built, archive=s3_archive)) == 0
    assert assert_complete(built)["failure_budget"]["total"]["failed"] == 0
    assert publish.current_version(str(built)) not in (before["version"], run)


def test_a_build_killed_in_its_pipeline_leaves_the_previous_dataset(world, built, tmp_path, capsys):
    before = snapshot(built)
    # The same archive, but one content object is a named pipe no one writes to: the build's fetch waits on
    # it forever, so the kill lands inside the pipeline however fast the rest of the build is.
    archive = tmp_path / "archive"
    shutil.copytree(world["archive"], archive)
    blocking = sorted((archive / "content").iterdir())[0]
    blocking.unlink()
    os.mkfifo(blocking)
    proc = child(argv(world, built, archive=str(archive)))
    deadline = time.monotonic() + 120
    while not [v for v in publish.list_versions(str(built)) if v != before["version"]]:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(1.0)  # in the pipeline, which cannot end before the kill
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(built) == before
    assert_complete(built)
    holder = publish.read_lock(str(built))
    assert holder["pid"] == proc.pid and publish.is_stale(holder)  # the dead build's lock is left...
    assert main(argv(world, built)) == 0  # ...and the next build takes it over, with a message
    assert "taking over the lock" in capsys.readouterr().err
    assert_complete(built)
    assert set(publish.list_versions(str(built))) == {before["version"], publish.current_version(str(built))}


@pytest.mark.parametrize("point", ["publish:before_pointer", "publish:after_pointer"])
def test_a_build_killed_while_publishing_is_old_or_new_and_finish_completes_it(world, built, point, capsys):
    before = snapshot(built)
    proc = child(argv(world, built), STACK_V2_FAILPOINT=point)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    (run,) = [v for v in publish.list_versions(str(built)) if v != before["version"]]
    published = point == "publish:after_pointer"
    assert snapshot(built) == before if not published else publish.current_version(str(built)) == run
    assert_complete(built)  # whichever it is, it is whole
    assert main(["finish", str(built), "--run", run]) == 0
    assert publish.current_version(str(built)) == run and not (built / ".lock").exists()
    assert_complete(built)
    assert set(publish.list_versions(str(built))) == {before["version"], run}


def test_an_optout_apply_killed_while_publishing_changes_nothing_and_a_retry_applies(world, built, tmp_path):
    before = snapshot(built)
    requests = tmp_path / "optouts.jsonl"
    requests.write_text(json.dumps({"owner": "local", "repos": ["sample"], "received": "2026-01-02"}) + "\n")
    apply = ["optout", "apply", "--requests", str(requests), "--dataset", str(built)]
    proc = child(apply, STACK_V2_FAILPOINT="publish:before_pointer")
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(built) == before
    assert main(apply) == 0
    report = assert_complete(built)
    repos = {r["repo_name"] for r in pq.read_table(str(built / "manifest")).to_pylist()}
    assert repos == {"local/jsonlib"} and report["optouts"]["repositories_removed"] == 1
    # opt-outs keep no earlier version: the removed files are gone from the output, not only unpointed
    assert publish.list_versions(str(built)) == [publish.current_version(str(built))]


def test_two_builds_into_one_output_the_second_is_refused(world, built, capsys):
    before = snapshot(built)
    first = child(argv(world, built))
    deadline = time.monotonic() + 120
    while (holder := publish.read_lock(str(built))) is None or holder["pid"] != first.pid:
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    assert main(argv(world, built)) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"is locked by build run {holder['run_id']} (pid {first.pid}" in line
    _out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert publish.current_version(str(built)) == holder["run_id"] != before["version"]
    assert_complete(built)
