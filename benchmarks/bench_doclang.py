"""Documentation-language benchmark: ``detect_language`` on real documentation files, one core.

Files: every file under the roots (default: this Python's site-packages and standard library) that
go-enry classifies as a documentation language, as the build's language stage would. Each is read,
decoded, and classified once, in this process (one core); the prose extraction and the fastText
prediction are timed apart, in CPU time of this process (steadier than wall time on a shared machine).

    python benchmarks/bench_doclang.py --model lid.176.bin [--root DIR ...] [--max-files 20000]

Any supervised fastText model works (the tests train a small one); lid.176.bin is the production one.
Prints a table per language. Not a test: numbers depend on the machine and the model.
"""

from __future__ import annotations

import argparse
import os
import sysconfig
import time
from collections import defaultdict
from pathlib import Path

import enry

from stack_v2.doclang.detect import MAX_INPUT_CHARS, MIN_LETTERS, letter_count, model_line
from stack_v2.doclang.model import load_model, predict
from stack_v2.doclang.prose import DOC_LANGUAGES, prose

MAX_FILE_BYTES = 10 << 20  # the build never fetches larger blobs


def documentation(roots, max_files: int):
    """(path, text, go-enry language) of the documentation files under ``roots``, in a stable order."""
    found = 0
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath, name)
                try:
                    data = path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else b""
                except OSError:
                    continue
                if not data or b"\0" in data:
                    continue
                language = enry.get_language(str(path.relative_to(root)), data)
                if language in DOC_LANGUAGES:
                    yield path, data.decode("utf-8", errors="replace"), language
                    found += 1
                    if found >= max_files:
                        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a supervised fastText model, e.g. lid.176.bin")
    parser.add_argument("--root", action="append", help="directory to scan (repeatable)")
    parser.add_argument("--max-files", type=int, default=20_000)
    args = parser.parse_args()
    roots = args.root or sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]})

    started = time.perf_counter()
    load_model(args.model)
    print(f"model loaded in {time.perf_counter() - started:.2f} s")
    model = load_model(args.model)
    stats = defaultdict(
        lambda: {"files": 0, "bytes": 0, "extract": 0.0, "predict": 0.0, "none": 0, "labels": defaultdict(int)}
    )
    for _path, text, language in documentation(roots, args.max_files):
        row = stats[language]
        row["files"] += 1
        row["bytes"] += len(text.encode("utf-8"))
        t0 = time.process_time()
        line = model_line(prose(text[:MAX_INPUT_CHARS], language))  # detect_language's steps, timed apart
        t1 = time.process_time()
        found = predict(model, line) if letter_count(line) >= MIN_LETTERS else None
        t2 = time.process_time()
        row["extract"] += t1 - t0
        row["predict"] += t2 - t1
        if found is None:
            row["none"] += 1
        else:
            row["labels"][found[0]] += 1

    print(
        f"{'language':<18}{'files':>7}{'MB':>8}{'docs/s':>9}{'MB/s':>8}{'extract':>9}{'predict':>9}{'none':>6}"
        "  top labels"
    )
    total = {"files": 0, "bytes": 0, "seconds": 0.0}
    for language, row in sorted(stats.items(), key=lambda item: -item[1]["bytes"]):
        seconds = row["extract"] + row["predict"]
        top = ", ".join(f"{k} {v}" for k, v in sorted(row["labels"].items(), key=lambda kv: -kv[1])[:3])
        print(
            f"{language:<18}{row['files']:>7}{row['bytes'] / 1e6:>8.1f}{row['files'] / seconds:>9.0f}"
            f"{row['bytes'] / 1e6 / seconds:>8.1f}{row['extract']:>8.2f}s{row['predict']:>8.2f}s{row['none']:>6}  {top}"
        )
        total["files"] += row["files"]
        total["bytes"] += row["bytes"]
        total["seconds"] += seconds
    if total["seconds"]:
        print(
            f"{'all':<18}{total['files']:>7}{total['bytes'] / 1e6:>8.1f}{total['files'] / total['seconds']:>9.0f}"
            f"{total['bytes'] / 1e6 / total['seconds']:>8.1f}"
        )


if __name__ == "__main__":
    main()
