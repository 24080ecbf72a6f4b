"""Quality-filter benchmark: MB/s per core of the paper's five source-code filters and the language
selection, each and all together, on real code (a seeded sample of the installed site-packages' files:
Python, JavaScript, HTML, JSON, Markdown, text), with the per-file statistics they read.

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/bench_filters.py --megabytes 30
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import random
import resource
import sysconfig
import time
from pathlib import Path

EXTENSIONS = ("py", "js", "html", "json", "md", "txt", "css", "c", "h", "rst", "yaml", "xml")


def corpus(megabytes: float, seed: int = 0) -> list[tuple[str, str]]:
    root = sysconfig.get_paths()["purelib"]
    files = sorted(f for ext in EXTENSIONS for f in glob.glob(f"{root}/**/*.{ext}", recursive=True))
    random.Random(seed).shuffle(files)
    out, total = [], 0
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        out.append((f[len(root) + 1 :], text))
        total += len(text.encode())
        if total >= megabytes * 1e6:
            break
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=30)
    args = parser.parse_args()

    from stack_v2.quality.languages import load_selection
    from stack_v2.quality.rules import FILTERS, default_rules, make_filter
    from stack_v2.quality.stats import text_stats
    from stack_v2.records import FileOccurrence
    from stack_v2.stages.base import Drop
    from stack_v2.stages.language import classify
    from stack_v2.stages.select_repos import record_from_occurrence

    files = corpus(args.megabytes)
    megabytes = sum(len(t.encode()) for _, t in files) / 1e6
    records = []
    for path, text in files:
        data = text.encode()
        occ = FileOccurrence(
            "https://github.com/bench/site",
            "bench/site",
            None,
            None,
            None,
            None,
            None,
            None,
            "0" * 40,
            path,
            hashlib.sha1(data).hexdigest(),
            "0" * 40,
            len(data),
            0o100644,
            "visible",
        )
        rec = classify(record_from_occurrence(occ, None)._replace(content=text))
        if not isinstance(rec, Drop):
            records.append(rec)
    rec_mb = sum(r.length_bytes for r in records) / 1e6

    results = {"corpus_mb": round(megabytes, 1), "files": len(records)}
    text_stats("é")  # builds the per-process Unicode tables once, outside the timing
    start = time.perf_counter()
    records = [r._replace(**text_stats(r.content)._asdict()) for r in records]
    results["statistics_mb_per_s"] = round(rec_mb / (time.perf_counter() - start), 1)

    rules = default_rules()
    stages = {"select_languages": load_selection(), **{name: make_filter(name, rules[name]) for name in FILTERS}}
    per_stage, drops = {}, {}
    for name, core in stages.items():  # each filter alone on the whole corpus
        start = time.perf_counter()
        for r in records:
            verdict = core(r)
            if isinstance(verdict, Drop):
                drops[f"{name}:{verdict.reason}"] = drops.get(f"{name}:{verdict.reason}", 0) + 1
        per_stage[name] = round(rec_mb / (time.perf_counter() - start), 1)
    results["each_filter_alone_mb_per_s"] = per_stage
    results["drops_when_alone"] = dict(sorted(drops.items()))

    start = time.perf_counter()  # the chain as a build runs it: each file stops at its first drop
    kept = 0
    for r in records:
        for core in stages.values():
            if isinstance(core(r), Drop):
                break
        else:
            kept += 1
    results["chain_mb_per_s"] = round(rec_mb / (time.perf_counter() - start), 1)
    results["chain_kept_files"] = kept
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
