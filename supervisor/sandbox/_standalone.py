"""``kite-supervisor sandbox``: serve the sandbox standalone until SIGTERM/SIGINT.

Prints the base URL on the first line of stdout (``--port 0`` picks a free port), and, only when
the token was generated here (no ``--token`` and no ``$KITE_ALGO_WORKER_TOKEN``), a second line
``KITE_ALGO_WORKER_TOKEN=<token>`` so that the operator can use it. The token never goes to logs.

By default it serves on trio (the same ``serve_sandbox`` as tests and the daemon's embedded
mode). ``--asyncio`` serves the same ASGI application with hypercorn's asyncio worker on uvloop,
with the background loops run through anyio.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from functools import partial
from typing import Any

log = logging.getLogger("supervisor.sandbox")


def _announce(base_url: str, token: str, generated: bool) -> None:
    print(base_url, flush=True)
    if generated:
        print(f"KITE_ALGO_WORKER_TOKEN={token}", flush=True)


def _token(args: argparse.Namespace) -> tuple[str, bool]:
    from ._auth import new_token

    token = args.token or os.environ.get("KITE_ALGO_WORKER_TOKEN")
    if token:
        return token, False
    return new_token(), True


async def _serve_trio(args: argparse.Namespace, token: str, generated: bool) -> None:
    import trio

    from ._server import SandboxHandle, serve_sandbox

    async with trio.open_nursery() as nursery:
        handle: SandboxHandle = await nursery.start(
            partial(
                serve_sandbox,
                host=args.host,
                port=args.port,
                token=token,
                db_path=args.db,
                seed=args.seed,
                tick_interval=args.tick_interval,
                market_hours=args.market_hours,
                tick_phases=args.tick_phases,
                account_scope=args.account_scope,
                epoch=args.epoch,
            )
        )
        _announce(handle.base_url, token, generated)
        log.info("sandbox serving on %s", handle.base_url)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("sandbox stopping on signal %s", signal.Signals(signum).name)
                break
        nursery.cancel_scope.cancel()


async def _serve_asyncio(args: argparse.Namespace, token: str, generated: bool) -> None:
    import asyncio

    import anyio
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from ._app import build_app
    from ._server import _loop_steps, _make_context

    ctx, store = _make_context(
        token=token,
        db_path=args.db,
        seed=args.seed,
        market_hours=args.market_hours,
        epoch=args.epoch,
        tick_phases=args.tick_phases,
        account_scope=args.account_scope,
    )
    # Bind first so that --port 0 can report the chosen port; hypercorn serves the fd.
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)  # accept connections as soon as the URL is printed
    sock.set_inheritable(True)
    host, port = sock.getsockname()[:2]
    config = Config()
    # hypercorn takes ownership of the descriptor (and closes it on shutdown)
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # our logging, not a second handler
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def every(interval: float, step: Any) -> None:
        deadline = anyio.current_time() + interval
        while True:
            await anyio.sleep_until(deadline)
            deadline += interval
            try:
                step()
            except Exception:
                log.exception("sandbox background loop failed")

    steps = _loop_steps(ctx, args.tick_interval)
    # Plain asyncio tasks: hypercorn's asyncio worker does its own task juggling on shutdown.
    tasks = [asyncio.create_task(every(interval, step)) for interval, step in steps]
    try:
        app: Any = build_app(ctx)
        base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        _announce(base, token, generated)
        # hypercorn drains gracefully once `stop` is set; only then stop the loops
        await serve(app, config, shutdown_trigger=stop.wait)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if store is not None:
            store.close()


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code (0 on a clean stop). Blocks."""
    import datetime as dt

    from ._auth import parse_scope

    # checked before anything starts (inside, a nursery would wrap the error in a group)
    try:
        args.account_scope, _ = parse_scope(args.account_scope)
    except ValueError as exc:
        print(f"kite-supervisor sandbox: --account-scope: {exc}", file=sys.stderr)
        return 2
    raw_epoch = getattr(args, "epoch", None)
    try:
        args.epoch = dt.datetime.fromisoformat(raw_epoch) if raw_epoch else None
    except ValueError:
        args.epoch = None
    if raw_epoch and (args.epoch is None or args.epoch.tzinfo is None):
        print(
            f"kite-supervisor sandbox: --epoch must be ISO-8601 with an offset: {raw_epoch!r}",
            file=sys.stderr,
        )
        return 2
    token, generated = _token(args)
    try:
        if getattr(args, "asyncio", False):
            import asyncio

            try:
                import uvloop

                runner: Any = uvloop.run
            except ImportError:  # pragma: no cover - uvloop is a dependency
                runner = asyncio.run
            runner(_serve_asyncio(args, token, generated))
        else:
            import trio

            trio.run(_serve_trio, args, token, generated)
    except OSError as exc:
        print(f"kite-supervisor sandbox: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0
