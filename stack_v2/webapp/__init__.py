""" "Am I in The Stack?": the web app of ``stack-v2 serve`` (docs/serve.md).

``index`` (the DuckDB lookup index over datasets), ``queries`` (a visitor's query and its answer), ``form``
(the opt-out form to a validated request), ``store`` (received requests in SQLite), ``security`` (headers,
limits, CSRF, rate limits, error pages), ``pages`` (the HTML), ``app`` (the routes), ``server`` (uvicorn).
"""
