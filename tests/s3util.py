"""Helpers for tests against a real S3 server (moto's, in-process): uploads, bucket policies, a faulty proxy."""

from __future__ import annotations

import http.client
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import urlparse

import boto3


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def upload_tree(endpoint: str, local_dir: str | Path, bucket: str, prefix: str = "") -> int:
    """Upload every file under ``local_dir`` to ``s3://bucket/prefix/<relative path>``; returns the file count."""
    client = s3_client(endpoint)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    root = Path(local_dir)
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = "/".join(part for part in (prefix.strip("/"), path.relative_to(root).as_posix()) if part)
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        count += 1
    return count


def make_public(endpoint: str, bucket: str) -> None:
    """A public-read bucket policy (GetObject and ListBucket for everyone), as SWH's bucket has."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }
    s3_client(endpoint).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class FaultyProxy:
    """An HTTP proxy in front of an S3 server that answers the first ``fail_first`` GETs with an S3 error
    (default ``503 SlowDown``) and forwards everything else. ``requests`` records (method, path, headers);
    ``rewrite`` lists (old, new) byte strings replaced in response bodies."""

    def __init__(
        self,
        upstream: str,
        fail_first: int = 0,
        status: int = 503,
        code: str = "SlowDown",
        rewrite: tuple[tuple[bytes, bytes], ...] = (),
    ):
        self.upstream = urlparse(upstream)
        self.fail_first, self.status, self.code, self.rewrite = fail_first, status, code, rewrite
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.failed = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def gets(self) -> list[str]:
        return [path for method, path, _ in self.requests if method == "GET"]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1: "Expect: 100-continue" is answered at once (the AWS C++ SDK sends it with every
            # upload and would otherwise wait a second for it); every response carries a Content-Length.
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _read_body(self) -> bytes:
                if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                # A chunked upload: the AWS C++ SDK sends aws-chunked payloads (with a checksum trailer) in
                # HTTP chunks. Both framings are removed and the plain bytes forwarded (see _headers).
                body = _dechunk(self.rfile)
                if "aws-chunked" in self.headers.get("Content-Encoding", ""):
                    import io

                    body = _dechunk(io.BytesIO(body))
                return body

            def _headers(self, body: bytes) -> dict:
                if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
                    return dict(self.headers)
                dropped = {
                    "transfer-encoding",
                    "content-encoding",
                    "content-length",
                    "x-amz-trailer",
                    "x-amz-decoded-content-length",
                    "x-amz-content-sha256",
                }
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                return {**headers, "Content-Length": str(len(body)), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}

            def _relay(self) -> None:
                body = self._read_body()
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, dict(self.headers)))
                    fail = self.command == "GET" and proxy.failed < proxy.fail_first
                    proxy.failed += fail
                if fail:
                    error = (
                        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{proxy.code}</Code>'
                        f"<Message>injected by the test proxy</Message><RequestId>proxy</RequestId></Error>"
                    ).encode()
                    self.send_response(proxy.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                try:
                    headers = self._headers(body)
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    for old, new in proxy.rewrite:
                        data = data.replace(old, new)
                finally:
                    conn.close()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))  # HEAD: the object's size
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _relay

        return Handler


def _dechunk(stream) -> bytes:
    """The data of a chunked body (hex size lines, a zero-size chunk, trailers, an empty line)."""
    data = b""
    while size := int(stream.readline().split(b";")[0].strip() or b"0", 16):
        data += stream.read(size)
        stream.readline()
    while stream.readline().strip():  # trailers
        pass
    return data


def env_snapshot(names: list[str]) -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in names}


def env_restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
