"""The content fetcher against real stores: a local archive made by import-git, and the same archive
uploaded to a real S3 server (moto's, in-process), reached directly or through a faulty HTTP proxy."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import pickle
import random
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from gitrepos import make_library_repo
from s3util import FaultyProxy, make_public, s3_client, upload_tree

from stack_v2.archive import orc
from stack_v2.archive.content import MAX_BLOB_LENGTH, ContentStore, FetchResult, fetch_blob, fetch_many
from stack_v2.archive.content_store import RetryPolicy, S3ContentStore, is_retryable, open_content_store
from stack_v2.archive.fetch_contents import FetchContents
from stack_v2.archive.import_git import import_git
from stack_v2.archive.location import ArchiveLocation
from stack_v2.errors import ArchiveError
from stack_v2.records import FileOccurrence

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005)
ABSENT_SHA1 = hashlib.sha1(b"never archived").hexdigest()


class Archive(NamedTuple):
    repo: Path
    root: Path
    rows: list[tuple[str, str, int]]  # (sha1, sha1_git, length) from the content table
    blobs: dict[str, bytes]  # sha1 -> git's own bytes (git cat-file)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Archive:
    tmp = tmp_path_factory.mktemp("content")
    repo = make_library_repo(tmp)
    root = tmp / "archive"
    import_git([str(repo)], str(root))
    rows = [
        row
        for batch in orc.iter_table(ArchiveLocation(str(root)), "content", ["sha1", "sha1_git", "length"])
        for row in zip(*(column.to_pylist() for column in batch.columns))
    ]
    assert len(rows) >= 5
    blobs = {sha1: git_cat_blob(repo, sha1_git) for sha1, sha1_git, _ in rows}
    return Archive(repo, root, rows, blobs)


def git_cat_blob(repo: Path, sha1_git: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), "cat-file", "blob", sha1_git], check=True, capture_output=True
    ).stdout


class StoreEnv(NamedTuple):
    """A fresh copy of the archive's contents in one kind of store, and a way to write raw objects into it."""

    location: ArchiveLocation
    store: ContentStore
    put: callable  # (blob_id, raw object bytes) -> None


def local_env(archive: Archive, tmp_path: Path) -> StoreEnv:
    shutil.copytree(archive.root / "content", tmp_path / "archive" / "content")
    location = ArchiveLocation(str(tmp_path / "archive"))
    return StoreEnv(
        location, open_content_store(location), lambda k, b: (tmp_path / "archive/content" / k).write_bytes(b)
    )


def s3_env(archive: Archive, endpoint: str, bucket: str = "stack-test", unsigned: bool = False) -> StoreEnv:
    prefix = f"archives/{uuid.uuid4().hex}"  # a fresh archive per test: corruption tests overwrite objects
    upload_tree(endpoint, archive.root / "content", bucket, f"{prefix}/content")
    location = ArchiveLocation(f"s3://{bucket}/{prefix}", unsigned=unsigned)
    client = s3_client(endpoint)
    return StoreEnv(
        location,
        open_content_store(location, retry=FAST),
        lambda k, b: client.put_object(Bucket=bucket, Key=f"{prefix}/content/{k}", Body=b),
    )


@pytest.fixture(params=["local", "s3"])
def env(request, archive, tmp_path) -> StoreEnv:
    if request.param == "local":
        return local_env(archive, tmp_path)
    return s3_env(archive, request.getfixturevalue("s3_endpoint"))


# -- fetching from both stores -------------------------------------------------------------------


def test_every_blob_fetches_with_gits_bytes(env, archive):
    for sha1, sha1_git, length in archive.rows:
        result = fetch_blob(env.store, sha1, sha1_git, length)
        assert result == FetchResult(sha1, archive.blobs[sha1], None, "")
        assert len(result.data) == length
    in_order = list(fetch_many(env.store, archive.rows * 3, concurrency=4))
    assert [r.blob_id for r in in_order] == [sha1 for sha1, _, _ in archive.rows * 3]
    assert [r.data for r in in_order] == [archive.blobs[sha1] for sha1, _, _ in archive.rows * 3]


def test_missing_object(env):
    result = fetch_blob(env.store, ABSENT_SHA1)
    assert (result.data, result.reason) == (None, "missing")
    assert ABSENT_SHA1 in result.detail


def test_corrupt_objects(env, archive):
    sha1, sha1_git, length = archive.rows[0]
    good = gzip.compress(archive.blobs[sha1])
    cases = {
        "truncated": good[: len(good) // 2],
        "not gzip": archive.blobs[sha1],
        "empty object": b"",
        "bad CRC": good[:-8] + bytes(8),
        "bad length trailer": good[:-4] + (len(archive.blobs[sha1]) + 1).to_bytes(4, "little"),
        "garbage after the member": good + b"not another gzip member",
    }
    for label, raw in cases.items():
        env.put(sha1, raw)
        result = fetch_blob(env.store, sha1, sha1_git, length)
        assert (result.data, result.reason) == (None, "corrupt_gzip"), label
        assert sha1 in result.detail


def test_objects_gzip_reads_in_more_than_one_member(env, archive):
    """zlib reads one gzip member; what gzip also accepts after it (more members, zero padding) still reads."""
    sha1, sha1_git, length = max(archive.rows, key=lambda r: r[2])
    blob = archive.blobs[sha1]
    cases = {
        "two members": gzip.compress(blob[: length // 2]) + gzip.compress(blob[length // 2 :]),
        "zero padding": gzip.compress(blob) + bytes(16),
        "a file name in the header": _gzip_with_name(blob, b"original.py"),
    }
    for label, raw in cases.items():
        env.put(sha1, raw)
        assert fetch_blob(env.store, sha1, sha1_git, length) == FetchResult(sha1, blob, None, ""), label
        # the limit holds across members too
        assert fetch_blob(env.store, sha1, sha1_git, None, max_length=length).reason == "too_large", label


def _gzip_with_name(data: bytes, name: bytes) -> bytes:
    import io

    out = io.BytesIO()
    with gzip.GzipFile(filename=name.decode(), mode="wb", fileobj=out, mtime=0) as f:
        f.write(data)
    return out.getvalue()


def test_local_reads_stay_in_the_calling_thread(archive, tmp_path):
    """A local store is read in the caller's thread (threads only contend for the GIL there); a store whose
    reads wait on a network gets them overlapped by the pool."""
    import threading

    env = local_env(archive, tmp_path)
    seen: list[str] = []

    class Watched(type(env.store)):
        def get_compressed(self, blob_id):
            seen.append(threading.current_thread().name)
            return super().get_compressed(blob_id)

    local = Watched(str(tmp_path / "archive" / "content"))
    assert [r.data for r in fetch_many(local, archive.rows, concurrency=8)] == [
        archive.blobs[s] for s, _, _ in archive.rows
    ]
    assert set(seen) == {threading.current_thread().name}
    seen.clear()
    local.concurrent_reads = True
    assert [r.data for r in fetch_many(local, archive.rows, concurrency=8)] == [
        archive.blobs[s] for s, _, _ in archive.rows
    ]
    assert seen and all(name.startswith("fetch") for name in seen)


def test_object_holding_another_blob(env, archive):
    sha1, other_sha1 = archive.rows[0][0], archive.rows[1][0]
    env.put(sha1, gzip.compress(archive.blobs[other_sha1]))
    result = fetch_blob(env.store, sha1)
    assert (result.data, result.reason) == (None, "sha1_mismatch")
    assert other_sha1 in result.detail


def test_wrong_content_id(env, archive):
    (sha1, _, length), (_, other_git, _) = archive.rows[0], archive.rows[1]
    result = fetch_blob(env.store, sha1, other_git, length)
    assert (result.data, result.reason) == (None, "sha1_git_mismatch")
    assert other_git in result.detail


def test_too_large_is_skipped_before_any_request(env, archive):
    # ABSENT_SHA1 is in no store: getting too_large (not missing) shows no request was made.
    assert fetch_blob(env.store, ABSENT_SHA1, length=MAX_BLOB_LENGTH) == FetchResult(
        ABSENT_SHA1, None, "too_large", f"length={MAX_BLOB_LENGTH}"
    )
    assert fetch_blob(env.store, ABSENT_SHA1, length=MAX_BLOB_LENGTH - 1).reason == "missing"
    # With the length unknown, the decompressed size decides.
    sha1, sha1_git, length = max(archive.rows, key=lambda r: r[2])
    assert fetch_blob(env.store, sha1, sha1_git, None, max_length=length).reason == "too_large"
    assert fetch_blob(env.store, sha1, sha1_git, None, max_length=length + 1).data == archive.blobs[sha1]


@pytest.mark.parametrize(
    "blob_id",
    [
        "",
        "abc",
        ABSENT_SHA1.upper(),  # keys are lowercase
        ABSENT_SHA1[:-1] + "g",
        ABSENT_SHA1 + "0",
        "../../" + ABSENT_SHA1[6:],  # must never become a path outside the store
        None,
    ],
)
def test_invalid_blob_id(env, blob_id):
    result = fetch_blob(env.store, blob_id, length=1)
    assert (result.data, result.reason) == (None, "invalid_blob_id")


def test_local_store_needs_its_directory(tmp_path):
    with pytest.raises(ArchiveError, match="no such directory"):
        open_content_store(ArchiveLocation(str(tmp_path / "nowhere")))


def test_fetch_many_bounds_work_in_flight(env, archive):
    pulled = []

    def items():
        for i, row in enumerate(itertools.cycle(archive.rows)):
            pulled.append(i)
            yield row

    results = fetch_many(env.store, items(), concurrency=2)
    first = next(results)
    assert first.data == archive.blobs[first.blob_id]
    assert len(pulled) <= 4  # 2 * concurrency, not the whole (endless) iterable
    results.close()


# -- S3 specifics --------------------------------------------------------------------------------


def test_unsigned_access_to_a_public_bucket(archive, s3_endpoint, monkeypatch):
    env = s3_env(archive, s3_endpoint, bucket="public-archive", unsigned=True)
    make_public(s3_endpoint, "public-archive")
    with FaultyProxy(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        store = open_content_store(env.location, retry=FAST)
        results = list(fetch_many(store, archive.rows))
    assert [r.data for r in results] == [archive.blobs[sha1] for sha1, _, _ in archive.rows]
    assert len(proxy.gets()) == len(archive.rows)
    assert not any("Authorization" in headers for _, _, headers in proxy.requests)


def test_unsigned_access_to_a_private_bucket_is_denied(archive, s3_endpoint):
    env = s3_env(archive, s3_endpoint, bucket="private-archive", unsigned=True)
    sha1, sha1_git, length = archive.rows[0]
    result = fetch_blob(env.store, sha1, sha1_git, length)
    assert (result.data, result.reason) == (None, "access_denied")


def test_s3_store_survives_pickling_after_use(archive, s3_endpoint):
    env = s3_env(archive, s3_endpoint)
    sha1, sha1_git, length = archive.rows[0]
    assert fetch_blob(env.store, sha1, sha1_git, length).data == archive.blobs[sha1]
    copy = pickle.loads(pickle.dumps(env.store))
    assert fetch_blob(copy, sha1, sha1_git, length).data == archive.blobs[sha1]


def _through_proxy(archive, s3_endpoint, monkeypatch, proxy, retry=FAST) -> S3ContentStore:
    env = s3_env(archive, s3_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    store = open_content_store(env.location, retry=retry)  # the client reads AWS_ENDPOINT_URL on first use
    assert isinstance(store, S3ContentStore)
    return store


def test_throttled_gets_are_retried_end_to_end(archive, s3_endpoint, monkeypatch):
    sha1, sha1_git, length = archive.rows[0]
    with FaultyProxy(s3_endpoint, fail_first=2) as proxy:
        store = _through_proxy(archive, s3_endpoint, monkeypatch, proxy)
        result = fetch_blob(store, sha1, sha1_git, length)
    assert result.data == archive.blobs[sha1]
    assert proxy.gets() == [f"/stack-test/{store.key(sha1)}"] * 3  # two SlowDowns, then the object


def test_server_errors_until_retries_run_out(archive, s3_endpoint, monkeypatch):
    sha1, sha1_git, length = archive.rows[0]
    with FaultyProxy(s3_endpoint, fail_first=100, status=500, code="InternalError") as proxy:
        store = _through_proxy(archive, s3_endpoint, monkeypatch, proxy, RetryPolicy(3, base_delay=0.001))
        result = fetch_blob(store, sha1, sha1_git, length)
    assert (result.data, result.reason) == (None, "fetch_error")
    assert "InternalError" in result.detail and "after 3 attempts" in result.detail
    assert len(proxy.gets()) == 3  # botocore's own retries are off: exactly our attempts


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (403, "AccessDenied", "access_denied"),
        (404, "NoSuchKey", "missing"),
        (400, "InvalidRequest", "fetch_error"),
    ],
)
def test_client_errors_are_not_retried_end_to_end(archive, s3_endpoint, monkeypatch, status, code, reason):
    sha1, sha1_git, length = archive.rows[0]
    with FaultyProxy(s3_endpoint, fail_first=100, status=status, code=code) as proxy:
        store = _through_proxy(archive, s3_endpoint, monkeypatch, proxy)
        result = fetch_blob(store, sha1, sha1_git, length)
    assert (result.data, result.reason) == (None, reason)
    assert len(proxy.gets()) == 1


# -- the retry policy ----------------------------------------------------------------------------


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "test"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )


class Flaky:
    """A callable raising the given errors in turn, then returning "ok"."""

    def __init__(self, *errors: BaseException):
        self.errors, self.calls = list(errors), 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_retry_policy_backs_off_with_full_jitter():
    delays: list[float] = []
    policy = RetryPolicy(base_delay=0.1, max_delay=20.0, sleep=delays.append, rng=random.Random(7))
    fn = Flaky(client_error("503", 503), client_error("SlowDown", 503))
    assert policy.call(fn) == "ok"
    assert fn.calls == 3
    expected = random.Random(7)
    assert delays == [expected.uniform(0, 0.1), expected.uniform(0, 0.2)]
    assert 0 <= delays[0] <= 0.1 and 0 <= delays[1] <= 0.2


def test_retry_delay_is_capped():
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, rng=random.Random(1))
    assert all(0 <= policy.delay(attempt) <= 5.0 for attempt in (3, 10, 100, 10_000))


@pytest.mark.parametrize(("code", "status"), [("NoSuchKey", 404), ("AccessDenied", 403), ("InvalidRequest", 400)])
def test_client_errors_are_not_retried(code, status):
    delays: list[float] = []
    fn = Flaky(client_error(code, status))
    with pytest.raises(ClientError):
        RetryPolicy(sleep=delays.append).call(fn)
    assert (fn.calls, delays) == (1, [])


def test_retries_run_out():
    delays: list[float] = []
    fn = Flaky(*[client_error("SlowDown", 503)] * 5)
    with pytest.raises(ClientError, match="SlowDown"):
        RetryPolicy(max_attempts=3, sleep=delays.append).call(fn)
    assert (fn.calls, len(delays)) == (3, 2)


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (client_error("SlowDown", 503), True),
        (client_error("Throttling", 400), True),
        (client_error("ThrottlingException", 400), True),
        (client_error("RequestLimitExceeded", 400), True),
        (client_error("TooManyRequests", 429), True),
        (client_error("RequestTimeout", 400), True),
        (client_error("InternalError", 500), True),
        (client_error("503", 503), True),  # HEAD-style errors have no body, only a status
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (client_error("NoSuchKey", 404), False),
        (client_error("AccessDenied", 403), False),
        (client_error("InvalidRequest", 400), False),
        (ValueError("a bug"), False),
    ],
)
def test_is_retryable(exc, retryable):
    assert is_retryable(exc) is retryable


def test_unreachable_endpoint_is_a_fetch_error(monkeypatch):
    # Port 1 on loopback refuses connections: a real connection error, retried, then reported.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    delays: list[float] = []
    store = S3ContentStore(
        "stack-test", "content", retry=RetryPolicy(max_attempts=2, base_delay=0.001, sleep=delays.append)
    )
    result = fetch_blob(store, ABSENT_SHA1)
    assert (result.data, result.reason) == (None, "fetch_error")
    assert "EndpointConnectionError" in result.detail and len(delays) == 1


# -- Beam ----------------------------------------------------------------------------------------


def occurrence(path: str, blob_id, content_id: str, length, status: str = "visible") -> FileOccurrence:
    return FileOccurrence(
        origin="https://github.com/local/jsonlib",
        repo_name="local/jsonlib",
        snapshot_id=None,
        branch_name="refs/heads/main",
        revision_id=None,
        revision_date=None,
        committer_date=None,
        visit_date=None,
        directory_id="0" * 40,
        path=path,
        blob_id=blob_id,
        content_id=content_id,
        length=length,
        perms=0o100644,
        content_status=status,
    )


def test_fetch_contents_transform(archive, tmp_path):
    location = local_env(archive, tmp_path).location
    good = [occurrence(f"good/{i}", *row) for i, row in enumerate(archive.rows)]
    (sha1, _, length), (_, other_git, _) = archive.rows[0], archive.rows[1]
    bad = {
        occurrence("absent", None, "1" * 40, 200_000_000, status="absent"): "missing",
        occurrence("not_stored", ABSENT_SHA1, "2" * 40, 10): "missing",
        occurrence("huge", ABSENT_SHA1, "3" * 40, MAX_BLOB_LENGTH): "too_large",
        occurrence("wrong_content_id", sha1, other_git, length): "sha1_git_mismatch",
        occurrence("bad_id", "not-a-sha1", "4" * 40, 10): "invalid_blob_id",
    }
    pipeline = BeamTestPipeline()
    out = pipeline | beam.Create(good + list(bad)) | FetchContents(location, concurrency=3, batch_size=4)
    assert_that(out.fetched, equal_to([(occ, archive.blobs[occ.blob_id]) for occ in good]), label="Fetched")
    reasons = out.failed | beam.Map(lambda failed: (failed[0], failed[1]))
    assert_that(reasons, equal_to(list(bad.items())), label="Failed")
    details = out.failed | beam.Map(lambda failed: failed[2] if failed[0].blob_id is None else "")
    assert_that(details | beam.Filter(bool), equal_to(["not in the content table"]), label="AbsentDetail")
    result = pipeline.run()
    result.wait_until_finish()

    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("fetch"))["counters"]
    }
    assert counters == {
        "fetched": len(good),
        "bytes": sum(r[2] for r in archive.rows),
        "missing": 2,
        "too_large": 1,
        "sha1_git_mismatch": 1,
        "invalid_blob_id": 1,
    }


def test_fetch_contents_rejects_bad_arguments(archive):
    with pytest.raises(ValueError, match="concurrency"):
        FetchContents(ArchiveLocation(str(archive.root)), concurrency=0)


def test_fetch_result_has_a_row_coder():
    coder = beam.coders.registry.get_coder(FetchResult)
    assert isinstance(coder, beam.coders.RowCoder)
    for value in (FetchResult("a" * 40, b"\0data", None, ""), FetchResult("b" * 40, None, "missing", "gone")):
        assert coder.decode(coder.encode(value)) == value
