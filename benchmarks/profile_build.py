"""Where a build's CPU goes: stage work (stack_v2's cores, encoders, writers and the libraries they call)
against Beam's runner plumbing, from a py-spy profile of one build on the in-process DirectRunner.

The build is bench_build.py's (``--child``: the-stack-v2 without ``license``, a fresh process) run under
``py-spy record --format raw`` (``pip install py-spy``); a sample counts for the first module met walking
its stack from the innermost frame outwards: a ``stack_v2`` frame makes it stage work (enry, rensa,
detect-secrets or pyarrow called from a stage count so), an ``apache_beam`` frame plumbing (coders, data
channels, grouping buffers, bundle set-up), an import frame start-up; samples of idle threads (a thread
pool or gRPC server waiting) are left out. Shares are of samples, so they hold whatever the machine's load.

    python benchmarks/profile_build.py ARCHIVE [--workdir /tmp/profile] [--rate 100] [--top 25]

Prints the shares and the most sampled frames of each kind; keeps the raw profile in the workdir.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Innermost frames of threads that wait: not CPU.
IDLE = (
    "_worker (concurrent/futures/thread.py",
    "Thread.run (threading.py",
    "_serve (grpc",
    "Condition.wait",
    "_wait_for_tstate_lock",
    "Event.wait",
)
KINDS = (("stage", "stack_v2/"), ("beam", "apache_beam/"), ("import", "importlib"), ("import", "<frozen"))


def kind_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for kind, marker in KINDS:
            if marker in frame:
                return kind
    return "other"


def classify(raw: Path) -> tuple[collections.Counter, dict[str, collections.Counter]]:
    """Samples per kind, and per kind the innermost frame of that kind (line numbers dropped)."""
    totals: collections.Counter = collections.Counter()
    frames_of: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or any(idle in frames[-1] for idle in IDLE):
            continue
        kind = kind_of(frames)
        totals[kind] += int(count)
        marker = next((m for k, m in KINDS if k == kind), None)
        inner = next((f for f in reversed(frames) if marker and marker in f), frames[-1])
        frames_of[kind][re.sub(r":\d+\)$", ")", inner)] += int(count)
    return totals, frames_of


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive")
    parser.add_argument("--workdir", default="/tmp/profile-build")
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    raw, out = workdir / "profile.txt", workdir / "dataset"
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy not found: pip install py-spy")
    sys.path.insert(0, str(HERE))
    from bench_build import recipe_prefix

    stages = str(len(recipe_prefix().stages))
    child = [sys.executable, str(HERE / "bench_build.py"), "--child", args.archive, str(out), stages]
    record = [spy, "record", "-r", str(args.rate), "--format", "raw", "-o", str(raw), "--", *child]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # bytecode cached, as bench_build
    subprocess.run(record, check=True, capture_output=True, env=env)
    totals, frames_of = classify(raw)
    n = sum(totals.values())
    print(f"{n} samples of working threads: " + ", ".join(f"{k} {v / n:.1%}" for k, v in totals.most_common()))
    for kind, _ in totals.most_common():
        print(f"\n{kind}: innermost {kind} frames")
        for frame, count in frames_of[kind].most_common(args.top):
            print(f"{count:7d} {count / n:6.1%}  {frame[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
