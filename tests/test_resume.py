"""Resuming a killed build from its fetch checkpoint: nothing fetched is fetched again, and the dataset is
byte-identical to an uninterrupted build's.

Real repositories imported with import-git; the checkpointed build runs through the CLI in a child process
that is SIGKILLed once fetch_decode has persisted everything and a later stage is stuck: its malware stage
talks to a clamd stand-in made here (a UNIX socket that answers PING and VERSION, never a scan). Before
resuming, every content object the checkpoint holds is deleted from the archive, so a single re-fetch would
fail its file and change the dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import py_compile
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import charset_normalizer.constant
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gitrepos import git, init, make_library_repo, make_sample_repo
from s3util import s3_client

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.io.checkpoint import (
    SCHEMA,
    Checkpoint,
    CheckpointError,
    from_row,
    open_checkpoint,
    part_index,
    read_part,
    to_row,
    validity,
    write_part,
)
from stack_v2.verdicts import Drop, Fail

FRONT = """\
stages:
  - stage: select_repositories
  - stage: exact_dedup
  - stage: fetch_decode
    max_length: {max_length}
    concurrency: 4
  - stage: language
"""
RECIPE = "name: resume\n" + FRONT
STALLING = "name: resume-stalled\n" + FRONT + "  - stage: malware\n    socket: {socket}\n    scan_timeout: 3600\n"
MAX_LENGTH = 80000  # some email modules are larger: too_large drops are checkpointed too


class StallingClamd(socketserver.ThreadingUnixStreamServer):
    """Answers PING and VERSION as clamd does; a scan is never answered (``scanning`` says one was asked)."""

    daemon_threads = True

    def __init__(self, path: str):
        self.scanning, self.release = threading.Event(), threading.Event()
        super().__init__(path, _ClamdHandler)


class _ClamdHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data = b""
        while b"\0" not in data:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            data += chunk
        command = data.split(b"\0", 1)[0]
        if command == b"zPING":
            self.request.sendall(b"PONG\0")
        elif command == b"zVERSION":
            self.request.sendall(b"ClamAV 0.0.0/1/never answers a scan\0")
        else:  # zINSTREAM: hold the connection, answer nothing
            self.server.scanning.set()
            self.server.release.wait()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    lib = make_library_repo(root)
    sample = make_sample_repo(root)
    # Outcomes of every kind: binary (.pyc), undecodable (a stray byte in UTF-8), a charset other than UTF-8.
    odd = init(root / "odd")
    py_compile.compile(str(lib / "json" / "__init__.py"), cfile=str(odd / "json_init.pyc"))
    text = Path(charset_normalizer.constant.__file__).read_bytes()
    cut = text.index("ア".encode())
    (odd / "constant.py").write_bytes(text[:cut] + b"\xff" + text[cut:])
    (odd / "NOTES.txt").write_bytes((lib / "README.md").read_text().replace("library", "librería").encode("latin-1"))
    git(odd, "add", "-A")
    git(odd, "commit", "-qm", "odd files", date="2022-03-03T03:03:03+0000")
    archive = root / "archive"
    import_git([str(lib), str(sample), str(odd)], str(archive))
    # A content object the store lost: a failure, which a checkpoint never holds and a resume retries.
    lost = hashlib.sha1((sample / "src" / "email" / "base64mime.py").read_bytes()).hexdigest()
    os.remove(archive / "content" / lost)
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE.format(max_length=MAX_LENGTH))
    return {"root": root, "archive": archive, "recipe": recipe, "lost": lost}


def argv(world, out: Path, recipe: Path, *extra: str) -> list[str]:
    archive, recipe = str(world["archive"]), str(recipe)
    return ["build", "--archive", archive, "--output", str(out), "--pipeline", recipe, "--quiet", *extra]


@pytest.fixture(scope="module")
def reference(world):
    """The same recipe's build, uninterrupted and without a checkpoint."""
    out = world["root"] / "reference"
    assert main(argv(world, out, world["recipe"])) == 0
    return out


def checkpoint_rows(checkpoint: Path) -> list[dict]:
    return [row for part in sorted((checkpoint / "parts").glob("*.parquet")) for row in pq.read_table(part).to_pylist()]


def kill_once_fetched(world, out: Path, checkpoint: Path, expected: int) -> list[dict]:
    """Start the checkpointed build in a child, wait until its checkpoint holds ``expected`` rows and a
    later stage is stuck, SIGKILL it; returns the checkpoint's rows."""
    socket_path = str(world["root"] / "clamd.sock")
    stalled = world["root"] / "stalled.yaml"
    stalled.write_text(STALLING.format(max_length=MAX_LENGTH, socket=socket_path))
    clamd = StallingClamd(socket_path)
    threading.Thread(target=clamd.serve_forever, daemon=True).start()
    log = world["root"] / "killed.log"
    try:
        with open(log, "w") as stderr:
            child = subprocess.Popen(
                [sys.executable, "-m", "stack_v2.cli", *argv(world, out, stalled, "--checkpoint", str(checkpoint))],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                deadline = time.monotonic() + 60
                while not (clamd.scanning.is_set() and len(checkpoint_rows(checkpoint)) == expected):
                    assert child.poll() is None, f"the build ended before it was killed:\n{log.read_text()}"
                    assert time.monotonic() < deadline, f"the checkpoint never held {expected} rows:\n{log.read_text()}"
                    time.sleep(0.2)
            finally:
                child.send_signal(signal.SIGKILL)
            assert child.wait() == -signal.SIGKILL
    finally:
        clamd.release.set()
        clamd.shutdown()
        clamd.server_close()
    return checkpoint_rows(checkpoint)


def digests(out: Path) -> dict[str, str]:
    """Every Parquet file of the current version (data, manifest, dropped) by path, and report.json without
    its one measurement (the run's seconds)."""
    version = Path(os.path.realpath(out / "current"))
    found = {
        str(p.relative_to(version)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(version.rglob("*.parquet"))
    }
    report = json.loads((version / "report.json").read_text())
    del report["run"]["seconds"]
    found["report.json"] = hashlib.sha1(json.dumps(report, sort_keys=True).encode()).hexdigest()
    return found


@contextlib.contextmanager
def unfetchable(world, blob_ids):
    """The archive without these content objects meanwhile: fetching one would fail its file."""
    aside = world["root"] / "aside"
    aside.mkdir(exist_ok=True)
    for blob_id in blob_ids:
        os.replace(world["archive"] / "content" / blob_id, aside / blob_id)
    try:
        yield
    finally:
        for blob_id in blob_ids:
            os.replace(aside / blob_id, world["archive"] / "content" / blob_id)


@pytest.fixture(scope="module")
def killed(world, reference):
    """A checkpointed build SIGKILLed after fetch_decode persisted every outcome: (output, checkpoint, rows)."""
    report = json.loads((reference / "report.json").read_text())
    fetch = next(st for st in report["stages"] if st["stage"] == "fetch_decode")
    assert fetch["failed"]["files"] == 1 and fetch["dropped"]["files"] >= 3  # lost; binary, undecodable, too_large
    settled = fetch["kept"]["files"] + fetch["dropped"]["files"]
    out, checkpoint = world["root"] / "out", world["root"] / "checkpoint"
    rows = kill_once_fetched(world, out, checkpoint, settled)
    assert not (out / "current").exists()  # killed inside its pipeline: nothing published
    return out, checkpoint, rows


def resume(world, out: Path, checkpoint: Path, capsys) -> str:
    """The killed build's command again, with --resume and the recipe without the stuck stage; its checkpoint line."""
    capsys.readouterr()
    assert main(argv(world, out, world["recipe"], "--checkpoint", str(checkpoint), "--resume")) == 0
    return next(line for line in capsys.readouterr().err.splitlines() if line.startswith("stack-v2: checkpoint "))


def test_a_build_killed_after_fetching_resumes_without_fetching_again(world, reference, killed, capsys):
    out, checkpoint, rows = killed
    blobs = {r["blob_id"] for r in rows}
    assert len(blobs) == len(rows) and world["lost"] not in blobs  # one row per blob, failures never written
    assert {r["reason"] for r in rows if r["outcome"] == "dropped"} >= {"binary", "undecodable", "too_large"}
    with unfetchable(world, [b for b in blobs if (world["archive"] / "content" / b).exists()]):
        line = resume(world, out, checkpoint, capsys)
    assert (
        line == f"stack-v2: checkpoint {checkpoint}: {len(rows)} files from it, 1 not in it; 0 outcomes written to it"
    )
    assert digests(out) == digests(reference)
    assert len(checkpoint_rows(checkpoint)) == len(rows)  # the lost blob was retried (and failed again), not written
    run = json.loads((Path(os.path.realpath(out / "current")) / "run.json").read_text())
    assert run["checkpoint"] == {"uri": str(checkpoint), "resume": True}  # the version says where it came from


def test_a_checkpoint_missing_rows_fetches_just_those_and_adds_them(world, reference, killed, tmp_path, capsys):
    """As a kill during fetching leaves it: the blobs without a row are fetched, the others are not."""
    _out, killed_checkpoint, rows = killed
    rows = sorted(rows, key=lambda r: r["blob_id"])
    missing, kept = rows[:5], rows[5:]
    checkpoint = tmp_path / "checkpoint"
    (checkpoint / "parts").mkdir(parents=True)
    shutil.copy(killed_checkpoint / "checkpoint.json", checkpoint)
    pq.write_table(pa.Table.from_pylist(kept, schema=SCHEMA), checkpoint / "parts" / "survivor.parquet")
    out = tmp_path / "out"
    with unfetchable(world, [r["blob_id"] for r in kept if (world["archive"] / "content" / r["blob_id"]).exists()]):
        line = resume(world, out, checkpoint, capsys)
    assert (
        line == f"stack-v2: checkpoint {checkpoint}: {len(kept)} files from it, 6 not in it; 5 outcomes written to it"
    )
    assert digests(out) == digests(reference)
    added = [r for r in checkpoint_rows(checkpoint) if r["blob_id"] in {m["blob_id"] for m in missing}]
    assert sorted(added, key=lambda r: r["blob_id"]) == missing


def test_a_checkpoint_is_refused_for_another_build_with_one_line(world, tmp_path, capsys):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    made_for = validity(str(world["archive"]), 1)  # as a build of the same archive with max_length 1 writes it
    (checkpoint / "checkpoint.json").write_text(json.dumps({"valid_for": made_for}))
    out = tmp_path / "out"

    def refused(*extra: str, recipe: Path = world["recipe"]) -> str:
        capsys.readouterr()
        assert main(argv(world, out, recipe, *extra)) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("stack-v2: error: "), lines
        return lines[0]

    line = refused("--checkpoint", str(checkpoint), "--resume")
    assert f"checkpoint {checkpoint} was made for another build" in line
    assert f"(fetch_decode.max_length: checkpoint 1, this build {MAX_LENGTH})" in line  # that, and only that
    assert "--resume needs --checkpoint" in refused("--resume")
    assert "nothing to resume" in refused("--checkpoint", str(tmp_path / "empty"), "--resume")
    (checkpoint / "parts").mkdir()
    shutil.copy(world["recipe"], checkpoint / "parts" / "a.parquet")  # any part: a build's rows
    assert "add --resume to continue" in refused("--checkpoint", str(checkpoint))
    no_fetch = tmp_path / "no-fetch.yaml"
    no_fetch.write_text("name: no-fetch\nstages:\n  - stage: select_repositories\n")
    assert "has no fetch_decode stage" in refused("--checkpoint", str(tmp_path / "c2"), recipe=no_fetch)
    assert not out.exists()  # refused before anything was written


def test_a_checkpoint_in_an_object_store_is_written_listed_and_read(s3_endpoint):
    s3_client(s3_endpoint).create_bucket(Bucket="checkpoints")
    uri, made_for = "s3://checkpoints/build-1", validity("s3://archive", 100)
    assert open_checkpoint(uri, made_for, resume=False) == Checkpoint(uri, False, ())
    outcomes = [("a" * 40, ("print('é')\n", "UTF-8")), ("b" * 40, Drop("binary", "contains NUL bytes"))]
    rows = [to_row(SimpleNamespace(blob_id=blob_id, content_id="c" * 40), outcome) for blob_id, outcome in outcomes]
    name = write_part(uri, rows)
    assert to_row(SimpleNamespace(blob_id="d" * 40, content_id=None), Fail("missing", "gone")) is None
    with pytest.raises(CheckpointError, match="already holds 1 parts"):
        open_checkpoint(uri, made_for, resume=False)
    with pytest.raises(CheckpointError, match=r"\(archive: checkpoint 's3://archive', this build 's3://other'\)"):
        open_checkpoint(uri, validity("s3://other", 100), resume=True)
    checkpoint = open_checkpoint(uri, made_for, resume=True)
    assert checkpoint == Checkpoint(uri, True, (name,))
    assert list(part_index(checkpoint, name)) == [(b, (name, "c" * 40)) for b, _ in outcomes]
    assert [from_row(row) for row in read_part(checkpoint, name)] == [outcome for _, outcome in outcomes]
