"""A fault-injecting HTTP proxy on 127.0.0.1 in front of an S3 server (moto's), for the fault-injection tests.

Point ``AWS_ENDPOINT_URL`` at ``FaultProxy(target).url`` and the code under test talks to S3 through it.
Requests go on as the client sent them: method, path and query, every header in order (Host included, so
a signature made for the proxy's host:port is the one the server sees; moto checks none unless
INITIAL_NO_AUTH_ACTION_COUNT is set), and the body streamed with its own framing (Content-Length, or the
raw chunks of ``Transfer-Encoding: chunked`` with any aws-chunked payload inside left untouched). Each
client connection has its own upstream connection, so keep-alive holds on both sides.

Faults, changeable while the proxy runs (``set``, ``reset``), are checked in this order per request:

- ``outage_after=N``: every request after the Nth (counted from that ``set``) fails as ``outage`` says:
  ``"error"`` (the S3 error below) or ``"reset"``;
- ``reset``: the connection is closed with a TCP RST (SO_LINGER 0), no answer;
- ``error``: an S3-style XML error (``status``, ``code``: 503 SlowDown unless told otherwise);
- ``truncate``: forwarded, then answered with the server's headers (its Content-Length) but only
  ``truncate_to`` of the body, and the connection closed.

A fault's match is ``True`` (every request), ``None``/``False`` (off) or a regex searched in
``"METHOD /path?query"``. Counters: ``seen``, ``faulted``, ``faults`` (per kind), ``connections``, and
``requests`` (method, path, fault).
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlparse

import pytest

OUTAGE, RESET, ERROR, TRUNCATE = "outage", "reset", "error", "truncate"
_MESSAGES = {
    "SlowDown": "Please reduce your request rate.",
    "ServiceUnavailable": "Service is unable to handle request.",
    "InternalError": "We encountered an internal error. Please try again.",
}
# Headers about one connection, not the request: never forwarded (Expect is answered by the proxy itself).
_REQUEST_HOP = {"connection", "keep-alive", "proxy-connection", "expect", "te", "upgrade"}
_RESPONSE_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding"}
_PIECE = 64 * 1024


@dataclass(frozen=True)
class Faults:
    error: object = None  # True | regex | None
    reset: object = None
    truncate: object = None
    outage_after: int | None = None
    outage: str = ERROR  # "error" | "reset"
    status: int = 503
    code: str = "SlowDown"
    truncate_to: float = 0.5  # fraction of the body sent before closing


def _matches(match, line: str) -> bool:
    if match is None or match is False:
        return False
    return match is True or re.search(match, line) is not None


class FaultProxy:
    """A running proxy to ``target_url``; also a context manager (``close`` on exit)."""

    def __init__(self, target_url: str):
        target = urlparse(target_url)
        self.target = (target.hostname, target.port or 80)
        self._lock = threading.Lock()
        self._faults = Faults()
        self._since_set = 0
        self.seen = 0
        self.faulted = 0
        self.connections = 0  # client connections accepted (keep-alive: fewer than requests)
        self.faults: Counter[str] = Counter()
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, fault or None)
        self._sockets: set[socket.socket] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def set(self, **faults) -> Self:
        """Replace the faults (fields of ``Faults``); the outage count starts again from here."""
        with self._lock:
            self._faults = Faults(**faults)
            self._since_set = 0
        return self

    def reset(self) -> Self:
        """No faults, counters at zero."""
        with self._lock:
            self._faults, self._since_set = Faults(), 0
            self.seen = self.faulted = self.connections = 0
            self.faults.clear()
            self.requests.clear()
        return self

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [p for m, p, _ in self.requests if method is None or m == method]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:  # idle keep-alive connections: their handler threads end
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _decide(self, method: str, path: str) -> tuple[str | None, Faults]:
        """The fault for this request (or None), counted."""
        line = f"{method} {path}"
        with self._lock:
            f = self._faults
            self.seen += 1
            self._since_set += 1
            if f.outage_after is not None and self._since_set > f.outage_after:
                fault = RESET if f.outage == RESET else ERROR
                self.faults[OUTAGE] += 1
            elif _matches(f.reset, line):
                fault = RESET
            elif _matches(f.error, line):
                fault = ERROR
            elif _matches(f.truncate, line):
                fault = TRUNCATE
            else:
                fault = None
            if fault:
                self.faulted += 1
                self.faults[fault] += 1
            self.requests.append((method, path, fault))
            return fault, f

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive; "Expect: 100-continue" answered at once

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def setup(self) -> None:
                super().setup()
                self._upstream: http.client.HTTPConnection | None = None
                with proxy._lock:
                    proxy._sockets.add(self.connection)
                    proxy.connections += 1

            def finish(self) -> None:
                self._drop_upstream()
                with proxy._lock:
                    proxy._sockets.discard(self.connection)
                super().finish()

            def _drop_upstream(self) -> None:
                if self._upstream is not None:
                    self._upstream.close()
                    self._upstream = None

            # -- the request body, as raw bytes with its own framing

            def _has_body(self) -> bool:
                return self._chunked() or int(self.headers.get("Content-Length") or 0) > 0

            def _chunked(self) -> bool:
                return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

            def _body(self):
                if not self._chunked():
                    left = int(self.headers.get("Content-Length") or 0)
                    while left > 0:
                        piece = self.rfile.read(min(left, _PIECE))
                        if not piece:
                            raise ConnectionError("client closed the connection mid-body")
                        left -= len(piece)
                        yield piece
                    return
                while True:  # chunk-size line, data + CRLF; a zero-size chunk, trailers, an empty line
                    size_line = self.rfile.readline()
                    if not size_line:
                        raise ConnectionError("client closed the connection mid-body")
                    yield size_line
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        break
                    left = size + 2
                    while left > 0:
                        piece = self.rfile.read(min(left, _PIECE))
                        if not piece:
                            raise ConnectionError("client closed the connection mid-body")
                        left -= len(piece)
                        yield piece
                while True:
                    line = self.rfile.readline()
                    yield line
                    if line in (b"\r\n", b"\n", b""):
                        break

            # -- faults

            def _reset(self) -> None:
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()  # drops the file's hold on the socket, so close() really closes: RST
                self.connection.close()

            def _error(self, f: Faults) -> None:
                for _ in self._body():  # read the upload, so the connection can carry the next request
                    pass
                body = (
                    f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{f.code}</Code><Message>'
                    f"{_MESSAGES.get(f.code, 'Injected by the test proxy.')}</Message>"
                    f"<RequestId>faultproxy</RequestId><HostId>faultproxy</HostId></Error>"
                ).encode()
                self.send_response_only(f.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("x-amz-request-id", "faultproxy")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            # -- forwarding

            def _send_upstream(self) -> http.client.HTTPResponse:
                reused = self._upstream is not None
                if self._upstream is None:
                    self._upstream = http.client.HTTPConnection(*proxy.target, timeout=60)
                conn = self._upstream
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in _REQUEST_HOP:
                            conn.putheader(name, value)
                    conn.endheaders()
                    for piece in self._body():
                        conn.send(piece)
                    return conn.getresponse()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    self._drop_upstream()
                    if reused and not self._has_body():  # the server closed an idle connection: once more
                        return self._send_upstream()
                    raise

            def _relay(self) -> None:
                fault, f = proxy._decide(self.command, self.path)
                if fault == RESET:
                    return self._reset()
                if fault == ERROR:
                    return self._error(f)
                try:
                    response = self._send_upstream()
                except OSError:
                    self._drop_upstream()
                    return self._reset()  # the server is unreachable: so is the proxy
                self.send_response_only(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _RESPONSE_HOP:
                        self.send_header(name, value)
                length = response.getheader("Content-Length")
                no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
                rechunk = not no_body and length is None  # http.client removed the server's chunk framing
                if rechunk:
                    self.send_header("Transfer-Encoding", "chunked")
                if response.getheader("Connection", "").lower() == "close":
                    self._drop_upstream()
                self.end_headers()
                if no_body:
                    response.read()
                    return
                limit = None
                if fault == TRUNCATE:
                    limit = int(int(length) * f.truncate_to) if length is not None else _PIECE // 2
                sent = 0
                while piece := response.read(_PIECE):
                    if limit is not None and sent + len(piece) > limit:
                        piece = piece[: limit - sent]
                    sent += len(piece)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if rechunk else piece)
                    if limit is not None and sent >= limit:
                        break
                if limit is not None:  # the rest of the body is never sent: this connection is done
                    self._drop_upstream()
                    self.close_connection = True
                    return
                if rechunk:
                    self.wfile.write(b"0\r\n\r\n")

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _relay

        return Handler


@pytest.fixture
def fault_proxy(s3_endpoint, monkeypatch):
    """A FaultProxy in front of the session's moto server, with AWS_ENDPOINT_URL pointing at it meanwhile.

    Import it into a test module (``from faultproxy import fault_proxy``) to use it there."""
    with FaultProxy(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy
