"""GitHub issues source benchmark: MB of GHArchive input per CPU-second, beside the floor of reading it.

Corpus: hourly GHArchive-style files made from GitHub's real webhook payloads (tests/data/gharchive,
from @octokit/webhooks-examples) as templates, one issue thread per standard-library module: the
module's docstring paragraphs as the opening and the comments, by 1-4 people (seeded), with the other
event types of the fixture (pull requests, pushes, stars) between them as GHArchive interleaves them.
Only the payloads' texts, ids, authors and times differ from the real events.

Measured, in CPU-seconds (user + system) of this process or of the build's subprocess:

1. the floor: gunzip + ``json.loads`` of every line (what any reader of GHArchive pays);
2. the cores alone, in this process: ``parse_line`` of every line, grouping by issue, ``decide_thread``;
3. the Beam transform (``ReadIssueThreads``) on the in-process DirectRunner, in a fresh subprocess
   (interpreter start and imports included).

Each as MB of uncompressed JSON lines per CPU-second, and as a ratio to the floor (1.0: as cheap as reading
the lines). Not a test.

    python benchmarks/bench_github_issues.py [--workdir /tmp/bench-gh-issues] [--hours 8] [--threads-per-hour 400]
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import json
import os
import pkgutil
import random
import resource
import subprocess
import sys
import sysconfig
import time
import warnings
from collections import defaultdict
from pathlib import Path

from stack_v2.github.events import IssueEvent, parse_line
from stack_v2.github.issue_threads import IssueThread, decide_thread

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "data" / "gharchive" / "octokit-events.json.gz"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stdlib_texts() -> list[str]:
    """Docstrings of importable standard-library modules with some prose, sorted by module name."""
    texts = []
    stdlib = sysconfig.get_paths()["stdlib"]
    for info in sorted(pkgutil.iter_modules([stdlib]), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in ("antigravity", "this"):  # importing them has side effects
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                module = __import__(info.name)
        except Exception:  # modules that need a display, a platform or a build option
            continue
        doc = inspect.getdoc(module) or ""
        if len(doc) > 300:
            texts.append(doc)
    return texts


def make_corpus(workdir: Path, hours: int, threads_per_hour: int, seed: int = 7) -> list[Path]:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        events = [json.loads(line) for line in f]
    opened = next(e for e in events if e["type"] == "IssuesEvent" and e["payload"]["action"] == "opened")
    comment = next(e for e in events if e["type"] == "IssueCommentEvent" and e["payload"]["action"] == "created")
    others = [e for e in events if e["type"] not in ("IssuesEvent", "IssueCommentEvent")]
    texts = stdlib_texts()
    rng = random.Random(seed)
    files, next_id = [], 30000000000
    workdir.mkdir(parents=True, exist_ok=True)
    for hour in range(hours):
        lines = []
        for t in range(threads_per_hour):
            number = hour * threads_per_hour + t + 1
            paragraphs = [p for p in rng.choice(texts).split("\n\n") if p.strip()]
            people = [f"dev-{rng.randrange(10_000)}" for _ in range(rng.randint(1, 4))]
            stamp = f"2023-01-01T{hour:02d}:{t * 60 // threads_per_hour:02d}:00Z"
            for i, paragraph in enumerate(paragraphs[:12]):
                template = opened if i == 0 else comment
                event = json.loads(json.dumps(template))
                event["id"] = str(next_id := next_id + 1)
                event["created_at"] = stamp
                event["repo"]["name"] = f"octo-org/repo-{number % 97}"
                issue = event["payload"]["issue"]
                issue["number"], issue["title"] = number, paragraph.split("\n")[0][:80]
                issue["user"]["login"] = people[0]
                if i == 0:
                    issue["body"] = paragraph
                else:
                    event["payload"]["comment"].update(id=next_id, body=paragraph)
                    event["payload"]["comment"]["user"]["login"] = people[i % len(people)]
                lines.append(event)
                if rng.random() < 0.5:
                    lines.append(rng.choice(others))
        path = workdir / f"2023-01-01-{hour}.json.gz"
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.writelines(json.dumps(line) + "\n" for line in lines)
        files.append(path)
    return files


def raw_mb(files: list[Path]) -> float:
    return sum(len(gzip.decompress(f.read_bytes())) for f in files) / 1e6


def floor(files: list[Path]) -> float:
    start = _cpu()
    for f in files:
        with gzip.open(f, "rb") as lines:
            for line in lines:
                json.loads(line)
    return _cpu() - start


def cores(files: list[Path]) -> tuple[float, int]:
    start = _cpu()
    by_issue = defaultdict(list)
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as lines:
            for line in lines:
                event = parse_line(line)
                if isinstance(event, IssueEvent):
                    by_issue[(event.repo_name.lower(), event.number)].append(event)
    kept = sum(isinstance(decide_thread(events), IssueThread) for events in by_issue.values())
    return _cpu() - start, kept


_BEAM_RUN = """
import json, sys
import apache_beam as beam
from stack_v2.stages.github_issues import ReadIssueThreads
files, out = json.loads(sys.argv[1]), sys.argv[2]
with beam.Pipeline("DirectRunner") as p:
    (p | ReadIssueThreads(files))["kept"] | beam.Map(lambda d: d.blob_id) | beam.io.WriteToText(out)
"""


def beam_transform(files: list[Path], workdir: Path) -> float:
    start = _children_cpu()
    args = [sys.executable, "-c", _BEAM_RUN, json.dumps([str(f) for f in files]), str(workdir / "kept")]
    subprocess.run(args, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return _children_cpu() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="/tmp/bench-gh-issues")
    parser.add_argument("--hours", type=int, default=8)
    parser.add_argument("--threads-per-hour", type=int, default=400)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    files = make_corpus(workdir / "gharchive", args.hours, args.threads_per_hour)
    mb = raw_mb(files)
    wall = time.perf_counter()
    floor_s = floor(files)
    cores_s, kept = cores(files)
    beam_s = beam_transform(files, workdir)
    results = {
        "input_mb": round(mb, 2),
        "files": len(files),
        "threads_kept": kept,
        "floor_mb_per_cpu_s": round(mb / floor_s, 2),
        "cores_mb_per_cpu_s": round(mb / cores_s, 2),
        "beam_mb_per_cpu_s": round(mb / beam_s, 2),
        "cores_vs_floor": round(floor_s / cores_s, 3),
        "beam_vs_floor": round(floor_s / beam_s, 3),
        "wall_s": round(time.perf_counter() - wall, 1),
    }
    print(json.dumps(results, indent=2))
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
