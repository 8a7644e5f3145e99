"""Composition of the sandbox's ASGI application: routers, hooks and the shared context.

``build_app(ctx)`` returns one ASGI callable that serves the worker API under
``/api/algo-workers`` and the testing API under ``/__sandbox__``: a Starlette application
(``_asgi``). The same callable runs under hypercorn's trio worker (``serve_sandbox``),
asyncio/uvloop (``kite-supervisor sandbox --asyncio``) and in-process (the backtest's
transport): handlers use anyio primitives only.
"""

from __future__ import annotations

from starlette.applications import Starlette

from ._asgi import API_PREFIX, Router, starlette_app
from ._context import AppContext

TESTING_PREFIX = "/__sandbox__"


def build_router() -> Router:
    """All worker API routes, WebSockets (§5.6) included."""
    from . import (
        _routes_executions,
        _routes_gtt,
        _routes_market,
        _routes_options,
        _routes_options_runs,
        _routes_portfolio,
        _routes_reference,
        _routes_runs,
        _routes_streams,
        _routes_ws,
    )

    router = Router()
    for routes in (
        _routes_runs,
        _routes_portfolio,
        _routes_executions,
        _routes_streams,
        _routes_market,
        _routes_gtt,
        _routes_options,
        _routes_options_runs,
        _routes_reference,
        _routes_ws,
    ):
        routes.register(router)
    return router


def build_app(ctx: AppContext) -> Starlette:
    """The ASGI application for ``ctx`` (fault hooks and the ``/__sandbox__`` testing API)."""
    from ._faults import register_testing_routes

    testing = Router()
    register_testing_routes(testing)
    return starlette_app(
        build_router(), ctx, prefix=API_PREFIX, hook=ctx.faults, mounts={TESTING_PREFIX: testing}
    )
