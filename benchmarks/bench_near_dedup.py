"""Near-dedup benchmark: the signature path beside datasketch, rensa and datatrove (one process, one
core, same corpus of real code), the whole stage's files/s and peak memory at two input sizes, and
precision/recall of merged pairs against exact Jaccard by brute force.

Needs the peers: pip install -e '.[bench]'.

Corpus: a seeded sample of the installed site-packages' .py files (>= 20 MB). Peers get the same
documents; each uses its own customary path (datasketch and rensa from Python shingle sets of the
same \\w+ 5-grams; datatrove's simplify_text + whitespace tokens + xxh64 + get_signature, since its
own tokenizer needs NLTK data that cannot be downloaded here).

    OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 POLARS_MAX_THREADS=1 taskset -c 1 \\
        python benchmarks/bench_near_dedup.py --workdir /tmp/stack-v2-bench
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from itertools import combinations
from pathlib import Path


def corpus(megabytes: float, seed: int = 0) -> list[str]:
    files = sorted(glob.glob(sysconfig.get_paths()["purelib"] + "/**/*.py", recursive=True))
    random.Random(seed).shuffle(files)
    texts, total = [], 0
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(text)
        total += len(text.encode())
        if total >= megabytes * 1e6:
            break
    return texts


def mb(texts) -> float:
    return sum(len(t.encode()) for t in texts) / 1e6


def python_shingles(text: str, n: int = 5) -> set[bytes]:
    tokens = re.findall(r"\w+", text.lower())
    return {" ".join(tokens[i : i + n]).encode() for i in range(max(len(tokens) - n + 1, 1))}


def bench_signatures(texts, num_perm: int = 250) -> dict:
    import numpy as np

    from stack_v2.neardedup.minhash import MinHashConfig, signatures

    results = {}

    def timed(name, fn):
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
        results[name] = round(mb(texts) / seconds, 2)

    config = MinHashConfig(num_perm=num_perm)
    start = time.perf_counter()  # once per process: numba's compiled pass (or its cache) and the word table
    signatures(texts[:1], config)
    results["stack_v2_first_call_s"] = round(time.perf_counter() - start, 2)
    timed("stack_v2", lambda: [signatures(texts[i : i + 256], config) for i in range(0, len(texts), 256)])

    import datasketch

    perms = datasketch.MinHash(num_perm=num_perm, seed=1).permutations

    def run_datasketch():
        for t in texts:
            m = datasketch.MinHash(num_perm=num_perm, permutations=perms, scheme="affine32")
            m.update_batch(list(python_shingles(t)))

    timed("datasketch", run_datasketch)

    import rensa

    def run_rensa():
        for t in texts:
            m = rensa.RMinHash(num_perm=num_perm, seed=42)
            m.update([s.decode() for s in python_shingles(t)])

    timed("rensa_python_shingles", run_rensa)

    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.text import simplify_text
    from xxhash import xxh64_intdigest

    # datatrove's constructor loads a spaCy word tokenizer (not installable offline); its signature code
    # needs only the config and the permutation parameters, so the step is built without it.
    dt = MinhashDedupSignature.__new__(MinhashDedupSignature)
    dt.config = MinhashConfig(num_buckets=25, hashes_per_bucket=10)
    dt.num_hashes = dt.config.num_buckets * dt.config.hashes_per_bucket
    dt._parameters = None

    def run_datatrove():
        for t in texts:
            words = simplify_text(t, dt.config.norm_config).split()
            shingles = np.fromiter(
                (xxh64_intdigest(" ".join(words[i : i + 5]).encode()) for i in range(max(len(words) - 4, 1))),
                dtype=np.uint64,
            ).reshape(-1, 1)
            dt.get_signature(shingles)

    timed("datatrove_end_to_end", run_datatrove)
    for peer in ("datasketch", "rensa_python_shingles", "datatrove_end_to_end"):
        results[f"ratio_vs_{peer}"] = round(results["stack_v2"] / results[peer], 1)
    return results


def stage_records(texts):
    import hashlib

    from stack_v2.records import FileOccurrence
    from stack_v2.stages.select_repos import record_from_occurrence

    out = []
    for i, text in enumerate(texts):
        data = text.encode()
        occ = FileOccurrence(
            origin=f"https://github.com/bench/r{i % 97}",
            repo_name=f"bench/r{i % 97}",
            snapshot_id="1" * 40,
            branch_name="refs/heads/main",
            revision_id="2" * 40,
            revision_date=i,
            committer_date=i,
            visit_date=0,
            directory_id="3" * 40,
            path=f"f{i}.py",
            blob_id=hashlib.sha1(data).hexdigest(),
            content_id="4" * 40,
            length=len(data),
            perms=0o100644,
            content_status="visible",
        )
        out.append(
            record_from_occurrence(occ, None)._replace(content=text, language="Python", license_type="no_license")
        )
    return out


def run_stage(records, verify=True):
    """{blob_id: survivor or None} from the NearDedup transform on the DirectRunner."""
    import apache_beam as beam

    from stack_v2.neardedup.minhash import MinHashConfig
    from stack_v2.stages.near_dedup import NearDedup

    with tempfile.TemporaryDirectory() as tmp:
        with beam.Pipeline() as p:
            result = p | beam.Create(records) | NearDedup(MinHashConfig(verify=verify))
            kept = result["kept"] | "K" >> beam.Map(lambda r: json.dumps([r.blob_id, None]))
            dropped = result["dropped"] | "D" >> beam.Map(
                lambda d: json.dumps([d.blob_id, d.detail.removeprefix("survivor=").split(";")[0]])
            )
            (kept, dropped) | beam.Flatten() | beam.io.WriteToText(f"{tmp}/out")
        return dict(json.loads(line) for f in Path(tmp).glob("out*") for line in f.read_text().splitlines())


def stage_child(megabytes: float) -> None:
    """Run in a subprocess: the stage on ``megabytes`` of code; prints files/s and peak RSS."""
    texts = corpus(megabytes, seed=1)
    records = stage_records(list(dict.fromkeys(texts)))
    start = time.perf_counter()
    outcome = run_stage(records)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "mb": round(mb(texts), 1),
                "files": len(records),
                "seconds": round(seconds, 1),
                "files_per_s": round(len(records) / seconds, 1),
                "removed": sum(v is not None for v in outcome.values()),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


def quality(sample_docs: int = 500) -> dict:
    """Pairs merged by the stage vs pairs with exact Jaccard >= 0.7, on a sample rich in near-duplicates."""
    from stack_v2.neardedup.minhash import shingle_set

    site = Path(sysconfig.get_paths()["purelib"])
    vendored = site / "pip" / "_vendor"
    docs = []
    for f in sorted(vendored.rglob("*.py")):  # pip's vendored libraries beside their installed versions
        twin = site / f.relative_to(vendored)
        if twin.is_file():
            docs += [f.read_text(errors="replace"), twin.read_text(errors="replace")]
    docs = list(dict.fromkeys(d for d in docs if len(d) > 200))
    docs += corpus(3, seed=2)[: max(sample_docs - len(docs), 0)]
    docs = list(dict.fromkeys(docs))[:sample_docs]
    records = stage_records(docs)
    sets = [shingle_set(d, 5) for d in docs]
    truth = set()
    for i, j in combinations(range(len(docs)), 2):
        inter = len(sets[i] & sets[j])
        if inter and inter / len(sets[i] | sets[j]) >= 0.7:
            truth.add((records[i].blob_id, records[j].blob_id))
    out = {"sample_docs": len(docs), "true_pairs_j>=0.7": len(truth)}
    for verify in (True, False):
        outcome = run_stage(records, verify=verify)
        clusters: dict[str, set[str]] = {}
        for blob, survivor in outcome.items():
            if survivor is not None:
                clusters.setdefault(survivor, {survivor}).add(blob)
        predicted = {tuple(sorted(p)) for c in clusters.values() for p in combinations(sorted(c), 2)}
        truth_sorted = {tuple(sorted(p)) for p in truth}
        hit = len(predicted & truth_sorted)
        label = "verified" if verify else "unverified"
        out[f"{label}_precision"] = round(hit / len(predicted), 3) if predicted else None
        out[f"{label}_recall"] = round(hit / len(truth_sorted), 3) if truth_sorted else None
        out[f"{label}_removed"] = sum(v is not None for v in outcome.values())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--megabytes", type=float, default=27)
    parser.add_argument("--stage-child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage_child:
        stage_child(args.stage_child)
        return 0
    texts = corpus(args.megabytes)
    results = {
        "corpus_mb": round(mb(texts), 2),
        "corpus_files": len(texts),
        "signatures_mb_per_s": bench_signatures(texts),
    }
    results["stage"] = [
        json.loads(
            subprocess.run(
                [sys.executable, __file__, "--stage-child", str(size)],
                check=True,
                capture_output=True,
                text=True,
                env=os.environ,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for size in (10, 20)
    ]
    results["quality"] = quality()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    (Path(args.workdir) / "near-dedup-results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
