"""`stack-v2 export` on a real build: the standard library's packages as repositories (the demo's), plus one of
Hugging Face tokenizer modules whose source holds `<|endoftext|>` (so they cannot round-trip and are left out),
exported as StarCoder2 training documents, with a BPE tokenizer trained on real code (conftest's)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from gitrepos import git, init

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.demo import make_demo_repos
from stack_v2.tokens.packed import PackedShard
from stack_v2.tokens.tokenizer import encode, load_tokenizer
from stack_v2.training.format import File, FormatConfig, Sentinels, has_metadata, render_repository
from stack_v2.training.parse import parse_document

HF_REPO = "local/hf-tokenizers"
EOS = Sentinels().eos
LIMIT = 200_000  # characters: the demo's largest repositories (idlelib, email, ...) are split


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-world")
    repos = make_demo_repos(str(root / "repos"))
    models = Path(importlib.util.find_spec("transformers").origin).parent / "models"
    hf = init(root / "repos" / "hf-tokenizers")
    for model in ("gpt2", "gpt_neox"):
        shutil.copytree(models / model, hf / model, ignore=shutil.ignore_patterns("__pycache__"))
    git(hf, "add", "-A")
    git(hf, "commit", "-qm", "tokenizer modules", date="2024-01-02T03:04:05+0000")
    archive, dataset = root / "archive", root / "dataset"
    import_git([*repos, str(hf)], str(archive))
    assert main(["build", "--archive", str(archive), "--output", str(dataset), "--pipeline", "demo", "--quiet"]) == 0
    files = {
        (r["repo_name"], r["path"]): r for r in pq.read_table(dataset / "data").to_pylist()
    }  # the dataset's own view: (repo, path) -> row with content
    return {"root": root, "archive": archive, "dataset": dataset, "files": files}


def export(world, out: Path, *args: str) -> Path:
    assert main(["export", "--dataset", str(world["dataset"]), "--output", str(out), *args]) == 0
    return out / "current"


@pytest.fixture(scope="module")
def exported(world, bpe_tokenizer):
    """Seed 0, default rates, small shards and documents, token counts and packed shards; from the data
    shards and, the same way, from the archive's content store by the manifest's blob_id."""
    args = ["--tokenizer", str(bpe_tokenizer), "--pack", "--shard-mb", "1", "--max-document-chars", str(LIMIT)]
    shards = export(world, world["root"] / "export-shards", *args)
    archive = export(world, world["root"] / "export-archive", *args, "--archive", str(world["archive"]))
    return {"shards": shards, "archive": archive}


def rows(current: Path) -> list[dict]:
    return [r for f in sorted((current / "data").glob("train-*.parquet")) for r in pq.read_table(f).to_pylist()]


def report(current: Path) -> dict:
    return json.loads((current / "report.json").read_text())


def digests(current: Path) -> dict[str, str]:
    return {
        str(p.relative_to(current)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(current.rglob("*"))
        if p.is_file() and p.name not in ("report.json", "README.md", "report.html")
    }


def test_documents_parse_back_into_the_datasets_files(world, exported):
    docs, files = rows(exported["shards"]), world["files"]
    left_out = {k for k, r in files.items() if EOS in r["content"]}
    assert {p for repo, p in left_out} == {"gpt2/tokenization_gpt2.py", "gpt_neox/tokenization_gpt_neox.py"}
    seen_paths, seen_contents = set(), Counter()
    for doc in docs:
        repo, parsed = parse_document(doc["text"])
        assert len(parsed) == doc["num_files"] and doc["source"] == "software-heritage"
        assert doc["has_metadata"] == (repo is not None) == doc["text"].startswith("<repo_name>")
        if repo is not None:  # names and paths: each file's content is the dataset's, unchanged
            assert repo == doc["repo_name"]
            for path, content in parsed:
                assert content == files[(repo, path)]["content"]
                seen_paths.add((repo, path))
            assert doc["languages"] == sorted({files[(repo, p)]["language"] for p, _ in parsed})
        seen_contents.update((doc["repo_name"], content) for _, content in parsed)
    # Every file but those left out is in exactly one document (found by path with metadata, else by content).
    assert seen_contents == Counter((repo, r["content"]) for (repo, p), r in files.items() if (repo, p) not in left_out)
    with_metadata = {d["repo_name"] for d in docs if d["has_metadata"]}
    assert seen_paths == {k for k in files if k not in left_out and k[0] in with_metadata}
    r = report(exported["shards"])
    assert r["files_in"] == len(files) and r["files"] == len(files) - 2
    assert r["left_out"]["reasons"] == {
        "content_contains_sentinel": {"files": 2, "bytes": sum(len(files[k]["content"].encode()) for k in left_out)}
    }
    assert r["documents"] == len(docs) and r["bytes_out"] == sum(len(d["text"].encode()) for d in docs)
    assert r["metadata"]["documents"] == sum(d["has_metadata"] for d in docs)
    assert r["fim"]["files"] == sum(d["fim_files"] for d in docs) > 0
    assert r["fim"]["files"] == sum(d["text"].count("<fim_prefix>") for d in docs)
    assert 0 < r["fim"]["spm"] <= sum(d["text"].count("<fim_prefix><fim_suffix>") for d in docs)
    assert "content_contains_sentinel" in (exported["shards"] / "README.md").read_text()


def test_shards_and_archive_give_identical_output(exported):
    assert digests(exported["shards"]) == digests(exported["archive"])  # Parquet and packed shards, byte for byte
    a, b = report(exported["shards"]), report(exported["archive"])
    assert a["export"]["content_from"] == "data shards" and b["export"]["content_from"] == "archive"
    for r in (a, b):
        del r["export"]["content_from"], r["export"]["created_at"]
    assert a == b


def test_num_tokens_are_the_tokenizers_own_counts(exported, bpe_tokenizer):
    tokenizer = load_tokenizer(str(bpe_tokenizer))
    current = exported["shards"]
    total = 0
    parquet = sorted((current / "data").glob("train-*.parquet"))
    assert len(parquet) == report(current)["shards"] > 1
    for path in parquet:
        docs = pq.read_table(path).to_pylist()
        ids = encode(tokenizer, [d["text"] for d in docs])  # the tokenizer's own, on the whole text
        # Counted piece by piece (each file's piece starts with a special token): the whole text's count.
        assert [d["num_tokens"] for d in docs] == [len(i) for i in ids]
        # One packed shard per Parquet shard, documents in the same order, the tokenizer's ids.
        packed = PackedShard(str(current / "packed" / path.stem))
        assert [list(packed[i]) for i in range(len(packed))] == ids
        total += sum(len(i) for i in ids)
    section = report(current)["tokens"]
    assert section["total"] == total == sum(section["by_language"].values())
    assert section["by_source"] == {"software-heritage": total}
    assert set(section["by_language"]) == {"Python", "Markdown", "Text"}
    assert section["tokenizer"]["sha256"] == hashlib.sha256(bpe_tokenizer.read_bytes()).hexdigest()
    # the HTML report shows the same numbers, behind a Content-Security-Policy, with the sentinels escaped
    page = (current / "report.html").read_text()
    assert "Content-Security-Policy" in page and "<script" not in page
    assert f"{total:,}" in page and f"{section['by_language']['Python']:,}" in page
    assert "&lt;|endoftext|&gt;" in page and "<|endoftext|>" not in page


def test_an_oversized_repository_is_split_at_file_boundaries(world, exported):
    docs = rows(exported["shards"])
    split = [d for d in docs if d["num_parts"] > 1]
    assert {d["repo_name"] for d in split} >= {"local/py-idlelib", "local/py-email"}
    for repo in {d["repo_name"] for d in split}:
        parts = sorted((d for d in split if d["repo_name"] == repo), key=lambda d: d["part"])
        assert [d["part"] for d in parts] == list(range(parts[0]["num_parts"]))
        for d in parts:  # each part within the limit unless it is one file; each with the header when the repo has it
            assert len(d["text"]) <= LIMIT or d["num_files"] == 1
            assert d["text"].startswith("<repo_name>") == d["has_metadata"] == parts[0]["has_metadata"]
            assert d["text"].endswith(EOS) and d["text"].count(EOS) == 1
        assert sum(d["num_files"] for d in parts) == sum(1 for r, _ in world["files"] if r == repo)
    # A file larger than the limit is a document of its own, not cut.
    big = max((r for r in world["files"].values() if EOS not in r["content"]), key=lambda r: len(r["content"]))
    (doc,) = render_repository(
        "r/x", [File(big["path"], "Python", big["content"])] * 1, FormatConfig(max_document_chars=10)
    )
    assert parse_document(doc.text)[1][0][1] == big["content"] and doc.num_parts == 1


def test_seed_decides_and_rates_hold(world, exported, tmp_path):
    """Another seed gives other documents; with every repository a FIM candidate and with metadata, the share
    of FIM files is within a binomial bound of --fim-file-rate, and SPM's share within one of --fim-spm-rate."""
    current = export(world, tmp_path / "seed1", "--seed", "1", "--fim-rate", "1", "--metadata-rate", "1")
    docs = rows(current)
    assert {d["text"] for d in docs}.isdisjoint({d["text"] for d in rows(exported["shards"])})
    assert all(d["has_metadata"] for d in docs)
    exported_files = {(repo, path) for d in docs for repo, parsed in [parse_document(d["text"])] for path, _ in parsed}
    assert exported_files == {k for k, r in world["files"].items() if EOS not in r["content"]}
    r = report(current)
    n, fim = r["files"], r["fim"]
    assert r["fim"]["candidate_repositories"] == r["repositories"]
    assert abs(fim["files"] - n * 0.5) <= 4 * math.sqrt(n * 0.25)
    assert abs(fim["spm"] - fim["files"] * 0.5) <= 4 * math.sqrt(fim["files"] * 0.25)
    assert r["tokens"] is None and all(d["num_tokens"] is None for d in docs)


def test_metadata_and_fim_rates_of_the_format(world):
    """The pure renderer over the dataset's real files: --metadata-rate over many repository names, and FIM
    per file; every document (PSM, SPM, with and without metadata) parses back into its files."""
    config = FormatConfig(seed=7, metadata_rate=0.3, fim_rate=1.0, fim_file_rate=0.25, fim_spm_rate=0.5)
    names = [f"owner{i}/repo{i}" for i in range(4000)]
    share = sum(has_metadata(config, name) for name in names) / len(names)
    assert abs(share - 0.3) <= 4 * math.sqrt(0.3 * 0.7 / len(names))
    files = [File(p, r["language"], r["content"]) for (_, p), r in world["files"].items() if EOS not in r["content"]]
    fim = spm = total = 0
    for i, name in enumerate(names[:40]):
        chunk = files[i * 7 : i * 7 + 7] or files[:7]
        for doc in render_repository(name, chunk, config):
            repo, parsed = parse_document(doc.text)
            contents = sorted(c for _, c in parsed)
            assert contents == sorted(f.content for f in chunk)
            assert repo == (name if doc.has_metadata else None)
            fim, spm, total = fim + doc.fim_files, spm + doc.fim_spm, total + doc.num_files
    assert abs(fim - total * 0.25) <= 4 * math.sqrt(total * 0.25 * 0.75)
    assert 0 < spm < fim


def test_fim_forms_parse_back():
    s = Sentinels()
    assert parse_document(f"<repo_name>o/r<file_sep><fim_prefix><fim_suffix>cd<fim_middle>a.py\nab{EOS}") == (
        "o/r",
        [("a.py", "abcd")],
    )  # SPM: the path line starts the prefix
    assert parse_document(f"<file_sep><fim_prefix>ab<fim_suffix>d<fim_middle>c<file_sep>x{EOS}", s) == (
        None,
        [(None, "abcd"), (None, "x")],
    )  # PSM without metadata
    assert parse_document(f"<file_sep><fim_prefix><fim_suffix>d<fim_middle>abc{EOS}") == (None, [(None, "abcd")])
    assert parse_document(f"an issue{EOS}") == (None, [(None, "an issue")])
    with pytest.raises(ValueError):
        parse_document("no end of text")


def test_document_dataset_records_become_documents(tmp_path, bpe_tokenizer):
    """A document source's dataset (package documentation from a real wheel): one document per record, its
    text and <|endoftext|>, no header, no FIM."""
    dists = tmp_path / "dists"
    dists.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "package_docs" / "pluggy-1.5.0-py3-none-any.whl", dists)
    docs_dataset = tmp_path / "docs"
    assert (
        main(["build", "--pipeline", "package-docs", "--input", str(dists), "--output", str(docs_dataset), "-q"]) == 0
    )
    records = {r["content_id"]: r["content"] for r in pq.read_table(docs_dataset / "data").to_pylist()}
    out = tmp_path / "docs-export"
    assert (
        main(["export", "--dataset", str(docs_dataset), "--output", str(out), "--tokenizer", str(bpe_tokenizer)]) == 0
    )
    docs = rows(out / "current")
    assert {d["id"]: d["text"] for d in docs} == {k: v + EOS for k, v in records.items()}
    assert all(parse_document(d["text"]) == (None, [(None, records[d["id"]])]) for d in docs)
    assert all(d["num_files"] == 1 and d["fim_files"] == 0 and not d["has_metadata"] for d in docs)
    r = report(out / "current")
    assert r["tokens"]["by_source"] == {"package-docs": sum(d["num_tokens"] for d in docs)}


def test_bad_input_exits_2_with_one_line(world, tmp_path, capsys, bpe_tokenizer):
    cases = [
        (["--dataset", str(tmp_path / "missing")], "missing: no such directory"),
        (["--dataset", str(world["dataset"]), "--tokenizer", str(world["dataset"] / "recipe.yaml")], "tokenizer"),
        (["--dataset", str(world["dataset"]), "--tokenizer", str(tmp_path / "none.json")], "cannot read it"),
        (["--dataset", str(world["dataset"]), "--pack"], "--pack: needs --tokenizer"),
        (["--dataset", str(world["dataset"]), "--tokenizer", str(bpe_tokenizer), "--eos-token", "</s>"], "</s>"),
        (["--dataset", str(world["dataset"]), "--file-sep-token", "<fim_pad>"], "distinct"),
    ]
    for args, message in cases:
        capsys.readouterr()
        assert main(["export", *args, "--output", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("stack-v2: error: ") and err.count("\n") == 1 and message in err, err
        assert not (tmp_path / "out").exists()


def test_a_failed_export_publishes_nothing(world, tmp_path, capsys):
    """A blob missing from the content store: one line naming it, exit 2; a new output is not left behind, and
    an existing export stays as it was. An output holding something else is refused."""
    broken = tmp_path / "archive"
    shutil.copytree(world["archive"], broken)
    blob = next(r["blob_id"] for r in world["files"].values() if r["repo_name"] == "local/py-json")
    (broken / "content" / blob).unlink()
    base = ["export", "--dataset", str(world["dataset"]), "--archive", str(broken)]
    for out in (tmp_path / "new", export(world, tmp_path / "previous").parent):
        before = digests(out / "current") if out.exists() else None
        capsys.readouterr()
        assert main([*base, "--output", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("stack-v2: error: ") and err.count("\n") == 1 and blob in err
        assert (digests(out / "current") if out.exists() else None) == before
        assert not (out / ".lock").exists()
    build_copy = tmp_path / "build-copy"
    shutil.copytree(world["dataset"], build_copy, symlinks=True)
    for taken in (build_copy, world["root"] / "repos"):  # a build's dataset, a directory of other things
        assert main(["export", "--dataset", str(world["dataset"]), "--output", str(taken)]) == 2
        assert "not an export" in capsys.readouterr().err
