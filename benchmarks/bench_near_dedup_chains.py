"""Near-dedup's cluster resolutions side by side: the paper's connected components against the greedy
resolution, on the same corpus of real code with chains of near-duplicates.

Corpora:
- ``npm``: released versions of JavaScript packages from the npm registry (tarballs cached in
  ``--workdir``, never in the repository), every .js/.mjs/.cjs file of each: the dist/, esm/, cjs/ and
  src/ builds of one module across versions form long chains.
- ``local``: this machine's Python packages: pip's vendored libraries beside their installed releases,
  and the standard library.

For each resolution: files kept and removed, removals whose survivor is below the threshold (by exact
5-gram Jaccard and by the stage's estimate), recall on pairs at exact Jaccard >= 0.85 (pairs with a
member removed), and the stage's CPU time on the DirectRunner (one process).

    python benchmarks/bench_near_dedup_chains.py --workdir /tmp/stack-v2-bench --corpus npm local
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import resource
import sysconfig
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

NPM = {  # consecutive releases: each module's builds change a little from one to the next
    "axios": ["1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0", "1.7.0"],
    "redux": ["4.0.0", "4.0.5", "4.1.0", "4.1.2", "4.2.0", "4.2.1"],
    "preact": ["10.10.0", "10.11.0", "10.12.0", "10.13.0", "10.14.0", "10.15.0"],
}
MAX_BYTES = 1 << 20


def npm_files(workdir: Path) -> list[tuple[str, str, str, int]]:
    """(repo, path, text, rank hint) per JavaScript file of the releases in ``NPM``; newer releases rank higher."""
    cache = workdir / "npm"
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for package, versions in NPM.items():
        for order, version in enumerate(versions):
            tgz = cache / f"{package}-{version}.tgz"
            if not tgz.exists():
                url = f"https://registry.npmjs.org/{package}/-/{package}-{version}.tgz"
                with urllib.request.urlopen(url, timeout=60) as response:
                    tgz.write_bytes(response.read())
            with tarfile.open(fileobj=io.BytesIO(tgz.read_bytes())) as tar:
                for member in tar.getmembers():
                    if member.isfile() and member.name.endswith((".js", ".mjs", ".cjs")) and member.size <= MAX_BYTES:
                        text = tar.extractfile(member).read().decode("utf-8", "replace")
                        out.append((f"npm/{package}@{version}", member.name, text, order))
    return out


def local_files() -> list[tuple[str, str, str, int]]:
    """pip's vendored libraries and their installed releases (the installed rank higher)."""
    site = Path(sysconfig.get_paths()["purelib"])
    vendored = site / "pip" / "_vendor"
    out = []
    for library in sorted(p for p in vendored.iterdir() if p.is_dir() and (site / p.name).is_dir()):
        for root, order in ((library, 0), (site / library.name, 1)):
            for f in sorted(root.rglob("*.py")):
                if f.stat().st_size <= MAX_BYTES:
                    out.append(
                        (
                            f"local/{library.name}@{order}",
                            str(f.relative_to(root)),
                            f.read_text("utf-8", "replace"),
                            order,
                        )
                    )
    return out


def records_of(files, language: str):
    """Stage records, one per distinct content (the stage runs after exact dedup)."""
    from stack_v2.records import FileOccurrence
    from stack_v2.stages.select_repos import record_from_occurrence

    seen, out = set(), []
    for repo, path, text, order in files:
        data = text.encode()
        blob = hashlib.sha1(data).hexdigest()
        if blob in seen or not text.strip():
            continue
        seen.add(blob)
        occ = FileOccurrence(
            origin=f"https://example.org/{repo}",
            repo_name=repo,
            snapshot_id="1" * 40,
            branch_name="refs/heads/main",
            revision_id="2" * 40,
            revision_date=order,
            committer_date=order,
            visit_date=0,
            directory_id="3" * 40,
            path=path,
            blob_id=blob,
            content_id="4" * 40,
            length=len(data),
            perms=0o100644,
            content_status="visible",
        )
        out.append(
            record_from_occurrence(occ, {"star_events_count": order})._replace(
                content=text, language=language, license_type="permissive"
            )
        )
    return out


def run(records, resolution: str) -> tuple[dict, float]:
    """({blob: (survivor, detail) or None}, the pipeline's CPU seconds) on the DirectRunner."""
    import apache_beam as beam

    from stack_v2.neardedup.minhash import MinHashConfig
    from stack_v2.stages.near_dedup import NearDedup

    before = resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory() as tmp:
        with beam.Pipeline() as p:
            result = p | beam.Create(records) | NearDedup(MinHashConfig(), 256, resolution)
            kept = result["kept"] | "K" >> beam.Map(lambda r: json.dumps([r.blob_id, None]))
            dropped = result["dropped"] | "D" >> beam.Map(lambda d: json.dumps([d.blob_id, d.detail]))
            (kept, dropped) | beam.Flatten() | beam.io.WriteToText(f"{tmp}/out")
        outcome = dict(json.loads(line) for f in Path(tmp).glob("out*") for line in f.read_text().splitlines())
    after = resource.getrusage(resource.RUSAGE_SELF)
    return outcome, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def close_pairs(records, at: float = 0.85) -> list[tuple[str, str]]:
    """Pairs at exact Jaccard >= ``at``: candidates from all-pairs estimated Jaccard >= at - 0.1 (the
    estimate's standard error at 250 permutations is <= 0.032, so none is missed in practice), then exact."""
    from stack_v2.neardedup.minhash import MinHashConfig, exact_jaccard, signatures

    sigs, ok = signatures([r.content for r in records], MinHashConfig())
    pairs = []
    for i in range(len(records)):
        if not ok[i]:
            continue
        similar = (sigs[i + 1 :] == sigs[i]).mean(axis=1) >= at - 0.1
        for k in np.nonzero(similar)[0] + i + 1:
            if ok[k] and exact_jaccard(records[i].content, records[k].content) >= at:
                pairs.append((records[i].blob_id, records[k].blob_id))
    return pairs


def measure(records, outcome: dict, cpu: float, pairs, threshold: float = 0.7) -> dict:
    from stack_v2.neardedup.minhash import MinHashConfig, estimated_jaccard, exact_jaccard, signatures

    texts = {r.blob_id: r.content for r in records}
    removed = {b: d.removeprefix("survivor=").split(";")[0] for b, d in outcome.items() if d is not None}
    exact, estimated = [], []
    for blob, survivor in removed.items():
        exact.append(exact_jaccard(texts[blob], texts[survivor]))
        sig, _ = signatures([texts[blob], texts[survivor]], MinHashConfig())
        estimated.append(estimated_jaccard(sig[0], sig[1]))
    caught = sum(a in removed or b in removed for a, b in pairs)
    return {
        "files": len(records),
        "kept": len(records) - len(removed),
        "removed": len(removed),
        "below_threshold_exact": sum(j < threshold for j in exact),
        "below_0.6_exact": sum(j < 0.6 for j in exact),
        "min_exact": round(min(exact), 3) if exact else None,
        "below_threshold_estimated": sum(j < threshold for j in estimated),
        "pairs_at_0.85": len(pairs),
        "recall_at_0.85": round(caught / len(pairs), 4) if pairs else None,
        "stage_cpu_s": round(cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="cache of downloaded tarballs")
    parser.add_argument("--corpus", nargs="+", choices=("npm", "local"), default=["npm", "local"])
    args = parser.parse_args()
    results = {}
    for name in args.corpus:
        files = npm_files(args.workdir) if name == "npm" else local_files()
        records = records_of(files, "JavaScript" if name == "npm" else "Python")
        pairs = close_pairs(records)
        run(records[:50], "greedy")  # warm up: compiled signature pass and imports, outside the timings
        for resolution in ("components", "greedy"):
            outcome, cpu = run(records, resolution)
            results[f"{name}/{resolution}"] = measure(records, outcome, cpu, pairs)
            print(json.dumps({f"{name}/{resolution}": results[f"{name}/{resolution}"]}), flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
