"""License detection benchmark: license files per second without a cache, with a cold cache and a warm
(persisted) cache, and the hit rate, on >= 500 real license-file occurrences with realistic repetition.

Corpus: every LICENSE*/COPYING*/NOTICE*/AUTHORS* file shipped in the metadata of this machine's
installed packages, plus the license texts ScanCode ships for the licenses most used on GitHub. The
occurrences repeat them with a Zipf law (s=1.1) over their popularity order: a few texts (MIT,
Apache-2.0, ...) recur across most repositories, as on GitHub, and most are rare.

    python benchmarks/bench_licenses.py [--occurrences 2000] [--workdir /tmp/stack-v2-bench]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from importlib.metadata import distributions
from pathlib import Path

POPULAR = (
    "mit",
    "apache-2.0",
    "gpl-3.0",
    "bsd-new",
    "gpl-2.0",
    "bsd-simplified",
    "agpl-3.0",
    "lgpl-3.0",
    "mpl-2.0",
    "unlicense",
    "isc",
    "lgpl-2.1",
    "cc0-1.0",
    "epl-2.0",
    "wtfpl-2.0",
    "zlib",
    "artistic-2.0",
)


def corpus() -> list[bytes]:
    import licensedcode

    texts = []
    data_dir = Path(licensedcode.__file__).parent / "data" / "licenses"
    for key in POPULAR:
        texts.append((data_dir / f"{key}.LICENSE").read_text().split("---", 2)[2].lstrip("\n").encode())
    seen = {hashlib.sha1(t).digest() for t in texts}
    for dist in sorted(distributions(), key=lambda d: d.metadata["Name"] or ""):
        for f in dist.files or ():
            if "dist-info" in str(f) and f.name.upper().startswith(("LICENSE", "COPYING", "NOTICE", "AUTHORS")):
                path = f.locate()
                if path.is_file():
                    data = path.read_bytes()
                    if hashlib.sha1(data).digest() not in seen:
                        seen.add(hashlib.sha1(data).digest())
                        texts.append(data)
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", type=int, default=2000)
    parser.add_argument("--workdir", default="benchmarks/out")
    args = parser.parse_args()

    from stack_v2.licenses.detect import LicenseCache, ScanCodeDetector

    texts = corpus()
    rng = random.Random(42)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(texts))]
    occurrences = rng.choices(texts, weights=weights, k=args.occurrences)
    blobs = [(hashlib.sha1(t).hexdigest(), t) for t in occurrences]
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cache_path = workdir / "license-bench-cache.sqlite"
    cache_path.unlink(missing_ok=True)

    results = {
        "distinct_texts": len(texts),
        "occurrences": len(blobs),
        "distinct_in_sample": len({b for b, _ in blobs}),
        "mb": round(sum(map(len, occurrences)) / 1e6, 2),
    }
    started = time.perf_counter()
    ScanCodeDetector().load()
    results["index_load_s"] = round(time.perf_counter() - started, 2)

    def run(detector, label):
        LicenseCache.clear_memory()
        t = time.perf_counter()
        outs = [detector.detect(blob, data) for blob, data in blobs]
        seconds = time.perf_counter() - t
        results[f"{label}_files_per_s"] = round(len(blobs) / seconds, 1)
        results[f"{label}_scancode_calls"] = detector.calls
        results[f"{label}_hit_rate"] = round(sum(o.cached for o in outs) / len(outs), 3)
        return outs

    class NoCache(ScanCodeDetector):
        def detect(self, blob_id, data):  # every occurrence scanned: what a per-file scan costs
            LicenseCache.clear_memory()
            return super().detect(blob_id, data)

    baseline = run(NoCache(), "no_cache")
    cold = run(ScanCodeDetector(cache_path=str(cache_path)), "cold_cache")
    warm = run(ScanCodeDetector(cache_path=str(cache_path)), "warm_cache")
    assert [o.licenses for o in baseline] == [o.licenses for o in cold] == [o.licenses for o in warm]
    results["speedup_cold_vs_no_cache"] = round(results["cold_cache_files_per_s"] / results["no_cache_files_per_s"], 1)
    results["speedup_warm_vs_no_cache"] = round(results["warm_cache_files_per_s"] / results["no_cache_files_per_s"], 1)
    (workdir / "license-results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
