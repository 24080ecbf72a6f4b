"""Builds written to object storage (s3://, against moto's S3 server on loopback), the split of a build into
submit (``--no-wait``) and ``stack-v2 finish``, and recipes' relative paths.

moto 5.2 answers CompleteMultipartUpload with a ``CompleteMultipartUploadResponse`` root element where S3
sends ``CompleteMultipartUploadResult``; the AWS C++ SDK inside pyarrow rejects that as an error, so these
tests reach moto through a loopback proxy (tests/s3util.py) that renames the element and changes nothing else.

gs:// outputs are tested against gcp-storage-emulator (a GCS JSON-API server from PyPI) on loopback, in its
own process, reached through ``STORAGE_EMULATOR_HOST`` as Google's client libraries do. Dataflow's launcher
itself cannot run here (see test_deploy.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gitrepos import make_library_repo, make_sample_repo
from s3util import FaultyProxy, env_restore, env_snapshot, s3_client

from stack_v2 import storage
from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.finish import finish_build
from stack_v2.loader import iter_manifest_batches
from stack_v2.recipe import load_recipe
from stack_v2.runs import RunNotFinished

RECIPE = """\
name: object-storage
stages:
  - stage: select_repositories
  - stage: exact_dedup
  - stage: fetch_decode
  - stage: language
output:
  target_shard_bytes: 100000
  manifest_rows_per_shard: 25
"""
BUCKET = "datasets"


@pytest.fixture(scope="module")
def s3_output(s3_endpoint):
    """moto's S3 through the proxy that fixes its CompleteMultipartUpload answer (see the module's docstring)."""
    rename = ((b"CompleteMultipartUploadResponse", b"CompleteMultipartUploadResult"),)
    with FaultyProxy(s3_endpoint, rewrite=rename) as proxy:
        saved = env_snapshot(["AWS_ENDPOINT_URL"])
        os.environ["AWS_ENDPOINT_URL"] = proxy.url
        try:
            yield proxy.url
        finally:
            env_restore(saved)


@pytest.fixture(scope="module")
def world(tmp_path_factory, s3_output):
    root = tmp_path_factory.mktemp("objstore")
    lib = make_library_repo(root)
    sample = make_sample_repo(root)
    archive = root / "archive"
    import_git([str(lib), str(sample)], str(archive))
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    s3_client(s3_output).create_bucket(Bucket=BUCKET)
    local = root / "local"
    assert build(archive, recipe, str(local)) == 0
    return {"root": root, "archive": archive, "recipe": recipe, "local": local, "endpoint": s3_output}


def build(archive: Path, recipe: Path, output: str, *extra: str) -> int:
    return main(["build", "--archive", str(archive), "--output", output, "--pipeline", str(recipe), "--quiet", *extra])


def keys(endpoint: str, prefix: str) -> list[str]:
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    # without the empty "directory/" markers pyarrow leaves when it removes a directory's last object
    return sorted(
        o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("/")
    )


def local_files(root: Path) -> list[str]:
    """The files of a local dataset's current version (the run directory that was published)."""
    version = Path(os.path.realpath(root / "current"))
    return sorted(p.relative_to(version).as_posix() for p in version.rglob("*") if p.is_file())


def current_prefix(endpoint: str, prefix: str) -> str:
    """``prefix/versions/<current>/``: where the CURRENT pointer says the dataset is."""
    return f"{prefix}versions/{get(endpoint, prefix + 'CURRENT').decode().strip()}/"


def get(endpoint: str, key: str) -> bytes:
    return s3_client(endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()


@pytest.fixture(scope="module")
def s3_dataset(world):
    out = f"s3://{BUCKET}/same"
    assert build(world["archive"], world["recipe"], out) == 0
    return out


def test_build_to_s3_writes_the_same_dataset_as_a_local_build(world, s3_dataset):
    out, endpoint = s3_dataset, world["endpoint"]
    cur = current_prefix(endpoint, "same/")
    remote = keys(endpoint, cur)
    assert remote == local_files(world["local"])  # same files, no temporary objects left
    # nothing else under the prefix: the pointer and one version; no lock, no other run
    assert keys(endpoint, "same/") == sorted(["CURRENT", *(cur[len("same/") :] + k for k in remote)])
    assert sum(k.startswith("manifest/") for k in remote) >= 2 and any(k.startswith("data/Python/") for k in remote)
    for key in remote:
        if key.endswith(".parquet"):  # deterministic shards: byte-identical wherever they are written
            assert get(endpoint, cur + key) == (world["local"] / key).read_bytes(), key
    report = json.loads(get(endpoint, cur + "report.json"))
    local_report = json.loads((world["local"] / "report.json").read_text())
    assert report["accounting"] == "ok" and report["stages"] == local_report["stages"]
    card = get(endpoint, cur + "README.md").decode()
    assert "![" in card and "(report/languages.svg)" in card  # the card embeds the plots written beside it
    assert get(endpoint, cur + "report/languages.svg").startswith(b"<svg ")
    assert b"<html" in get(endpoint, cur + "report/index.html")
    # a trainer reads the manifest straight from the bucket, given the dataset's root
    rows = sum(b.num_rows for b in iter_manifest_batches(out, ["swhid"]))
    assert rows == report["totals"]["kept"]["files"] > 0


def test_no_wait_then_finish_replaces_the_previous_dataset(world, s3_dataset, capsys):
    out, endpoint = s3_dataset, world["endpoint"]
    first = current_prefix(endpoint, "same/")
    first_report = get(endpoint, first + "report.json")
    client = s3_client(endpoint)
    client.put_object(Bucket=BUCKET, Key="same/versions/crashed/report.json", Body=b"{}")  # a run that died
    capsys.readouterr()
    assert build(world["archive"], world["recipe"], out, "--no-wait") == 0
    said = capsys.readouterr().err
    run_id = said.split("--run ")[-1].split()[0]
    assert f"stack-v2 finish {out} --run {run_id}" in said
    listing = keys(endpoint, "same/")
    # submitted, not finished: the previous dataset is still the current one; the run holds the lock
    assert current_prefix(endpoint, "same/") == first and get(endpoint, first + "report.json") == first_report
    assert any(k.startswith(f"versions/{run_id}/manifest/") for k in listing)
    assert json.loads(get(endpoint, "same/.lock"))["run_id"] == run_id
    # a second build is refused while the submitted one holds the output
    assert build(world["archive"], world["recipe"], out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 2 and f"locked by build run {run_id}" in err  # the "building" line + the error
    assert main(["finish", out]) == 0  # the run holding the lock
    assert "dataset written to" in capsys.readouterr().err
    assert current_prefix(endpoint, "same/") == f"same/versions/{run_id}/"
    after = keys(endpoint, "same/")
    # the new version and the one it replaced stay; the crashed run and the lock are gone
    assert sorted({k.split("/")[1] for k in after if k.startswith("versions/")}) == sorted(
        [run_id, first.split("/")[2]]
    )
    assert ".lock" not in after and keys(endpoint, f"same/versions/{run_id}/") == local_files(world["local"])
    report = json.loads(get(endpoint, f"same/versions/{run_id}/report.json"))
    assert report["run"]["recipe"] == "object-storage" and report["accounting"] == "ok"


def test_finish_refuses_a_run_whose_shards_are_not_all_there(world, tmp_path, capsys):
    out = tmp_path / "partial"
    assert build(world["archive"], world["recipe"], str(out), "--no-wait") == 0
    (run,) = list((out / "versions").iterdir())
    shards = sorted((run / "manifest").iterdir())
    assert len(shards) >= 2
    hidden = shards[1].with_name("." + shards[1].name)
    shards[1].rename(hidden)  # as if a worker had not written it yet
    with pytest.raises(RunNotFinished, match=rf"manifest has {len(shards) - 1} of {len(shards)} part shards"):
        finish_build(str(out))
    capsys.readouterr()
    assert main(["finish", str(out), "--wait", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has not finished" in err and str(run.name) in err
    assert not (out / "report.json").exists() and not (out / "current").exists()  # nothing was published
    hidden.rename(shards[1])
    assert main(["finish", str(out)]) == 0
    assert (
        pq.read_table(out / "manifest").num_rows
        == json.loads((out / "report.json").read_text())["totals"]["kept"]["files"]
    )
    assert [p.name for p in (out / "versions").iterdir()] == [run.name] and not (out / ".lock").exists()


def test_finish_names_what_is_missing_and_rolls_back(world, tmp_path, capsys):
    assert main(["finish", str(tmp_path)]) == 2
    assert "no run to finish" in capsys.readouterr().err
    assert main(["finish", str(tmp_path), "--run", "abc"]) == 2
    assert "no run 'abc'" in capsys.readouterr().err
    out = tmp_path / "rollback"
    assert build(world["archive"], world["recipe"], str(out), "--no-wait") == 0
    (run,) = list((out / "versions").iterdir())
    assert main(["finish", str(out), "--rollback"]) == 0
    assert "dropped" in capsys.readouterr().err
    assert not run.exists() and not (out / ".lock").exists() and not (out / "current").exists()


def test_output_uris_are_checked_before_anything_runs(world, capsys):
    for uri, message in (("ftp://host/ds", "unsupported scheme 'ftp'"), ("s3:///ds", "needs a bucket name")):
        assert build(world["archive"], world["recipe"], uri) == 2
        err = capsys.readouterr().err
        assert message in err and uri in err


@pytest.fixture(scope="module")
def gcs_emulator():
    """gcp-storage-emulator on 127.0.0.1 in its own process (in-process it serves one request at a time
    under our GIL); STORAGE_EMULATOR_HOST points stack-v2's gs:// file system at it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gcp_storage_emulator",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
            "--default-bucket",
            BUCKET,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("gcp-storage-emulator did not start") from None
            time.sleep(0.1)
    saved = env_snapshot(["STORAGE_EMULATOR_HOST"])
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    try:
        yield f"gs://{BUCKET}"
    finally:
        env_restore(saved)
        proc.terminate()
        proc.wait(timeout=10)


def test_build_to_gcs_writes_the_same_dataset_as_a_local_build(world, gcs_emulator, capsys):
    out = f"{gcs_emulator}/ds"
    assert build(world["archive"], world["recipe"], out, "--no-wait") == 0  # as a Flex Template launches it
    assert storage.list_names(f"{out}/versions") and not storage.exists(f"{out}/CURRENT")
    assert json.loads(storage.read_text(f"{out}/.lock"))["detached"] is True
    assert main(["finish", out]) == 0
    version = storage.read_text(f"{out}/CURRENT").strip()
    root = f"{out}/versions/{version}"
    fs, base = storage.filesystem(root)
    remote = sorted(p[len(base) + 1 :] for p in storage.list_files(root))
    assert remote == local_files(world["local"]) and not storage.exists(f"{out}/.lock")
    for key in remote:
        if key.endswith(".parquet"):
            assert storage.read_bytes(f"{root}/{key}") == (world["local"] / key).read_bytes(), key
    report = json.loads(storage.read_text(f"{root}/report.json"))
    assert report["accounting"] == "ok" and report["totals"]["kept"]["files"] > 0
    assert "(report/languages.svg)" in storage.read_text(f"{root}/README.md")
    rows = sum(pq.ParquetFile(fs.open_input_file(p)).metadata.num_rows for p in storage.list_files(f"{root}/manifest"))
    assert rows == report["totals"]["kept"]["files"]


def test_storage_writes_are_whole_and_listings_skip_hidden_files(tmp_path, s3_output, gcs_emulator):
    s3_client(s3_output).create_bucket(Bucket="scratch")
    source = Path(json.__file__).read_bytes()  # a real file's bytes
    # over pyarrow's upload part size (10 MB on S3), so uploads of several parts are exercised too
    stdlib = sorted(Path(os.__file__).parent.glob("*.py"))
    big = b"".join(p.read_bytes() for p in stdlib)
    big = (big * (1 + 12 * 2**20 // len(big)))[: 12 * 2**20]
    for base in (str(tmp_path / "local"), "s3://scratch/prefix", f"{gcs_emulator}/scratch"):
        storage.write_bytes(storage.join(base, "a", "json.py"), source)
        storage.write_bytes(storage.join(base, "a", ".hidden.tmp"), b"partial")
        assert storage.read_bytes(storage.join(base, "a", "json.py")) == source
        storage.write_bytes(storage.join(base, "big.bin"), big)
        assert storage.read_bytes(storage.join(base, "big.bin")) == big
        assert [p.rsplit("/", 1)[-1] for p in storage.list_files(base, ".py")] == ["json.py"]
        assert storage.copy_tree(storage.join(base, "a"), storage.join(base, "b")) == 2
        assert storage.read_bytes(storage.join(base, "b", "json.py")) == source
        storage.delete(storage.join(base, "a"))
        assert not storage.exists(storage.join(base, "a", "json.py")) and storage.is_dir(storage.join(base, "b"))
        storage.delete(storage.join(base, "nothing"))  # nothing there is fine
    assert sorted(os.listdir(tmp_path / "local" / "b")) == [".hidden.tmp", "json.py"]
    assert storage.absolute("gs://bucket/ds/") == "gs://bucket/ds" and storage.is_remote("gs://bucket/ds")
    assert storage.join("gs://bucket/ds", "data", "Python") == "gs://bucket/ds/data/Python"


def test_recipe_paths_are_relative_to_the_recipe_file(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "r.yaml").write_text(
        "name: r\nstages:\n  - stage: select_repositories\n    repo_metadata: meta/repos.parquet\n"
        "  - stage: license\n    cache_path: default\n    permissive: s3://bucket/permissive.tsv\n"
        "  - stage: exact_dedup\n  - stage: fetch_decode\n"
        "  - stage: decontaminate\n    benchmarks: {humaneval: null, mbpp: ../bench/mbpp.jsonl}\n"
    )
    monkeypatch.chdir(tmp_path)  # not the recipe's folder
    recipe = load_recipe(str(folder / "r.yaml"))
    assert recipe.stage("select_repositories").params["repo_metadata"] == str(folder / "meta" / "repos.parquet")
    assert recipe.stage("license").params["cache_path"] == "default"
    assert recipe.stage("license").params["permissive"] == "s3://bucket/permissive.tsv"
    assert recipe.stage("decontaminate").params["benchmarks"] == {
        "humaneval": None,
        "mbpp": str(tmp_path / "bench" / "mbpp.jsonl"),
    }
    assert "meta/repos.parquet" in recipe.text  # the card shows the recipe as written


def test_repo_metadata_on_the_command_line_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    from stack_v2.cli import build_parser
    from stack_v2.cli_build import build_request

    monkeypatch.chdir(tmp_path)
    pq.write_table(pa.table({"repo_name": ["local/jsonlib"], "star_events_count": [3]}), tmp_path / "m.parquet")
    args = build_parser().parse_args(["build", "--archive", "a", "--output", "o", "--repo-metadata", "m.parquet"])
    request = build_request(args)
    assert request.recipe.stage("select_repositories").params["repo_metadata"] == str(tmp_path / "m.parquet")


def test_report_reads_a_dataset_in_s3_and_in_place_commands_say_they_need_a_local_one(world, s3_dataset, capsys):
    client = s3_client(world["endpoint"])
    cur = current_prefix(world["endpoint"], "same/")  # the report goes into the current version
    client.delete_object(Bucket=BUCKET, Key=cur + "report/index.html")
    assert main(["report", s3_dataset, "--top", "3"]) == 0
    assert b"<html" in get(world["endpoint"], cur + "report/index.html")
    assert "the card (README.md) shows the plots" in capsys.readouterr().err
    for argv in (
        ["manifest", "regenerate", "--dataset", s3_dataset, "--output", str(world["root"] / "regen")],
        ["optout", "apply", "--dataset", s3_dataset, "--requests", str(world["recipe"])],
        ["manifest", "check", "--dataset", s3_dataset],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and s3_dataset in err and "works on a local dataset only" in err


@pytest.mark.parametrize("store", ["local", "s3", "gs"])
def test_the_lock_admits_one_writer_on_every_store(store, tmp_path, s3_output, gcs_emulator):
    """Locally and on S3 (moto honours If-None-Match) the refusal is the conditional create's own; the GCS
    emulator ignores ifGenerationMatch=0, so there it is the look-first check that refuses."""
    from stack_v2.io import publish

    if store == "s3":
        s3_client(s3_output).create_bucket(Bucket="locks")
    dataset = {"local": str(tmp_path / "ds"), "s3": "s3://locks/ds", "gs": f"{gcs_emulator}/locks"}[store]
    holder = publish.acquire(dataset, "run-a", "build", detached=True)
    with pytest.raises(publish.DatasetLocked, match=r"locked by build run run-a \(submitted without waiting"):
        publish.acquire(dataset, "run-b", "build")  # the conditional create refuses, whatever the store
    assert publish.read_lock(dataset) == holder
    if store != "gs":  # the create-only write itself refuses, as a racing second writer would find
        assert publish._create_exclusive(dataset, "{}") is False and publish.read_lock(dataset) == holder
    publish.release(dataset, "run-b")  # not the holder: nothing happens
    assert publish.read_lock(dataset) == holder
    publish.release(dataset, "run-a")
    assert publish.read_lock(dataset) is None
    assert publish.acquire(dataset, "run-b", "build")["run_id"] == "run-b"
    publish.release(dataset, "run-b")


def test_a_failed_pointer_write_on_s3_leaves_the_previous_dataset(world, s3_dataset, s3_endpoint, capsys):
    """The publish step's only write is the CURRENT object: when S3 refuses it, nothing else changed."""
    from faultproxy import FaultProxy

    from stack_v2.io import publish

    endpoint = world["endpoint"]
    before = current_prefix(endpoint, "same/")
    before_keys = keys(endpoint, before)
    saved = env_snapshot(["AWS_ENDPOINT_URL"])
    with FaultProxy(endpoint) as proxy:  # in front of the module's moto proxy
        os.environ["AWS_ENDPOINT_URL"] = proxy.url
        try:
            proxy.set(error=rf"^PUT /{BUCKET}/same/CURRENT", status=500, code="InternalError")
            assert build(world["archive"], world["recipe"], s3_dataset) == 2
        finally:
            env_restore(saved)
        assert proxy.faults["error"] >= 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("stack-v2: error: ") and "same/CURRENT" in err
    assert current_prefix(endpoint, "same/") == before and keys(endpoint, before) == before_keys
    assert publish.read_lock(s3_dataset) is None  # the failed writer let go
