"""One recipe, every runner, the same bytes: the demo recipe's stages on a small archive of real
repositories, built by ``stack-v2 build`` on the DirectRunner (in-process and multi_processing), on
the PortableRunner against Beam's own job service (LOOPBACK, and EXTERNAL with a worker pool: the
protocol Spark's and Flink's job servers speak) and on the DaskRunner against a dask.distributed
LocalCluster of two worker processes. Every server is real and started here on 127.0.0.1 (or
localhost), and stopped when the module's tests end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from daskcluster import local_client
from gitrepos import make_library_repo, make_sample_repo

from stack_v2.archive.import_git import import_git

BUILD_TIMEOUT = 420  # seconds for one build; a runner that hangs fails with its output instead
SERVER_START_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    # Beam's worker pool starts each SDK worker as `python -c ...` from PATH: make that this interpreter
    # (a virtualenv's python is not on PATH when the tests run as .venv/bin/python -m pytest).
    return {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}


class Server:
    """A server subprocess in its own process group, its output in a log file; stopped with its children."""

    def __init__(self, name: str, args: list[str], log: Path, cwd: Path):
        self.name, self.log = name, log
        self._out = open(log, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=_env(),
            start_new_session=True,
        )

    def fail(self, why: str):
        pytest.fail(f"{self.name}: {why}; its log ({self.log}):\n{self.log.read_text(errors='replace')[-4000:]}")

    def wait_for(self, ready, what: str):
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"exited with status {self.proc.returncode} before {what}")
            value = ready()
            if value:
                return value
            time.sleep(0.2)
        self.fail(f"no {what} after {SERVER_START_TIMEOUT} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGINT first: both servers stop on KeyboardInterrupt, and the worker pool's atexit hook then
            # stops the SDK workers it started. Then the whole process group, if anything is left.
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=15)
        self._out.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("localhost", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def job_service(tmp_path_factory):
    """Beam's local job service (what `PortableRunner --job_endpoint` talks to), on a free port."""
    home = tmp_path_factory.mktemp("job-service")
    port_file = home / "port"
    server = Server(
        "local_job_service_main",
        [
            "-m",
            "apache_beam.runners.portability.local_job_service_main",
            "--port",
            "0",
            "--port_file",
            str(port_file),
            "--staging_dir",
            str(home / "staging"),
        ],
        home / "job-service.log",
        home,
    )
    try:
        port = server.wait_for(lambda: port_file.exists() and port_file.read_text().strip(), "port file")
        server.wait_for(lambda: _listening(int(port)), f"listener on port {port}")
        yield f"localhost:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    """Beam's worker pool (EXTERNAL environment): starts an SDK worker process per job. Its working
    directory is not the build's, so relative paths in a build must have been made absolute."""
    home = tmp_path_factory.mktemp("worker-pool")
    port = _free_port()  # worker_pool_main does not report a port chosen by the system
    server = Server(
        "worker_pool_main",
        ["-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(port)],
        home / "worker-pool.log",
        home,
    )
    try:
        server.wait_for(lambda: _listening(port), f"listener on port {port}")
        yield f"localhost:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dask_cluster():
    """A dask.distributed LocalCluster: a scheduler on 127.0.0.1 and two worker processes."""
    with local_client(n_workers=2, processes=True, host="127.0.0.1") as client:
        yield client


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An archive of real repositories (the json and email packages, a fork, a submodule) and repository
    metadata (read by ReadFromParquet: a bounded source on every runner)."""
    root = tmp_path_factory.mktemp("runners")
    lib = make_library_repo(root)
    sample = make_sample_repo(root, submodule=lib)
    fork = root / "jsonlib-fork"
    subprocess.run(["git", "clone", "-q", str(lib), str(fork)], check=True, capture_output=True)
    archive = root / "archive"
    import_git([str(lib), str(sample), str(fork)], str(archive))
    metadata = root / "repos.parquet"
    pq.write_table(
        pa.table(
            {
                "repo_name": ["local/jsonlib", "local/jsonlib-fork", "local/sample"],
                "star_events_count": [3, 40, 7],
                "fork_events_count": [1, 2, 0],
                "gha_license_id": [None, None, None],
            },
            schema=pa.schema(
                [
                    ("repo_name", pa.string()),
                    ("star_events_count", pa.int64()),
                    ("fork_events_count", pa.int64()),
                    ("gha_license_id", pa.string()),
                ]
            ),
        ),
        metadata,
    )
    return {"root": root, "archive": archive, "metadata": metadata}


def build(world, name: str, runner_args: list[str], cwd: Path | None = None, relative: bool = False) -> Path:
    """`stack-v2 build` with the demo recipe in a subprocess (so a hung runner times out); the dataset.

    Progress is on: its last line must account for every file of report.json, which shows that the
    workers' counts reached the launcher (from other processes on every runner but the in-process ones).
    """
    out = world["root"] / f"dataset-{name}"
    cwd = cwd or world["root"]
    archive, output = (
        (os.path.relpath(p, cwd) for p in (world["archive"], out)) if relative else (world["archive"], out)
    )
    cmd = [
        sys.executable,
        "-m",
        "stack_v2.cli",
        "build",
        "--archive",
        str(archive),
        "--output",
        str(output),
        "--pipeline",
        "demo",
        "--repo-metadata",
        str(world["metadata"]),
        *runner_args,
    ]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{name}: no result after {BUILD_TIMEOUT} s:\n{(exc.stderr or b'')[-4000:]!s}")
    print(f"{name}: built in {time.perf_counter() - started:.1f} s")  # per runner, in the log with pytest -rA
    assert proc.returncode == 0, f"{name}: exit {proc.returncode}:\n{proc.stderr[-6000:]}"
    files = json.loads((out / "report.json").read_text())["totals"]["input"]["files"]
    last = [line for line in proc.stderr.splitlines() if line.startswith("[stack-v2] ") and "%" in line][-1]
    assert last.startswith("[stack-v2] 100% ") and f"done: {files:,}/{files:,} files" in last, (name, last)
    return out


def tables(dataset: Path) -> dict[str, bytes]:
    """Every Parquet file of the dataset's current version (manifest, dropped, data shards...) by relative path."""
    version = Path(os.path.realpath(dataset / "current"))
    return {str(p.relative_to(version)): p.read_bytes() for p in sorted(version.rglob("*.parquet"))}


def check_report(dataset: Path) -> dict:
    report = json.loads((dataset / "report.json").read_text())
    assert report["accounting"] == "ok"
    for st in report["stages"]:
        assert st["input"]["files"] == st["kept"]["files"] + st["dropped"]["files"] + st["failed"]["files"]
    manifest = pq.read_table(str(dataset / "manifest"))
    assert report["totals"]["kept"]["files"] == manifest.num_rows
    assert report["totals"]["input"]["files"] == manifest.num_rows + pq.read_table(str(dataset / "dropped")).num_rows
    assert [p.name for p in (dataset / "versions").iterdir()] == [os.path.basename(os.readlink(dataset / "current"))]
    return report


@pytest.fixture(scope="module")
def reference(world):
    """The DirectRunner, in-process: what every other runner must reproduce byte for byte."""
    dataset = build(world, "direct", [])
    report = check_report(dataset)
    return {"dataset": dataset, "report": report, "tables": tables(dataset)}


def assert_same_as_reference(reference, dataset: Path) -> None:
    report = check_report(dataset)
    assert report["stages"] == reference["report"]["stages"]
    assert report["languages"] == reference["report"]["languages"]
    got = tables(dataset)
    assert sorted(got) == sorted(reference["tables"])
    differing = [name for name in got if got[name] != reference["tables"][name]]
    assert not differing, f"Parquet files that differ from the DirectRunner's: {differing}"


def test_direct_runner_builds_the_demo_recipe(reference):
    report = reference["report"]
    manifest = pq.read_table(str(reference["dataset"] / "manifest")).to_pylist()
    assert {r["repo_name"] for r in manifest} == {"local/jsonlib-fork", "local/sample"}  # the fork has more stars
    assert all(r["language"] and r["swhid"].startswith("swh:1:cnt:") for r in manifest)
    assert [st["stage"] for st in report["stages"]][:4] == [
        "select_repositories",
        "license",
        "exact_dedup",
        "fetch_decode",
    ]
    dropped = {(r["stage"], r["reason"]) for r in pq.read_table(str(reference["dataset"] / "dropped")).to_pylist()}
    assert {("select_repositories", "duplicate_repository"), ("exact_dedup", "exact_duplicate")} <= dropped
    assert any(name.startswith("manifest/") for name in reference["tables"])


def test_direct_runner_multi_processing(world, reference):
    dataset = build(world, "multi_processing", ["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert_same_as_reference(reference, dataset)


def test_portable_runner_loopback(world, reference, job_service):
    dataset = build(
        world,
        "portable_loopback",
        ["--runner=PortableRunner", f"--job_endpoint={job_service}", "--environment_type=LOOPBACK"],
    )
    assert_same_as_reference(reference, dataset)


def test_portable_runner_external_worker_pool(world, reference, job_service, worker_pool, tmp_path):
    # Relative --archive and --output, given in a directory at another depth than the pool's, where the
    # workers run: the same relative paths point elsewhere there.
    cwd = tmp_path / "deeper" / "still"
    cwd.mkdir(parents=True)
    dataset = build(
        world,
        "portable_external",
        [
            "--runner=PortableRunner",
            f"--job_endpoint={job_service}",
            "--environment_type=EXTERNAL",
            f"--environment_config={worker_pool}",
        ],
        cwd=cwd,
        relative=True,
    )
    assert_same_as_reference(reference, dataset)


def test_dask_runner_on_a_two_process_cluster(world, reference, dask_cluster):
    from dask.distributed import get_task_stream

    address = dask_cluster.scheduler.address
    with get_task_stream(dask_cluster) as stream:
        dataset = build(world, "dask", ["--runner", "DaskRunner", "--dask_client_address", address])
    assert_same_as_reference(reference, dataset)
    # The work was spread over both worker processes, and the run left nothing behind on them.
    assert len({task["worker"] for task in stream.data}) == 2
    assert all(not pooled for pooled in dask_cluster.run(_pooled_dofns).values())
    # Every worker got the plugin that gives freed memory back (stack_v2.dask_memory).
    assert all(dask_cluster.run(_returns_freed_memory).values())


def _returns_freed_memory(dask_worker) -> bool:
    from stack_v2.dask_memory import PLUGIN_NAME

    return PLUGIN_NAME in dask_worker.plugins and PLUGIN_NAME in dask_worker.periodic_callbacks


def _pooled_dofns() -> int:
    from stack_v2 import dask_tasks

    return len(dask_tasks._IDLE) + len(dask_tasks._SPECS)
