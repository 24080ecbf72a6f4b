"""The paper's license rule against the precise one, on real PyPI packages whose metadata declares a license.

The corpus is benchmarks/data/license_corpus.csv (made and fetched by benchmarks/license_corpus.py). Each
sdist is unpacked into a git repository, the repositories are imported into a local archive
(``stack_v2.archive.import_git``), and ``stack-v2 build`` runs twice on it, once per rule, with the recipe
``select_repositories``, ``license`` (rule ``paper``, then ``precise``), ``exact_dedup``. A package's
outcome is the ``license_type`` of its root files (``PKG-INFO`` first; only the root license files govern
them): kept as ``permissive`` or ``no_license``, or dropped as ``non_permissive`` (or failed,
``license_unknown``). The report: agreement with the declared type, the
confusion matrix per rule, the disagreements with their evidence, the packages the rules decide
differently, and the number of declared non-permissive packages each rule keeps (the mistake that ships
copyleft code).

ScanCode is the slow part (seconds per license file). The builds share one license cache in the workdir,
filled first by ``--jobs`` processes over the candidates (the stage's own file-name regex), so the builds
themselves read it and the second build costs what the first one does.

    python benchmarks/license_corpus.py fetch --workdir DIR
    python benchmarks/bench_license_rules.py --workdir DIR [--limit N] [--jobs 2]

Writes DIR/license-rules.json and DIR/license-rules.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from license_corpus import read_corpus, sdist_path  # noqa: E402

OUTCOMES = ("permissive", "no_license", "non_permissive", "failed", "missing")
PROBE = "PKG-INFO"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.org",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.org",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}
RECIPE = """\
name: license-rules-{rule}
stages:
  - stage: select_repositories
  - stage: license
    rule: {rule}
    cache_path: {cache}
  - stage: exact_dedup
"""


def repo_dir_name(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _safe_members(members, root: str):
    for m in members:
        if (m.isfile() or m.isdir()) and not os.path.isabs(m.name) and ".." not in Path(m.name).parts:
            yield m


def unpack(sdist: Path, dest: Path) -> None:
    """The sdist's files at the top of ``dest`` (its one top-level folder stripped)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as z:
            for info in z.infolist():
                if not os.path.isabs(info.filename) and ".." not in Path(info.filename).parts:
                    z.extract(info, tmp)
    else:
        with tarfile.open(sdist) as t:
            t.extractall(tmp, members=_safe_members(t.getmembers(), str(tmp)), filter="data")
    tops = list(tmp.iterdir())
    top = tops[0] if len(tops) == 1 and tops[0].is_dir() else tmp
    shutil.rmtree(dest, ignore_errors=True)
    shutil.move(str(top), str(dest))
    shutil.rmtree(tmp, ignore_errors=True)


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def make_repo(sdist: Path, dest: Path) -> None:
    if (dest / ".git").is_dir():
        return
    unpack(sdist, dest)
    for nested in dest.rglob(".git"):  # an sdist that ships a .git folder or file
        shutil.rmtree(nested) if nested.is_dir() else nested.unlink()
    git(dest, "init", "-q", "-b", "main")
    git(dest, "-c", "core.excludesFile=/dev/null", "add", "-A", "-f")
    git(dest, "commit", "-q", "--allow-empty", "-m", "sdist")


def blob_id(data: bytes) -> str:
    """A record's blob_id: the content's sha1, the content store's key (not git's sha1_git)."""
    return hashlib.sha1(data).hexdigest()


def _scan(args):
    paths, cache_path = args
    from stack_v2.licenses.detect import ScanCodeDetector

    detector = ScanCodeDetector(cache_path=cache_path)
    for path in paths:
        data = Path(path).read_bytes()
        detector.detect(blob_id(data), data)
    detector.cache.close()
    return detector.calls


def warm_cache(repos: list[Path], cache_path: str, jobs: int) -> dict:
    """Scan every license candidate once into the shared cache, ``jobs`` processes at a time."""
    from stack_v2.licenses.candidates import is_license_candidate
    from stack_v2.licenses.detect import MAX_LICENSE_FILE_BYTES

    seen, paths = set(), []
    for repo in repos:
        for path in sorted(repo.rglob("*")):
            if ".git" in path.relative_to(repo).parts or not path.is_file() or path.is_symlink():
                continue
            if is_license_candidate(path.name) and path.stat().st_size <= MAX_LICENSE_FILE_BYTES:
                data = path.read_bytes()
                blob = blob_id(data)
                if blob not in seen:
                    seen.add(blob)
                    paths.append(str(path))
    started = time.perf_counter()
    chunks = [(paths[i::jobs], cache_path) for i in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        calls = sum(pool.map(_scan, chunks))
    return {"candidates": len(paths), "scancode_calls": calls, "seconds": round(time.perf_counter() - started, 1)}


def build(archive: Path, out: Path, rule: str, cache: str, workdir: Path) -> dict:
    from stack_v2.cli import main as cli

    recipe = workdir / f"recipe-{rule}.yaml"
    recipe.write_text(RECIPE.format(rule=rule, cache=cache))
    started = time.perf_counter()
    code = cli(["build", "--archive", str(archive), "--output", str(out), "--pipeline", str(recipe), "--quiet"])
    if code != 0:
        raise SystemExit(f"build with rule {rule} failed ({code})")
    return {"seconds": round(time.perf_counter() - started, 1)}


def outcomes(out: Path) -> dict[str, dict]:
    """repo_name -> {outcome, detail, detected_licenses} of its root files. Only the root license files govern
    them, so they share one type; exact dedup may drop some (a root file identical to another package's),
    so the first kept one by path speaks, else the license stage's drop of one (PKG-INFO first)."""
    import pyarrow.parquet as pq

    def rank(path: str):
        return (path != PROBE, path)

    found: dict[str, tuple] = {}
    for row in pq.read_table(str(out / "manifest")).to_pylist():
        if "/" not in row["path"]:
            got = {"outcome": row["license_type"], "detected_licenses": list(row["detected_licenses"] or [])}
            here = (rank(row["path"]), {**got, "detail": ""})
            found[row["repo_name"]] = min(found.get(row["repo_name"], here), here, key=lambda t: t[0])
    for row in pq.read_table(str(out / "dropped")).to_pylist():
        if "/" not in row["path"] and row["stage"] == "license":
            outcome = "non_permissive" if row["reason"] == "non_permissive" else "failed"
            here = (rank(row["path"]), {"outcome": outcome, "detected_licenses": [], "detail": row["detail"]})
            found[row["repo_name"]] = min(found.get(row["repo_name"], here), here, key=lambda t: t[0])
    return {repo: got for repo, (_rank, got) in found.items()}


def score(rows: list[dict], decided: dict[str, dict]) -> dict:
    matrix = {declared: Counter() for declared in ("permissive", "non_permissive")}
    disagreements = []
    for row in rows:
        got = decided.get(row["repo"], {"outcome": "missing", "detail": "", "detected_licenses": []})
        matrix[row["declared_type"]][got["outcome"]] += 1
        if got["outcome"] != row["declared_type"]:
            disagreements.append(
                {
                    "package": f"{row['name']}=={row['version']}",
                    "declared": row["declared"],
                    "declared_type": row["declared_type"],
                    "outcome": got["outcome"],
                    "detected_licenses": got["detected_licenses"],
                    "evidence": got["detail"],
                }
            )
    agree = sum(matrix[t][t] for t in matrix)
    return {
        "packages": len(rows),
        "agreement": agree,
        "agreement_pct": round(100 * agree / len(rows), 1) if rows else 0.0,
        "confusion": {t: {o: matrix[t][o] for o in OUTCOMES} for t in matrix},
        "non_permissive_kept": matrix["non_permissive"]["permissive"] + matrix["non_permissive"]["no_license"],
        "non_permissive_permissive": matrix["non_permissive"]["permissive"],
        "disagreements": disagreements,
    }


def markdown(results: dict) -> str:
    lines = [
        "# License rules on real PyPI packages",
        "",
        f"{results['packages']} packages (declared: {results['declared']}). Outcome: the `license_type` of each "
        "package's root files (PKG-INFO first).",
        "",
        "| rule | agreement | declared non-permissive kept as permissive | ... kept as no_license |",
        "|---|---:|---:|---:|",
    ]
    for rule in ("paper", "precise"):
        r = results[rule]
        kept_nl = r["confusion"]["non_permissive"]["no_license"]
        lines.append(
            f"| {rule} | {r['agreement']}/{r['packages']} ({r['agreement_pct']}%) | "
            f"{r['non_permissive_permissive']} | {kept_nl} |"
        )
    for rule in ("paper", "precise"):
        lines += ["", f"## Confusion matrix, {rule} rule", "", "| declared \\ outcome | " + " | ".join(OUTCOMES) + " |"]
        lines.append("|---|" + "---:|" * len(OUTCOMES))
        for declared, row in results[rule]["confusion"].items():
            lines.append(f"| {declared} | " + " | ".join(str(row[o]) for o in OUTCOMES) + " |")
    lines += ["", "## Packages the rules decide differently", "", "| package | declared | paper | precise |"]
    lines.append("|---|---|---|---|")
    for d in results["differences"]:
        lines.append(f"| {d['package']} | {d['declared']} | {d['paper']} | {d['precise']} |")
    for rule in ("paper", "precise"):
        lines += ["", f"## Disagreements with the declared license, {rule} rule", ""]
        lines += ["| package | declared | outcome | evidence |", "|---|---|---|---|"]
        for d in results[rule]["disagreements"]:
            evidence = d["evidence"] or "detected: " + (", ".join(d["detected_licenses"]) or "none")
            lines.append(f"| {d['package']} | {d['declared']} | {d['outcome']} | {evidence.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="where license_corpus.py fetched the sdists; outputs too")
    parser.add_argument("--limit", type=int, default=0, help="only the first N packages (0: all)")
    parser.add_argument("--jobs", type=int, default=2, help="processes scanning license files into the cache")
    args = parser.parse_args()
    workdir = Path(args.workdir).resolve()

    from stack_v2.archive.import_git import import_git

    corpus = [r for r in read_corpus() if sdist_path(workdir, r).is_file()]
    if args.limit:
        corpus = corpus[: args.limit]
    repos_dir = workdir / "repos"
    rows, repos = [], []
    for row in corpus:
        dest = repos_dir / repo_dir_name(row["name"])
        try:
            make_repo(sdist_path(workdir, row), dest)
        except (OSError, tarfile.TarError, zipfile.BadZipFile, subprocess.CalledProcessError) as exc:
            print(f"{row['name']}: not unpacked ({exc})", file=sys.stderr)
            continue
        rows.append({**row, "repo": f"local/{dest.name}"})
        repos.append(dest)
    tag = f"n{len(repos)}"
    archive = workdir / f"archive-{tag}"
    if not (archive / "graph").is_dir():
        shutil.rmtree(archive, ignore_errors=True)
        import_git([str(r) for r in repos], str(archive))
    cache = str(workdir / "license-cache.sqlite")
    results: dict = {
        "packages": len(rows),
        "declared": dict(Counter(r["declared_type"] for r in rows)),
        "warm_cache": warm_cache(repos, cache, args.jobs),
    }
    decided = {}
    for rule in ("paper", "precise"):
        out = workdir / f"dataset-{tag}-{rule}"
        results[f"build_{rule}"] = build(archive, out, rule, cache, workdir)
        decided[rule] = outcomes(out)
        results[rule] = score(rows, decided[rule])
        report = json.loads((out / "report.json").read_text())
        results[f"report_{rule}"] = {
            k: report.get(k) for k in ("license_classification", "license_detection", "license_evidence")
        }
    results["differences"] = [
        {
            "package": f"{r['name']}=={r['version']}",
            "declared": r["declared"],
            "paper": decided["paper"].get(r["repo"], {}).get("outcome", "missing"),
            "precise": decided["precise"].get(r["repo"], {}).get("outcome", "missing"),
        }
        for r in rows
        if decided["paper"].get(r["repo"], {}).get("outcome") != decided["precise"].get(r["repo"], {}).get("outcome")
    ]
    (workdir / "license-rules.json").write_text(json.dumps(results, indent=2))
    (workdir / "license-rules.md").write_text(markdown(results))
    summary = {
        rule: {k: results[rule][k] for k in ("agreement", "agreement_pct", "confusion", "non_permissive_permissive")}
        for rule in ("paper", "precise")
    }
    print(json.dumps({"packages": len(rows), **summary, "differences": len(results["differences"])}, indent=2))
    return 1 if results["precise"]["non_permissive_permissive"] else 0


if __name__ == "__main__":
    sys.exit(main())
