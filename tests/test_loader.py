"""The trainer-side loader against a real build: a dataset built from real git repositories, its content store
and manifest served by moto's S3 server on loopback. ``load_files`` must give back every data shard row byte
for byte, and so must the usual client code (boto3 + gzip, smart_open) on ``s3://bucket/content/<blob_id>``."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from gitrepos import EMAIL_SRC, git, init, make_library_repo, make_sample_repo
from s3util import FaultyProxy, upload_tree

from stack_v2.archive.content_store import RetryPolicy
from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.errors import ArchiveError
from stack_v2.loader import (
    BlobUnavailable,
    RedactHook,
    RedactionMismatch,
    build_redaction,
    iter_manifest,
    load_files,
    manifest_files,
)

BUCKET = "stack-loader"
RECIPE = """\
name: loader-test
stages:
  - stage: select_repositories
  - stage: exact_dedup
  - stage: fetch_decode
    concurrency: 4
  - stage: language
  - stage: pii
output:
  target_shard_bytes: 60000
  manifest_rows_per_shard: 25
"""

# Real-world text in legacy encodings, so that decoding with src_encoding matters.
FRENCH = (
    "Le cœur a ses raisons que la raison ne connaît point ; on le sait en mille choses. "
    "Déjà l'été s'achève, et la forêt où nous étions garçons n'a plus ni châtaigniers ni fées.\n"
)
RUSSIAN = (
    "Съешь же ещё этих мягких французских булок, да выпей чаю. В чащах юга жил бы цитрус? "
    "Да, но фальшивый экземпляр! Широкая электрификация южных губерний даст мощный толчок.\n"
)
# A settings module with what the PII stage redacts: an email address, a password, public IP addresses, a key.
SETTINGS = '''"""Deployment settings for the mirror."""

ADMINS = [("Ops", "ops@mirror-network.de")]
DATABASE = {"HOST": "db.internal", "USER": "mirror", "PASSWORD": "hunter2Xq9!zz"}
UPSTREAM_SERVERS = ["81.169.145.79", "2a01:238:20a:202:1159::1"]
API_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
'''
JAPANESE = "いろはにほへと ちりぬるを わかよたれそ つねならむ うゐのおくやま けふこえて あさきゆめみし ゑひもせす\n"


def make_encodings_repo(root: Path) -> Path:
    """Text in windows-1252, Latin-1, windows-1251 and Shift_JIS; UTF-8 with a BOM and CRLF line ends; UTF-8
    with characters outside the BMP and a lone CR; settings holding PII."""
    repo = init(root / "encodings")
    (repo / "NOTES.txt").write_bytes((FRENCH * 6).encode("cp1252"))  # œ is 0x9c in windows-1252
    (repo / "lisezmoi.txt").write_bytes((FRENCH.replace("œ", "oe") * 4).encode("latin-1"))
    (repo / "russian.txt").write_bytes((RUSSIAN * 5).encode("cp1251"))
    (repo / "japanese.txt").write_bytes((JAPANESE * 5).encode("shift_jis"))
    source = (EMAIL_SRC / "charset.py").read_text(encoding="utf-8")
    (repo / "charset_crlf.py").write_bytes(b"\xef\xbb\xbf" + source.replace("\n", "\r\n").encode("utf-8"))
    (repo / "settings.py").write_text(SETTINGS, encoding="utf-8")
    (repo / "emoji.md").write_text("# 🐍 snakes 𝔘𝔫𝔦𝔠𝔬𝔡𝔢\r\rold Mac line end, then a tab\tand é\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "texts in many encodings", date="2022-04-05T06:07:08+0000")
    return repo


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A dataset built by ``stack-v2 build`` from real repositories, with its local archive."""
    root = tmp_path_factory.mktemp("loader")
    repos = [make_library_repo(root), make_sample_repo(root), make_encodings_repo(root)]
    archive = root / "archive"
    import_git([str(p) for p in repos], str(archive))
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    dataset = root / "dataset"
    assert (
        main(["build", "--archive", str(archive), "--output", str(dataset), "--pipeline", str(recipe), "--quiet"]) == 0
    )
    return {"root": root, "archive": archive, "dataset": dataset}


@pytest.fixture(scope="module")
def s3(built, s3_endpoint):
    """The archive's content store at s3://BUCKET/content, the dataset's manifest at s3://BUCKET/dataset/manifest."""
    upload_tree(s3_endpoint, built["archive"] / "content", BUCKET, "content")
    upload_tree(s3_endpoint, built["dataset"] / "manifest", BUCKET, "dataset/manifest")
    return {
        "endpoint": s3_endpoint,
        "content": f"s3://{BUCKET}/content",
        "dataset": f"s3://{BUCKET}/dataset",
        "manifest": f"s3://{BUCKET}/dataset/manifest",
    }


def key(row: dict) -> tuple[str, str, str]:
    return row["blob_id"], row["repo_name"], row["path"]


@pytest.fixture(scope="module")
def shards(built) -> dict[tuple, dict]:
    """Every data shard row, by (blob_id, repo_name, path)."""
    rows = pads.dataset(str(built["dataset"] / "data"), format="parquet").to_table().to_pylist()
    by_key = {key(r): r for r in rows}
    assert len(by_key) == len(rows) > 40
    return by_key


@pytest.fixture(scope="module")
def redaction() -> RedactHook:
    """The redaction the build applied to the shards, as the loader re-applies it by default (a no-op while the
    manifest has no ``pii_redactions``). Every comparison goes through it, so they hold for redacted shards."""
    return build_redaction


def redacted(redaction: RedactHook | None, text: str, row: dict) -> str:
    return text if redaction is None else redaction(text, row)


def assert_equal_to_shards(loaded: list[dict], shards: dict[tuple, dict]) -> None:
    assert len(loaded) == len({key(r) for r in loaded})
    assert {key(r) for r in loaded} == set(shards)
    for row in loaded:
        shard = shards[key(row)]
        assert row["content"].encode("utf-8", "surrogatepass") == shard["content"].encode("utf-8", "surrogatepass")
        assert {name: row[name] for name in shard} == shard  # every shard column, content included
        assert row["swhid"].startswith(f"swh:1:cnt:{row['content_id']};origin=")


# -- load_files ----------------------------------------------------------------------------------


def test_load_files_from_s3_reproduces_every_shard_row(s3, shards, built):
    loaded = list(load_files(s3["dataset"], s3["content"], concurrency=4))  # redact: build_redaction
    assert_equal_to_shards(loaded, shards)
    # In manifest order (part files in name order, rows as stored).
    order = [
        r["blob_id"]
        for r in pads.dataset(str(built["dataset"] / "manifest"), format="parquet")
        .to_table(columns=["blob_id"])
        .to_pylist()
    ]
    assert [r["blob_id"] for r in loaded] == order
    # The dataset exercises decoding: several non-UTF-8 charsets, a BOM, CRLF, astral characters.
    encodings = {r["path"]: r["src_encoding"] for r in loaded if r["repo_name"] == "local/encodings"}
    assert len({e for e in encodings.values() if e.upper() != "UTF-8"}) >= 2, encodings
    by_path = {(r["repo_name"], r["path"]): r["content"] for r in loaded}
    assert by_path[("local/encodings", "charset_crlf.py")].startswith("\ufeff")
    assert "\r\n" in by_path[("local/encodings", "charset_crlf.py")]
    assert "𝔘𝔫𝔦𝔠𝔬𝔡𝔢" in by_path[("local/encodings", "emoji.md")]
    assert "Съешь" in by_path[("local/encodings", "russian.txt")]


def test_load_files_from_local_paths_is_the_same(built, shards, tmp_path):
    archive, dataset = built["archive"], built["dataset"]
    loaded = list(load_files(str(dataset / "manifest"), str(archive / "content")))
    assert_equal_to_shards(loaded, shards)
    one = sorted((dataset / "manifest").glob("*.parquet"))[1]  # a single part file, as a file:// URI
    part = list(load_files(one.as_uri(), (archive / "content").as_uri(), concurrency=1))
    assert part and [r["blob_id"] for r in part] == [r["blob_id"] for r in iter_manifest(str(one), ["blob_id"])]
    assert all(r["content"] == shards[key(r)]["content"] for r in part)
    # A manifest without src_encoding: the bytes are decoded as the build decides (UTF-8, else cChardet).
    table = pq.read_table(str(dataset / "manifest"))
    pq.write_table(table.drop_columns(["src_encoding"]), str(tmp_path / "no-encoding.parquet"))
    loaded = list(load_files(str(tmp_path / "no-encoding.parquet"), str(archive / "content")))
    assert {key(r) for r in loaded} == set(shards) and all(r["content"] == shards[key(r)]["content"] for r in loaded)


def test_usual_boto3_and_gzip_client_code_reads_the_same_bytes(s3, shards, redaction):
    """The-stack-v2's documented recipe, with nothing from stack_v2: manifest via pyarrow, blobs via boto3."""
    fs = pafs.S3FileSystem(endpoint_override=s3["endpoint"].split("://")[1], scheme="http", region="us-east-1")
    manifest = pads.dataset(f"{BUCKET}/dataset/manifest", filesystem=fs, format="parquet").to_table().to_pylist()
    client = boto3.client("s3", endpoint_url=s3["endpoint"])
    assert {key(r) for r in manifest} == set(shards)
    for row in manifest:
        body = client.get_object(Bucket=BUCKET, Key=f"content/{row['blob_id']}")["Body"].read()
        raw = gzip.decompress(body)
        assert hashlib.sha1(raw).hexdigest() == row["blob_id"]
        text = redacted(redaction, raw.decode(row["src_encoding"]), row)
        assert text == shards[key(row)]["content"]


def test_smart_open_reads_the_same_bytes(s3, shards, redaction):
    smart_open = pytest.importorskip("smart_open")
    client = boto3.client("s3", endpoint_url=s3["endpoint"])
    rows = list(iter_manifest(s3["manifest"]))
    assert {key(r) for r in rows} == set(shards)
    for row in rows:
        with smart_open.open(
            f"s3://{BUCKET}/content/{row['blob_id']}", "rb", compression=".gz", transport_params={"client": client}
        ) as fin:
            text = redacted(redaction, fin.read().decode(row["src_encoding"]), row)
        assert text == shards[key(row)]["content"]


def test_languages_columns_and_redact_hook(s3, shards, redaction):
    seen = []

    def shout(text: str, row: dict) -> str:
        seen.append(row["blob_id"])
        assert {"blob_id", "src_encoding", "content_id", "length_bytes"} <= set(row)  # what the hook can use
        return redacted(redaction, text, row).upper()

    loaded = list(
        load_files(
            s3["manifest"],
            s3["content"],
            redact=shout,
            languages=["Text", "Markdown"],
            columns=["repo_name", "path", "blob_id", "language"],
            concurrency=2,
        )
    )
    expected = {k for k, r in shards.items() if r["language"] in ("Text", "Markdown")}
    assert loaded and {key(r) for r in loaded} == expected
    assert all(list(r) == ["repo_name", "path", "blob_id", "language", "content"] for r in loaded)
    assert all(r["content"] == shards[key(r)]["content"].upper() for r in loaded)
    assert sorted(seen) == sorted(r["blob_id"] for r in loaded)


def test_stopping_early_and_retrying_throttled_requests(built, s3, shards, redaction, monkeypatch):
    manifest = str(built["dataset"] / "manifest")
    first = []
    for row in load_files(manifest, s3["content"], redact=redaction, concurrency=3):
        first.append(row)
        if len(first) == 4:
            break  # the generator closes: pending fetches are cancelled, nothing hangs
    assert [key(r) for r in first] == [key(r) for r in list(iter_manifest(manifest))[:4]]
    # The same fetcher as the build: 503 SlowDown answers are retried (with the given policy's backoff).
    with FaultyProxy(s3["endpoint"], fail_first=5) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        sleeps = []
        policy = RetryPolicy(max_attempts=8, sleep=sleeps.append)
        loaded = list(load_files(manifest, s3["content"], redact=redaction, retry=policy, concurrency=2))
    assert proxy.failed == 5 and len(sleeps) == 5 and len(proxy.gets()) == len(shards) + 5
    assert_equal_to_shards(loaded, shards)


# -- a redacted dataset --------------------------------------------------------------------------


def test_the_builds_redaction_is_reproduced_from_raw_blobs(built, s3, shards):
    """The recipe's pii stage redacted the shards; the archive holds the originals. The loader (and the
    usual boto3 client code plus the same hook) turns the originals into exactly the shards' text."""
    settings = shards[next(k for k in shards if k[1:] == ("local/encodings", "settings.py"))]
    assert "<PASSWORD>" in settings["content"] and "hunter2Xq9!zz" not in settings["content"]
    assert json.loads(settings["pii_redactions"])["password"] == 1
    raw = {key(r): r["content"] for r in load_files(s3["dataset"], s3["content"], redact=None)}
    changed = {k for k in shards if raw[k] != shards[k]["content"]}
    assert changed == {k for k, r in shards.items() if r["pii_redactions"]} and len(changed) >= 1
    client = boto3.client("s3", endpoint_url=s3["endpoint"])
    for row in iter_manifest(s3["manifest"]):
        data = gzip.decompress(client.get_object(Bucket=BUCKET, Key=f"content/{row['blob_id']}")["Body"].read())
        assert build_redaction(data.decode(row["src_encoding"]), row) == shards[key(row)]["content"]


def test_a_redaction_that_differs_from_the_builds_is_an_error(built, tmp_path):
    table = pq.read_table(str(built["dataset"] / "manifest"))
    rows = table.to_pylist()
    i = next(i for i, r in enumerate(rows) if r["path"] == "settings.py")
    recorded = table.column("pii_redactions").to_pylist()
    recorded[i] = '{"password":2}'  # what another redactor version might have replaced
    tampered = table.set_column(
        table.schema.get_field_index("pii_redactions"), "pii_redactions", pa.array(recorded, pa.string())
    )
    pq.write_table(tampered, str(tmp_path / "manifest.parquet"))
    with pytest.raises(RedactionMismatch) as info:
        list(load_files(str(tmp_path / "manifest.parquet"), str(built["archive"] / "content")))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"blob_id {rows[i]['blob_id']} (manifest row local/encodings:")
    assert 'the manifest records {"password":2}' in message


# -- missing and bad blobs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lossy(built, s3):
    """Six manifest rows, whose content store (local and S3) lost the third blob and holds a wrong fifth."""
    rows = list(iter_manifest(str(built["dataset"] / "manifest")))[:6]
    local = built["root"] / "lossy"
    (local / "content").mkdir(parents=True)
    table = pq.read_table(str(built["dataset"] / "manifest")).slice(0, 6)
    assert table.column("blob_id").to_pylist() == [r["blob_id"] for r in rows]
    (local / "manifest").mkdir()
    pq.write_table(table, str(local / "manifest" / "part-00000-of-00001.parquet"))
    for row in rows:
        shutil.copy(built["archive"] / "content" / row["blob_id"], local / "content" / row["blob_id"])
    os.remove(local / "content" / rows[2]["blob_id"])
    (local / "content" / rows[4]["blob_id"]).write_bytes(gzip.compress(b"not the blob you are looking for\n"))
    upload_tree(s3["endpoint"], local, BUCKET, "lossy")
    return {"rows": rows, "local": local, "missing": rows[2], "wrong": rows[4]}


@pytest.mark.parametrize("where", ["s3", "local"])
def test_a_missing_blob_is_a_one_line_error_naming_blob_and_store(where, lossy, s3):
    if where == "s3":
        manifest, content = f"s3://{BUCKET}/lossy/manifest", f"s3://{BUCKET}/lossy/content"
    else:
        manifest, content = str(lossy["local"] / "manifest"), str(lossy["local"] / "content")
    missing = lossy["missing"]
    got: list[dict] = []
    with pytest.raises(BlobUnavailable) as info:
        got.extend(load_files(manifest, content))  # keeps the rows yielded before the error
    message = str(info.value)
    assert "\n" not in message and info.value.reason == "missing"
    assert message.startswith(f"blob_id {missing['blob_id']} not found in content store ")
    assert (f"s3://{BUCKET}/lossy/content" if where == "s3" else str(lossy["local"] / "content")) in message
    assert f"{missing['repo_name']}:{missing['path']!r}" in message
    assert [r["blob_id"] for r in got] == [r["blob_id"] for r in lossy["rows"][:2]]  # the rows before it

    # on_missing="skip" goes on past it; a blob whose bytes are not its sha1 still stops the load.
    got = []
    with pytest.raises(BlobUnavailable) as info:
        got.extend(load_files(manifest, content, on_missing="skip"))
    assert info.value.reason == "sha1_mismatch" and lossy["wrong"]["blob_id"] in str(info.value)
    assert "\n" not in str(info.value)
    assert [r["blob_id"] for r in got] == [r["blob_id"] for r in lossy["rows"][:2]] + [lossy["rows"][3]["blob_id"]]


def test_bad_arguments_fail_when_called_with_one_line(built, s3, tmp_path):
    content = str(built["archive"] / "content")
    with pytest.raises(ArchiveError, match=r"^manifest .*nowhere: no such file or directory$"):
        load_files(str(tmp_path / "nowhere"), content)
    with pytest.raises(ArchiveError, match=r"^manifest s3://stack-loader/no/such/prefix: no such file or directory$"):
        iter_manifest(f"s3://{BUCKET}/no/such/prefix")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchiveError, match="no Parquet files"):
        iter_manifest(str(tmp_path / "empty"))
    with pytest.raises(ArchiveError, match="no such directory"):
        load_files(str(built["dataset"]), str(tmp_path / "no-store"))
    with pytest.raises(ArchiveError, match=r"no column\(s\) nope$"):
        next(iter_manifest(s3["manifest"], ["blob_id", "nope"]))
    with pytest.raises(ValueError, match="on_missing"):
        load_files(str(built["dataset"]), content, on_missing="ignore")
    with pytest.raises(ArchiveError, match=r"^content store 'gs://bucket/content': unsupported scheme 'gs'"):
        load_files(str(built["dataset"]), "gs://bucket/content")
    with pytest.raises(ArchiveError, match=r"^manifest 'http://host/manifest': unsupported scheme 'http'"):
        iter_manifest("http://host/manifest")


def test_iter_manifest_streams_the_same_rows_locally_and_from_s3(built, s3):
    local = list(iter_manifest(str(built["dataset"])))  # the dataset root holds manifest/
    parts = manifest_files(s3["manifest"])[1]
    assert len(parts) >= 2 and parts == sorted(parts)
    assert list(iter_manifest(s3["manifest"], batch_size=7)) == local
    assert list(iter_manifest(s3["dataset"], ["swhid", "blob_id"])) == [
        {"swhid": r["swhid"], "blob_id": r["blob_id"]} for r in local
    ]
    python = list(iter_manifest(s3["manifest"], ["path"], languages=["Python"]))
    assert python == [{"path": r["path"]} for r in local if r["language"] == "Python"]
    assert json.dumps(local[0], default=str)  # plain Python values
