"""The Starlette app of ``stack-v2 serve``: routes, wired to the index, the request store and the guards.

Routes (docs/serve.md): ``/`` the search form, ``/lookup`` the answer, ``/optout`` the request form (GET)
and its submission (POST), ``/api/v1/datasets`` and ``/api/v1/lookup`` the same data as JSON, and
``/style.css``, the one fixed stylesheet. Nothing else is served: there is no static-file route, so no path
a visitor sends can reach a file. Handlers that query DuckDB or SQLite are plain functions, which Starlette
runs in its thread pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from stack_v2.webapp import pages
from stack_v2.webapp.form import LIMITS, MAX_REPOS, FormError, request_from_form
from stack_v2.webapp.index import LookupIndex
from stack_v2.webapp.queries import DEFAULT_PER_PAGE, MAX_PER_PAGE, QueryError, lookup, parse_query
from stack_v2.webapp.security import CsrfTokens, Guard, RateLimiter
from stack_v2.webapp.store import RequestStore

log = logging.getLogger("stack_v2.serve")
MAX_BODY = 16 * 1024
MAX_PAGE = 100_000


@dataclass
class Settings:
    max_body: int = MAX_BODY
    rate_limit: tuple[int, float] = (10, 3600.0)
    secret: bytes | None = None
    allowed_hosts: tuple[str, ...] = ("*",)


def _int(request: Request, name: str, default: int, top: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= top:
        raise QueryError(f"{name}: expected a whole number from 1 to {top:,}")
    return int(raw)


def create_app(index: LookupIndex, store: RequestStore, settings: Settings | None = None):
    """The ASGI app (Starlette wrapped in the Guard)."""
    settings = settings or Settings()
    csrf = CsrfTokens(settings.secret)
    limiter = RateLimiter(*settings.rate_limit)

    def html(body: str, status: int = 200, headers: dict | None = None) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers=headers)

    def home(request: Request):
        index.refresh()
        return html(pages.home([(v.name, v.version, v.files) for v in index.versions()]))

    def _lookup(request: Request):
        q = request.query_params.get("q", "")
        query = parse_query(q)
        index.refresh()
        return lookup(
            index,
            query,
            page=_int(request, "page", 1, MAX_PAGE),
            dropped_page=_int(request, "dropped_page", 1, MAX_PAGE),
            per_page=_int(request, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
            repo_page=_int(request, "repo_page", 1, MAX_PAGE),
        )

    def lookup_html(request: Request):
        try:
            result = _lookup(request)
        except QueryError as exc:
            q = request.query_params.get("q", "")[:300]
            return html(pages.error_page("Invalid query: Am I in The Stack?", str(exc), q), 400)
        return html(pages.lookup_page(result))

    def lookup_json(request: Request):
        try:
            result = _lookup(request)
        except QueryError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(result.to_json())

    def datasets_json(request: Request):
        index.refresh()
        return JSONResponse(
            {
                "datasets": [
                    {
                        "name": v.name,
                        "version": v.version,
                        "files": v.files,
                        "dropped": v.dropped,
                        "repositories": v.repositories,
                    }
                    for v in index.versions()
                ]
            }
        )

    def form_page(request: Request, values: dict | None = None, error: str | None = None, status: int = 200):
        nonce = request.cookies.get(CsrfTokens.COOKIE)
        fresh = not nonce or len(nonce) > 64
        if fresh:
            nonce = CsrfTokens.new_nonce()
        response = html(pages.optout_form(csrf.token(nonce), values, error, max_repos=MAX_REPOS), status)
        if fresh:
            response.set_cookie(CsrfTokens.COOKIE, nonce, httponly=True, samesite="strict", path="/optout")
        return response

    def optout_get(request: Request):
        prefill = {k: request.query_params.get(k, "")[: LIMITS[k]] for k in ("owner", "repos")}
        return form_page(request, prefill)

    async def optout_post(request: Request):
        client = request.client.host if request.client else "unknown"
        wait = limiter.hit(client)
        if wait:
            return html(
                pages.error_page("Too many requests", "Too many requests from your address: try again later.", None),
                429,
                {"Retry-After": str(int(wait + 0.999))},
            )
        form = await request.form(max_files=0, max_fields=10, max_part_size=MAX_BODY)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if not csrf.valid(request.cookies.get(CsrfTokens.COOKIE), fields.get("csrf_token")):
            return html(
                pages.error_page(
                    "Forbidden",
                    "The form's security token is missing or does not match: reload the form and send it again.",
                    None,
                ),
                403,
            )
        values = {k: fields.get(k, "")[: LIMITS[k]] for k in ("owner", "repos", "contact", "reason")}
        try:
            req = request_from_form(fields)
        except FormError as exc:
            return form_page(request, values, str(exc), 400)
        request_id = await run_in_threadpool(
            store.add, req, contact=values["contact"].strip(), reason=values["reason"].strip(), client=client
        )
        log.info("serve: opt-out request %s received for %s", request_id, req.describe())
        return html(pages.optout_received(request_id, req.owner, req.repos))

    def style(request: Request):
        return Response(pages.STYLE, media_type="text/css")

    async def http_error(request: Request, exc: HTTPException):
        # Starlette's own refusals (no route, wrong method, a malformed form) as short pages
        messages = {
            404: ("Not found", "There is no such page here."),
            405: ("Method not allowed", "This page does not take that method."),
            413: ("Too large", "The request is larger than this server accepts."),
        }
        title, message = messages.get(exc.status_code, ("Bad request", "The request could not be read."))
        return html(pages.error_page(title, message, "" if exc.status_code == 404 else None), exc.status_code)

    async def server_error(request: Request, exc: Exception):
        # Starlette calls this for any exception a handler raised, then re-raises it to the Guard, which logs it.
        return html(
            pages.error_page("Server error", "Something went wrong on our side. Please try again later.", None), 500
        )

    routes = [
        Route("/", home),
        Route("/lookup", lookup_html),
        Route("/optout", optout_get, methods=["GET"]),
        Route("/optout", optout_post, methods=["POST"]),
        Route("/api/v1/datasets", datasets_json),
        Route("/api/v1/lookup", lookup_json),
        Route("/style.css", style),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
    return Guard(app, max_body=settings.max_body, allowed_hosts=settings.allowed_hosts)
