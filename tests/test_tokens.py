"""`stack-v2 tokens` on a real build (the demo recipe over real standard-library repositories) with a real BPE
tokenizer: the counts are the tokenizer's own, report.json, the card and the HTML report show them, the
version before is untouched and shares the unchanged shards, packed shards decode to the same ids, and a
failure publishes nothing."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.demo import make_demo_repos
from stack_v2.tokens.packed import PackedShard
from stack_v2.tokens.summary import TokenCounts, card_lines
from stack_v2.torch_data import PackedTokensDataset


def current(dataset: Path) -> Path:
    return Path(os.path.realpath(dataset / "current"))


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tokens-build")
    repos = make_demo_repos(str(root / "repos"), packages=("json", "http", "email"))
    import_git(repos, str(root / "archive"))
    dataset = root / "dataset"
    assert (
        main(["build", "--archive", str(root / "archive"), "--output", str(dataset), "--pipeline", "demo", "-q"]) == 0
    )
    return dataset


@pytest.fixture(scope="module")
def counted(built, bpe_tokenizer, tmp_path_factory):
    """The dataset before and after `stack-v2 tokens --pack`."""
    before = current(built)
    before_files = digest(before)
    pack = tmp_path_factory.mktemp("packed")
    assert main(["tokens", "--dataset", str(built), "--tokenizer", str(bpe_tokenizer), "--pack", str(pack)]) == 0
    return {"before": before, "before_files": before_files, "after": current(built), "pack": pack}


def data_rows(version: Path) -> list[tuple[str, list[dict]]]:
    """(shard relative to the version, rows in order) for every data shard, in path order."""
    shards = sorted(version.glob("data/**/*.parquet"))
    return [
        (str(s.relative_to(version)), pq.read_table(s, columns=["language", "content"]).to_pylist()) for s in shards
    ]


def test_counts_are_the_tokenizers_own(built, bpe_tokenizer, counted):
    tok = Tokenizer.from_file(str(bpe_tokenizer))
    by_language: Counter = Counter()
    for _shard, rows in data_rows(counted["before"]):
        for row in rows:
            by_language[row["language"]] += len(tok.encode(row["content"], add_special_tokens=False).ids)
    section = json.loads((built / "report.json").read_text())["tokens"]
    assert section["by_language"] == dict(by_language) and set(by_language) >= {"Python", "Markdown"}
    assert section["total"] == sum(by_language.values()) > 10_000
    assert section["by_source"] == {"software-heritage": section["total"]}
    sha256 = hashlib.sha256(Path(bpe_tokenizer).read_bytes()).hexdigest()
    assert section["tokenizer"] == {"path": str(bpe_tokenizer), "sha256": sha256, "vocab_size": tok.get_vocab_size()}
    assert list(section["by_language"].values()) == sorted(section["by_language"].values(), reverse=True)


def test_report_card_and_html_show_them(built, counted):
    section = json.loads((built / "report.json").read_text())["tokens"]
    card = (built / "README.md").read_text()
    assert card.count("## Tokens") == 1 and card.index("## Tokens") < card.index("## Tool versions")
    assert f"{section['total']:,} tokens in all" in card and section["tokenizer"]["sha256"] in card
    for language, n in section["by_language"].items():
        assert f"| `{language}` | {n:,} |" in card
    html = (built / "report" / "index.html").read_text()
    assert '<section id="tokens">' in html and f"{section['total']:,} tokens" in html
    assert f'<td>Python</td><td class="n">{section["by_language"]["Python"]:,}</td>' in html
    # the card's plots section is still there after the HTML report was written again
    assert "stack-v2:plots" in card and "report/index.html" in card


def test_the_previous_version_is_untouched_and_shares_the_shards(counted):
    before, after = counted["before"], counted["after"]
    assert before != after and before.is_dir()
    assert digest(before) == counted["before_files"]
    assert "tokens" not in json.loads((before / "report.json").read_text())
    for shard, _rows in data_rows(before):  # linked, not copied
        assert os.stat(before / shard).st_ino == os.stat(after / shard).st_ino
    manifest = sorted((before / "manifest").glob("*.parquet"))
    assert manifest and all(os.path.samefile(m, after / "manifest" / m.name) for m in manifest)
    assert {p for p in digest(after) if not p.startswith("report")} >= {
        p for p in counted["before_files"] if not p.startswith("report") and p != "run.json"
    }


def test_packed_shards_decode_to_the_same_ids(bpe_tokenizer, counted):
    tok = Tokenizer.from_file(str(bpe_tokenizer))
    index = json.loads((counted["pack"] / "index.json").read_text())
    shards = data_rows(counted["before"])
    assert [s["shard"] for s in index["shards"]] == [shard for shard, _ in shards]  # one per data shard, in order
    every = []
    for entry, (_shard, rows) in zip(index["shards"], shards, strict=True):
        packed = PackedShard(str(counted["pack"] / entry["prefix"]))
        expected = [tok.encode(r["content"], add_special_tokens=False).ids for r in rows]
        assert len(packed) == len(rows) == entry["documents"]
        assert [packed[i].tolist() for i in range(len(packed))] == expected
        every += expected
    assert (
        index["tokens"]
        == sum(map(len, every))
        == json.loads((counted["after"] / "report.json").read_text())["tokens"]["total"]
    )
    dataset = PackedTokensDataset(str(counted["pack"]))
    assert [dataset[i].tolist() for i in range(len(dataset))] == every


def test_an_unreadable_tokenizer_fails_in_one_line_naming_it(built, counted, tmp_path, capsys):
    files = digest(counted["after"])
    capsys.readouterr()
    bad = tmp_path / "tokenizer.json"
    bad.write_text("this is not a tokenizer\n")
    for path in (bad, tmp_path / "missing.json"):
        assert main(["tokens", "--dataset", str(built), "--tokenizer", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("stack-v2: error: ") and f"tokenizer {path}:" in err[0]
    assert current(built) == counted["after"] and digest(counted["after"]) == files
    assert not (built / ".lock").exists()


def test_a_failing_pipeline_publishes_nothing(built, bpe_tokenizer, counted, tmp_path, capsys):
    versions = sorted(os.listdir(built / "versions"))
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "Python").write_text("a file where the Python shards' directory would go\n")
    assert main(["tokens", "--dataset", str(built), "--tokenizer", str(bpe_tokenizer), "--pack", str(pack)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"stack-v2: error: tokens of {built}: ") and str(pack / "Python") in last
    assert sorted(os.listdir(built / "versions")) == versions and current(built) == counted["after"]
    assert not (built / ".lock").exists() and not (pack / "index.json").exists()


def test_summary_merges_and_renders():
    a = TokenCounts().add("Python", "software-heritage", 7).add(None, "github-issues", 2)
    b = TokenCounts().add("Python", "software-heritage", 3).add("Go", "software-heritage", 10)
    section = a.merge(b).to_json({"path": "tok.json", "sha256": "ab" * 32, "vocab_size": 49152})
    assert section["total"] == 22 and section["by_language"] == {"Go": 10, "Python": 10, "unknown": 2}
    assert section["by_source"] == {"software-heritage": 20, "github-issues": 2}
    lines = card_lines(section)
    assert "22 tokens in all, counted with `tok.json`." in lines and "| `Go` | 10 | 45.45 |" in lines
    assert any("49,152 ids" in line and "ab" * 32 in line for line in lines)


def test_a_document_dataset_counts_its_text_under_its_source(bpe_tokenizer, tmp_path):
    """A package-docs build (pluggy's real wheel): no `language` column, so `unknown`, as an export counts it."""
    dists = tmp_path / "dists"
    dists.mkdir()
    wheel = Path(__file__).parent / "data" / "package_docs" / "pluggy-1.5.0-py3-none-any.whl"
    (dists / wheel.name).write_bytes(wheel.read_bytes())
    out = tmp_path / "docs"
    assert main(["build", "--pipeline", "package-docs", "--input", str(dists), "--output", str(out), "-q"]) == 0
    assert main(["tokens", "--dataset", str(out), "--tokenizer", str(bpe_tokenizer)]) == 0
    tok = Tokenizer.from_file(str(bpe_tokenizer))
    texts = pq.read_table(current(out) / "data", columns=["content"]).column("content").to_pylist()
    total = sum(len(tok.encode(t, add_special_tokens=False).ids) for t in texts)
    section = json.loads((out / "report.json").read_text())["tokens"]
    assert texts and section["total"] == total
    assert section["by_source"] == {"package-docs": total}
    assert section["by_language"] == {"unknown": total}
    assert "## Tokens" in (out / "README.md").read_text()


def test_a_dataset_on_s3_is_counted_and_published_there(built, bpe_tokenizer, counted, s3_endpoint):
    from s3util import s3_client, upload_tree

    bucket, version = "stack-tokens", counted["before"].name
    upload_tree(s3_endpoint, counted["before"], bucket, f"ds/versions/{version}")
    client = s3_client(s3_endpoint)
    client.put_object(Bucket=bucket, Key="ds/CURRENT", Body=f"{version}\n".encode())
    uri = f"s3://{bucket}/ds"
    assert main(["tokens", "--dataset", uri, "--tokenizer", str(bpe_tokenizer), "--pack", f"s3://{bucket}/pack"]) == 0
    new = client.get_object(Bucket=bucket, Key="ds/CURRENT")["Body"].read().decode().strip()
    assert new != version  # published as a new version; the one before is kept
    report = json.loads(client.get_object(Bucket=bucket, Key=f"ds/versions/{new}/report.json")["Body"].read())
    assert report["tokens"] == json.loads((built / "report.json").read_text())["tokens"]
    before = client.get_object(Bucket=bucket, Key=f"ds/versions/{version}/report.json")["Body"].read()
    assert before == (counted["before"] / "report.json").read_bytes()
    index = json.loads(client.get_object(Bucket=bucket, Key="pack/index.json")["Body"].read())
    assert index["tokens"] == report["tokens"]["total"]


def test_a_card_written_from_the_report_has_the_section_once(built, counted, tmp_path):
    from stack_v2.io.card import write_card
    from stack_v2.io.token_card import TOKENS_BEGIN, TOKENS_END, embed_tokens
    from stack_v2.recipe import load_recipe
    from stack_v2.stages import registry

    report = json.loads((built / "report.json").read_text())
    recipe = load_recipe(str(counted["after"] / "recipe.yaml"))
    card = tmp_path / "README.md"
    write_card(str(card), report, recipe, *registry.card_parts(report, recipe.stage_names))
    text = card.read_text()
    assert text.count("## Tokens") == 1 and "\n".join(card_lines(report["tokens"])[3:6]) in text
    later = TokenCounts().add("Python", "software-heritage", 5).to_json(report["tokens"]["tokenizer"])
    embed_tokens(str(card), later)  # a later count replaces the section in place
    again = card.read_text()
    assert again.count("## Tokens") == 1 and "5 tokens in all" in again and "| `Python` | 5 | 100.00 |" in again

    def outside(text: str) -> tuple[str, str]:
        return text.split(TOKENS_BEGIN)[0], text.split(TOKENS_END)[1]

    assert outside(again) == outside(text)


def test_opt_outs_remove_counts_that_are_no_longer_true(built, counted, tmp_path):
    """`manifest regenerate` that removes files drops the tokens section rather than keep stale counts."""
    repo = pq.read_table(str(counted["after"] / "manifest"), columns=["repo_name"]).column(0)[0].as_py()
    owner, name = repo.split("/")
    requests = tmp_path / "optouts.jsonl"
    requests.write_text(json.dumps({"owner": owner, "repos": [name], "received": "2026-12-06"}) + "\n")
    out = tmp_path / "regenerated"
    argv = ["manifest", "regenerate", "--dataset", str(built), "--output", str(out), "--optouts", str(requests)]
    assert main(argv) == 0
    report = json.loads((current(out) / "report.json").read_text())
    assert report["optouts"]["files_removed"] > 0
    assert "tokens" not in report
    assert "<!-- stack-v2:tokens -->" not in (current(out) / "README.md").read_text()
