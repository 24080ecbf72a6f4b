"""``stack-v2 serve`` ("Am I in The Stack?", docs/serve.md) and the operator's side of its opt-out form:
``stack-v2 optout pending`` and ``stack-v2 optout approve``."""

from __future__ import annotations

import json
import signal
import sys

from stack_v2.errors import StackV2Error

DEFAULT_STORE = "optout-requests.sqlite"


def add_serve_parser(sub) -> None:
    serve = sub.add_parser(
        "serve", help='"Am I in The Stack?": a lookup and opt-out web app over built datasets (docs/serve.md)'
    )
    serve.add_argument(
        "--dataset",
        action="append",
        required=True,
        metavar="DIR_OR_URI",
        help="a dataset written by stack-v2 build: local, s3:// or gs:// (repeatable)",
    )
    serve.add_argument(
        "--requests",
        default=DEFAULT_STORE,
        metavar="DB",
        help="SQLite file of received opt-out requests (created if absent; default: %(default)s)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, loopback)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: %(default)s; 0: any free port)")
    serve.add_argument(
        "--rate-limit",
        default="10/3600",
        metavar="N/SECONDS",
        help="opt-out form submissions allowed per client address and window (default: %(default)s)",
    )
    serve.add_argument(
        "--secret-file",
        default=None,
        metavar="FILE",
        help="key of the form's CSRF tokens, at least 32 bytes (default: a random one per start)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IPS",
        help="addresses of a reverse proxy whose X-Forwarded-For names the client (default: none trusted)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=None,
        metavar="NAME",
        help="a host name the server answers for (repeatable; '*': any); default: the loopback names "
        "when listening on loopback, else any",
    )
    serve.add_argument(
        "--memory-limit",
        default="512MB",
        metavar="SIZE",
        help="memory of the lookup index, paged to a temporary file beyond it (default: %(default)s)",
    )
    serve.set_defaults(func=cmd_serve)


def add_review_parsers(osub) -> None:
    pending = osub.add_parser(
        "pending", help="list the opt-out requests received by `stack-v2 serve`, not approved yet"
    )
    pending.add_argument("--requests", required=True, metavar="DB", help="the request store (serve's --requests)")
    pending.add_argument("--json", action="store_true", help="one JSON object per line, every field")
    pending.set_defaults(func=cmd_optout_pending)
    approve = osub.add_parser(
        "approve", help="append received requests to an opt-out file for `optout apply` and mark them approved"
    )
    approve.add_argument("--requests", required=True, metavar="DB", help="the request store (serve's --requests)")
    approve.add_argument("ids", nargs="+", type=int, metavar="ID", help="request ids (from `optout pending`)")
    approve.add_argument("--to", required=True, metavar="FILE", help="the opt-out JSON-lines file (appended to)")
    approve.set_defaults(func=cmd_optout_approve)


def _secret(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            secret = f.read().strip()
    except OSError as exc:
        raise StackV2Error(f"--secret-file {path}: cannot read ({exc.strerror or exc})") from None
    if len(secret) < 32:
        raise StackV2Error(f"--secret-file {path}: holds {len(secret)} bytes; give at least 32 random bytes")
    return secret


def cmd_serve(args, beam_args: list[str]) -> int:
    from stack_v2.webapp import server
    from stack_v2.webapp.app import Settings, create_app
    from stack_v2.webapp.index import LookupIndex
    from stack_v2.webapp.security import LOOPBACK_NAMES, parse_rate
    from stack_v2.webapp.store import RequestStore

    if beam_args:
        raise StackV2Error(f"serve: unknown option(s) {' '.join(beam_args)}")
    try:
        rate = parse_rate(args.rate_limit)
    except ValueError:
        raise StackV2Error(f"--rate-limit {args.rate_limit}: expected N/SECONDS, e.g. 10/3600") from None
    if not 0 <= args.port <= 65535:
        raise StackV2Error(f"--port {args.port}: expected 0 to 65535")
    secret = _secret(args.secret_file)
    store = RequestStore(args.requests)
    previous_handler = server.exit_on_sigterm()
    index = LookupIndex(args.dataset, memory_limit=args.memory_limit)
    try:
        index.build_all()  # fail closed: a dataset that cannot be read stops the server here
        hosts = tuple(args.allowed_host or (LOOPBACK_NAMES if server.is_loopback(args.host) else ("*",)))
        app = create_app(index, store, Settings(rate_limit=rate, secret=secret, allowed_hosts=hosts))
        sock = server.listen(args.host, args.port)
        if not server.is_loopback(args.host):
            print(
                f"stack-v2: warning: listening on {args.host}, not loopback: serve it through a reverse proxy "
                "with TLS (docs/serve.md)",
                file=sys.stderr,
            )
        ready = f"stack-v2: serving {len(index.datasets)} dataset(s) on {server.url(sock)}"
        server.run(app, sock, ready, forwarded_allow_ips=args.forwarded_allow_ips)
    finally:
        index.close()
        signal.signal(signal.SIGTERM, previous_handler)
    return 0


def cmd_optout_pending(args, beam_args: list[str]) -> int:
    from stack_v2.webapp.store import RequestStore

    if beam_args:
        raise StackV2Error(f"optout pending: unknown option(s) {' '.join(beam_args)}")
    requests = RequestStore(args.requests, create=False).list("pending")
    for r in requests:
        print(json.dumps(r.to_json(), ensure_ascii=False) if args.json else r.describe())
    if not args.json:
        print(f"stack-v2: {len(requests)} pending request(s) in {args.requests}", file=sys.stderr)
    return 0


def cmd_optout_approve(args, beam_args: list[str]) -> int:
    from stack_v2.webapp.store import RequestStore

    if beam_args:
        raise StackV2Error(f"optout approve: unknown option(s) {' '.join(beam_args)}")
    approved = RequestStore(args.requests, create=False).approve(args.ids, args.to)
    print(
        f"stack-v2: approved {len(approved)} request(s) ({', '.join(str(r.id) for r in approved)}), appended to "
        f"{args.to}; apply them with `stack-v2 optout apply --requests {args.to} --dataset DIR`",
        file=sys.stderr,
    )
    return 0
