"""The fault proxy (tests/faultproxy.py) against the real moto server, with boto3, pyarrow's S3 file system
(the AWS C++ SDK) and plain http.client: what passes through arrives intact, and every fault it injects
reaches the client as an error, never as a short or wrong answer."""

from __future__ import annotations

import hashlib
import http.client
import json
import uuid
from pathlib import Path

import boto3
import pyarrow.fs as pafs
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ResponseStreamingError
from faultproxy import FaultProxy, fault_proxy  # noqa: F401 - the fixture is used by name
from s3util import s3_client

# Real data: a source file of an installed package, a few hundred KB so bodies span many reads.
PAYLOAD = Path(json.__file__).parent.joinpath("decoder.py").read_bytes() * 20
BUCKET = "faultproxy"


def client(endpoint: str, attempts: int = 1):
    """A boto3 client with exactly ``attempts`` tries per call (botocore's standard retry mode)."""
    config = Config(retries={"total_max_attempts": attempts, "mode": "standard"}, connect_timeout=5, read_timeout=10)
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=config)


def arrow_fs(endpoint: str, attempts: int = 1) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        endpoint_override=endpoint.removeprefix("http://"),
        scheme="http",
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
        connect_timeout=5,
        request_timeout=10,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=attempts),
    )


@pytest.fixture
def obj(s3_endpoint):
    """A fresh key holding PAYLOAD, written straight to moto."""
    direct = s3_client(s3_endpoint)
    if BUCKET not in {b["Name"] for b in direct.list_buckets()["Buckets"]}:
        direct.create_bucket(Bucket=BUCKET)
    key = f"objects/{uuid.uuid4().hex}"
    direct.put_object(Bucket=BUCKET, Key=key, Body=PAYLOAD)
    return key


def test_boto3_passes_through_intact_on_kept_alive_connections(fault_proxy, obj, s3_endpoint):
    s3 = client(fault_proxy.url)
    new_key = f"objects/{uuid.uuid4().hex}"
    s3.put_object(Bucket=BUCKET, Key=new_key, Body=PAYLOAD[::-1])
    for _ in range(3):
        assert s3.get_object(Bucket=BUCKET, Key=obj)["Body"].read() == PAYLOAD
    assert s3.head_object(Bucket=BUCKET, Key=obj)["ContentLength"] == len(PAYLOAD)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=new_key)["Contents"]
    assert [o["Key"] for o in listed] == [new_key]
    # What went through the proxy is what moto holds.
    assert s3_client(s3_endpoint).get_object(Bucket=BUCKET, Key=new_key)["Body"].read() == PAYLOAD[::-1]
    assert fault_proxy.seen == 6 and fault_proxy.faulted == 0
    assert fault_proxy.connections == 1  # keep-alive: one connection for every call


def test_chunked_uploads_are_forwarded_with_their_framing(fault_proxy, s3_endpoint):
    key = f"chunked/{uuid.uuid4().hex}"
    conn = http.client.HTTPConnection("127.0.0.1", int(fault_proxy.url.rsplit(":", 1)[1]))
    pieces = [PAYLOAD[i : i + 10_000] for i in range(0, len(PAYLOAD), 10_000)]
    conn.request(
        "PUT", f"/{BUCKET}/{key}", body=iter(pieces), encode_chunked=True, headers={"Transfer-Encoding": "chunked"}
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    conn.close()
    assert s3_client(s3_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read() == PAYLOAD


def test_pyarrow_writes_and_reads_through_the_proxy(fault_proxy, obj, s3_endpoint):
    fs = arrow_fs(fault_proxy.url)
    key = f"{BUCKET}/arrow/{uuid.uuid4().hex}"
    with fs.open_output_stream(key) as out:  # the AWS C++ SDK's upload, chunked or not
        out.write(PAYLOAD)
    with fs.open_input_file(f"{BUCKET}/{obj}") as f:
        assert f.read() == PAYLOAD
    direct = s3_client(s3_endpoint).get_object(Bucket=BUCKET, Key=key.split("/", 1)[1])["Body"].read()
    assert hashlib.sha1(direct).hexdigest() == hashlib.sha1(PAYLOAD).hexdigest()
    assert fault_proxy.faulted == 0


def test_503_is_retried_by_boto3_then_surfaces(fault_proxy, obj):
    fault_proxy.set(error=rf"^GET /{BUCKET}/{obj}$")
    s3 = client(fault_proxy.url, attempts=3)
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=BUCKET, Key=obj)
    assert raised.value.response["Error"]["Code"] == "SlowDown"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert fault_proxy.paths("GET") == [f"/{BUCKET}/{obj}"] * 3  # each retry went through the proxy
    assert fault_proxy.faults["error"] == 3
    # Unmatched requests go through; the same connection still carries them after the errors.
    assert s3.head_object(Bucket=BUCKET, Key=obj)["ContentLength"] == len(PAYLOAD)
    fault_proxy.reset()
    assert s3.get_object(Bucket=BUCKET, Key=obj)["Body"].read() == PAYLOAD
    assert fault_proxy.faulted == 0 and fault_proxy.seen == 1


def test_503_on_an_upload_and_service_unavailable(fault_proxy):
    fault_proxy.set(error=r"^PUT ", code="ServiceUnavailable")
    s3 = client(fault_proxy.url, attempts=2)
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=BUCKET, Key=f"objects/{uuid.uuid4().hex}", Body=PAYLOAD)
    assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert fault_proxy.faults["error"] == 2
    assert s3.list_buckets()["Buckets"]  # the upload body was read off: the connection is still usable


def test_503_surfaces_in_pyarrow(fault_proxy, obj):
    fault_proxy.set(error=True)
    with pytest.raises(OSError, match="503|SlowDown|[Rr]educe your request rate"):
        with arrow_fs(fault_proxy.url, attempts=2).open_input_file(f"{BUCKET}/{obj}") as f:
            f.read()
    assert fault_proxy.faulted >= 2


def test_reset_connections_surface_as_errors(fault_proxy, obj):
    fault_proxy.set(reset=rf"/{obj}$")
    s3 = client(fault_proxy.url)
    with pytest.raises(ConnectionClosedError):
        s3.get_object(Bucket=BUCKET, Key=obj)
    with pytest.raises(OSError):
        with arrow_fs(fault_proxy.url).open_input_file(f"{BUCKET}/{obj}") as f:
            f.read()
    assert fault_proxy.faults["reset"] >= 2
    assert s3.list_buckets()["Buckets"]  # a new connection for the next call


def test_truncated_bodies_are_detected_not_returned_short(fault_proxy, obj):
    fault_proxy.set(truncate=rf"^GET /{BUCKET}/{obj}", truncate_to=0.3)
    s3 = client(fault_proxy.url)
    response = s3.get_object(Bucket=BUCKET, Key=obj)
    assert response["ContentLength"] == len(PAYLOAD)  # the headers promise the whole object
    with pytest.raises(ResponseStreamingError):
        response["Body"].read()
    with pytest.raises(OSError):
        with arrow_fs(fault_proxy.url).open_input_file(f"{BUCKET}/{obj}") as f:
            f.read()
    assert fault_proxy.faults["truncate"] >= 2


@pytest.mark.parametrize("mode", ["error", "reset"])
def test_outage_after_n_requests(fault_proxy, obj, mode):
    fault_proxy.set(outage_after=2, outage=mode)
    s3 = client(fault_proxy.url)
    assert s3.get_object(Bucket=BUCKET, Key=obj)["Body"].read() == PAYLOAD
    assert s3.head_object(Bucket=BUCKET, Key=obj)["ContentLength"] == len(PAYLOAD)
    for _ in range(3):
        with pytest.raises(ClientError if mode == "error" else ConnectionClosedError):
            s3.get_object(Bucket=BUCKET, Key=obj)
    assert (fault_proxy.seen, fault_proxy.faulted, fault_proxy.faults["outage"]) == (5, 3, 3)
    assert [fault for _, _, fault in fault_proxy.requests] == [None, None, mode, mode, mode]


def test_faults_change_while_requests_run(s3_endpoint, obj):
    """set() from another thread takes effect on live connections; close() ends the proxy."""
    import threading

    with FaultProxy(s3_endpoint) as proxy:
        s3 = client(proxy.url)
        errors: list[str] = []

        def reader():
            for _ in range(20):
                try:
                    s3.get_object(Bucket=BUCKET, Key=obj)["Body"].read()
                    errors.append("ok")
                except ClientError as exc:
                    errors.append(exc.response["Error"]["Code"])

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        proxy.set(error=True)
        for t in threads:
            t.join()
        proxy.set()
        assert s3.get_object(Bucket=BUCKET, Key=obj)["Body"].read() == PAYLOAD
        assert len(errors) == 80 and set(errors) <= {"ok", "SlowDown"} and "SlowDown" in errors
        assert proxy.seen == 81 and proxy.faulted == errors.count("SlowDown")
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]), timeout=2).request("GET", "/")
