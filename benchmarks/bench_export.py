"""Export benchmark: `stack-v2 export` in MB of input per CPU-second, and the tokenizer's tokens per CPU-second on
the same text.

Corpus: bench_build's (installed packages' sources, one git repository each, ``--size`` from bench_scaling),
built once with the-stack-v2 recipe without its license stage (bench_build.measure, in a subprocess) into
``<workdir>/export-dataset-<size>`` and reused. Tokenizer: a byte-level BPE of 32,768 ids with StarCoder2's
special tokens, trained once on the corpus's data shards (at most 32 MB of their text) into ``<workdir>``.

Measured, each export in a fresh subprocess on the in-process DirectRunner (CPU-seconds = the subprocess's
user + system time, interpreter start and imports included; MB = report.json's ``bytes_in``, the UTF-8 text
of every file read):

1. from the data shards, without a tokenizer; 2. with ``--tokenizer`` (num_tokens and the tokens section);
3. with ``--tokenizer --pack``; 4. from the archive's content store (``--archive``, the manifest's blob_ids);
5. the fixed cost: the export of a one-package dataset (bench_build's ``attr``), which gives each run's marginal
   MB per CPU-second, (MB - its MB) / (CPU-s - its CPU-s);
6. the tokenizer alone, in this process, on the documents of run 1 (``count_tokens``, its own threads
   included in the CPU-seconds): tokens and MB per CPU-second and per wall second.

    python benchmarks/bench_export.py [--workdir benchmarks/out] [--size tiny|small|medium|large] [-- Beam options]

Prints a table and the JSON (also written to ``<workdir>/export-results.json``). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "tests"))  # the tests' BPE trainer
from bench_build import TINY_PACKAGE, measure, prepare, recipe_prefix, table  # noqa: E402
from bench_scaling import SIZES  # noqa: E402
from tokenizer_files import train_bpe  # noqa: E402

VOCAB = 32768
TRAIN_BYTES = 32 * 1024 * 1024


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dataset_of(workdir: Path, size: str, extra: list[str]) -> tuple[Path, Path]:
    archive, _repos, _bytes = prepare(workdir, size, SIZES.get(size, (size,)))
    dataset = workdir / f"export-dataset-{size}"
    if not (dataset / "current").exists():
        print(f"building {dataset} ...", file=sys.stderr)
        measure(archive, dataset, len(recipe_prefix().stages), extra)
    return archive, dataset


def train_tokenizer(workdir: Path, dataset: Path) -> Path:
    path = workdir / f"bpe-{VOCAB}" / "tokenizer.json"
    if path.exists():
        return path
    import pyarrow.parquet as pq

    texts, total = [], 0
    for shard in sorted((dataset / "current" / "data").rglob("*.parquet")):
        for text in pq.read_table(shard, columns=["content"]).column("content").to_pylist():
            texts.append(text)
            total += len(text)
            if total > TRAIN_BYTES:
                break
        if total > TRAIN_BYTES:
            break
    return train_bpe(path, VOCAB, texts)  # byte-level, StarCoder2's special tokens


def run_export(dataset: Path, out: Path, args: list[str], extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "stack_v2.cli", "export", "--dataset", str(dataset), "--output", str(out), *args]
    subprocess.run(["rm", "-rf", str(out)], check=True)
    cpu, wall = children_cpu_s(), time.perf_counter()
    proc = subprocess.run([*cmd, "--runner=DirectRunner", *extra], capture_output=True, text=True, check=False)
    cpu, wall = children_cpu_s() - cpu, time.perf_counter() - wall
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"export of {dataset} ({' '.join(args)}) failed")
    report = json.loads((out / "report.json").read_text())
    mb = report["bytes_in"] / 1e6
    return {
        "files": report["files_in"],
        "mb_in": round(mb, 2),
        "documents": report["documents"],
        "mb_out": round(report["bytes_out"] / 1e6, 2),
        "tokens": (report.get("tokens") or {}).get("total"),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 1),
        "mb_per_cpu_s": round(mb / cpu, 3),
    }


def tokenizer_speed(tokenizer_path: Path, export_dir: Path) -> dict:
    import pyarrow.parquet as pq

    from stack_v2.tokens.tokenizer import count_tokens, load_tokenizer

    texts = [
        t
        for f in sorted((export_dir / "current" / "data").glob("*.parquet"))
        for t in pq.read_table(f).column("text").to_pylist()
    ]
    tokenizer = load_tokenizer(str(tokenizer_path))
    count_tokens(tokenizer, texts[:8])  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    tokens = sum(count_tokens(tokenizer, texts))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    return {
        "documents": len(texts),
        "mb": round(mb, 2),
        "tokens": tokens,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "tokens_per_cpu_s": round(tokens / cpu),
        "tokens_per_s": round(tokens / wall),
        "mb_per_cpu_s": round(mb / cpu, 3),
        "threads": os.environ.get("RAYON_NUM_THREADS", "default"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--size", default="tiny", choices=list(SIZES))
    parser.add_argument("beam_args", nargs="*", help="extra Beam pipeline options, after --")
    args = parser.parse_args()
    workdir = Path(args.workdir).resolve()
    archive, dataset = dataset_of(workdir, args.size, args.beam_args)
    tokenizer = train_tokenizer(workdir, dataset)
    runs = {
        "data shards": [],
        "+ --tokenizer": ["--tokenizer", str(tokenizer)],
        "+ --tokenizer --pack": ["--tokenizer", str(tokenizer), "--pack"],
        "--archive": ["--archive", str(archive)],
    }
    results: dict = {
        "size": args.size,
        "packages": list(SIZES[args.size]),
        "cores": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "exports": {},
    }
    _, tiny = dataset_of(workdir, TINY_PACKAGE, args.beam_args)
    fixed = run_export(tiny, workdir / "export-fixed", [], args.beam_args)
    results["fixed"] = {**fixed, "package": TINY_PACKAGE}
    for i, (name, extra_args) in enumerate(runs.items()):
        r = run_export(dataset, workdir / f"export-{i}", extra_args, args.beam_args)
        r["marginal_mb_per_cpu_s"] = round((r["mb_in"] - fixed["mb_in"]) / (r["cpu_s"] - fixed["cpu_s"]), 3)
        results["exports"][name] = r
        print(f"{name}: {r}", file=sys.stderr)
    results["tokenizer"] = tokenizer_speed(tokenizer, workdir / "export-0")
    results["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    t = results["tokenizer"]
    print(
        f"stack-v2 export, size {args.size} ({' '.join(results['packages'])}), {results['cores']} cores; "
        "fresh subprocess per export, DirectRunner, CPU-s incl. interpreter start and imports"
    )
    print(
        table(
            ["export", "files", "MB in", "documents", "MB out", "tokens", "CPU-s", "wall s", "MB/CPU-s", "marginal"],
            [[name, *r.values()] for name, r in results["exports"].items()],
        )
    )
    f = results["fixed"]
    print(
        f"fixed cost: {f['cpu_s']} CPU-s (export of {TINY_PACKAGE}'s {f['files']} files, {f['mb_in']} MB); "
        "marginal = (MB - its MB) / (CPU-s - its CPU-s)"
    )
    print(
        f"\ntokenizer ({VOCAB:,}-id byte-level BPE) on the {t['documents']:,} documents ({t['mb']} MB): "
        f"{t['tokens']:,} tokens, {t['tokens_per_cpu_s']:,} tokens/CPU-s, {t['tokens_per_s']:,} tokens/s wall, "
        f"{t['mb_per_cpu_s']} MB/CPU-s"
    )
    text = json.dumps(results, indent=2)
    (workdir / "export-results.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
