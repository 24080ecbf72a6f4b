"""Running the app: a listening socket made first (so ``--port 0`` can name the port it got), then uvicorn on
it, printing the ready line once connections are accepted."""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys

import uvicorn

from stack_v2.errors import StackV2Error


def listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise StackV2Error(f"--host {host} --port {port}: cannot listen ({exc.strerror or exc})") from None
    sock.setblocking(False)
    return sock


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: str):
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if self.started:  # the browser tests wait for this line
            print(self._ready, flush=True)


def run(app, sock: socket.socket, ready: str, *, forwarded_allow_ips: str | None = None) -> None:
    """Serve ``app`` on ``sock`` until SIGINT or SIGTERM; print ``ready`` (flushed) once serving."""
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,  # the CLI's logging: warnings and errors to stderr
        access_log=False,
        server_header=False,
        # X-Forwarded-For only from the proxies named: otherwise any client could pick its own rate-limit key
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    )
    _Server(config, ready).run(sockets=[sock])


def exit_on_sigterm():
    """SIGTERM exits through Python (SystemExit) rather than killing the process, so that clean-up (the
    index's temporary files) runs: while the index is built, and after uvicorn's graceful shutdown, which
    raises the signal again once done. Returns the previous handler, to restore."""
    return signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
