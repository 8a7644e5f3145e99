"""Composition of the sandbox's ASGI application: routers, hooks and the shared context.

``build_app(ctx)`` returns one ASGI callable that serves the worker API under
``/api/algo-workers`` and the testing API under ``/__sandbox__``. The same callable runs under
hypercorn's trio worker (``serve_sandbox``) or asyncio/uvloop (``kite-supervisor sandbox
--asyncio``): handlers use anyio primitives only.
"""

from __future__ import annotations

from ._asgi import API_PREFIX, AsgiApp, Router
from ._context import AppContext

TESTING_PREFIX = "/__sandbox__"


def build_router() -> Router:
    """All worker API routes."""
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
    ):
        routes.register(router)
    return router


def build_app(ctx: AppContext) -> AsgiApp:
    """The ASGI application for ``ctx`` (fault hooks and the ``/__sandbox__`` testing API)."""
    from ._faults import register_testing_routes

    testing = Router()
    register_testing_routes(testing)
    return AsgiApp(
        build_router(),
        ctx,
        prefix=API_PREFIX,
        hook=ctx.faults,
        extra_routers={TESTING_PREFIX: testing},
    )
