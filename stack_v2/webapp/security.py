"""What stands between a visitor and the server: headers, size limits, CSRF tokens, rate limits, errors.

- ``Guard`` wraps the whole ASGI app (outside Starlette's own error handling): every response gets the
  security headers; a Host header the server does not answer for is refused with 421 (on loopback, only
  loopback names: DNS rebinding would otherwise let any web page read and post to it); a body longer than
  ``max_body`` is refused with 413 before the app reads it (by its Content-Length, or while it streams); an
  exception becomes a 500 page without details, the traceback
  going to the server's log only.
- ``CsrfTokens``: the form's token is the HMAC of a random nonce that also goes in a cookie (a signed double
  submit). A POST must bring both, matching: another site can make a browser send the cookie but cannot
  read it, nor forge the HMAC without the server's secret.
- ``RateLimiter``: at most N form submissions per client address per window (sliding), then 429 with
  Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque

from starlette.exceptions import HTTPException

log = logging.getLogger("stack_v2.serve")

# No script at all; styles only from the fixed stylesheet route; forms post only here; never framed.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
ERROR_500 = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Server error</title>'
    b'<link rel="stylesheet" href="/style.css"></head><body><main><h1>Server error</h1>'
    b'<p class="error">Something went wrong on our side. The error was logged; please try again later.</p>'
    b"</main></body></html>\n"
)
ERROR_413 = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Too large</title></head><body>'
    b'<p class="error">The request is larger than this server accepts.</p></body></html>\n'
)


ERROR_HOST = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Unknown host</title></head><body>'
    b'<p class="error">This server does not answer for that host name.</p></body></html>\n'
)


class BodyTooLarge(HTTPException):
    """Raised while a body streams past the limit; a Starlette HTTPException, so that a handler reading the
    body (the form) answers 413 rather than a server error."""

    def __init__(self):
        super().__init__(413)


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def host_name(header: bytes | None) -> str:
    """The name in a Host header, without its port (``[::1]:8080`` -> ``::1``)."""
    text = (header or b"").decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.partition(":")[0]


class Guard:
    """The outermost ASGI layer (see the module's docstring)."""

    def __init__(self, app, *, max_body: int, allowed_hosts: tuple[str, ...] = ("*",)):
        self.app, self.max_body = app, max_body
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        headers = dict(scope.get("headers", []))
        if "*" not in self.allowed_hosts and host_name(headers.get(b"host")) not in self.allowed_hosts:
            # A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) must not reach the server.
            await _plain(send_with_headers, 421, ERROR_HOST)
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _plain(send_with_headers, 413, ERROR_413)
            return
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:  # chunked bodies carry no Content-Length
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            if not started:
                await _plain(send_with_headers, 413, ERROR_413)
        except Exception:
            log.exception("serve: %s %s failed", scope.get("method"), scope.get("path"))
            if not started:
                await _plain(send_with_headers, 500, ERROR_500)


async def _plain(send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class CsrfTokens:
    """Signed double-submit tokens: cookie ``nonce``, form field ``HMAC(secret, nonce)``."""

    COOKIE = "stackv2_csrf"

    def __init__(self, secret: bytes | None = None):
        self._secret = secret or secrets.token_bytes(32)

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def token(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    def valid(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token or len(nonce) > 64 or len(token) > 128:
            return False
        return hmac.compare_digest(self.token(nonce), token)


def parse_rate(text: str) -> tuple[int, float]:
    """``N/SECONDS`` (``10/3600``: ten per hour) -> (N, SECONDS); ValueError otherwise."""
    count, _, window = text.partition("/")
    n, seconds = int(count), float(window or "3600")
    if n < 1 or seconds <= 0:
        raise ValueError(text)
    return n, seconds


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per client, sliding. Remembers at most ``max_clients``
    clients (the least recently seen are forgotten), so a flood of addresses cannot exhaust memory."""

    def __init__(self, limit: int, window: float, *, max_clients: int = 100_000):
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._events: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, client: str, now: float | None = None) -> float:
        """Count one event; 0 when allowed, else the seconds until the client may try again."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.pop(client, None) or deque()
            while events and events[0] <= now - self.window:
                events.popleft()
            self._events[client] = events
            while len(self._events) > self.max_clients:
                self._events.popitem(last=False)
            if len(events) >= self.limit:
                return max(1.0, events[0] + self.window - now)
            events.append(now)
            return 0.0
