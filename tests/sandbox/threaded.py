"""Run a sandbox in a background thread's own ``trio.run`` (for the synchronous official SDK).

The official SDK blocks on ``requests``; it cannot share the test's trio run. This helper is the
one place tests use a thread, and it owns it for the ``with`` block only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import trio

from supervisor.sandbox import SandboxHandle, serve_sandbox


@contextmanager
def sandbox_thread(**kwargs: Any) -> Iterator[SandboxHandle]:
    """A real sandbox on 127.0.0.1:<free port> for the duration of the block (real time)."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            box["handle"] = await nursery.start(partial(serve_sandbox, **kwargs))
            box["scope"] = nursery.cancel_scope
            box["trio_token"] = trio.lowlevel.current_trio_token()
            ready.set()

    def target() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # surfaced to the test below
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=target, name="sandbox", daemon=True)
    thread.start()
    if not ready.wait(20):
        raise TimeoutError("sandbox did not start")
    if "error" in box:
        raise RuntimeError("sandbox failed to start") from box["error"]
    try:
        yield box["handle"]
    finally:
        trio.from_thread.run_sync(box["scope"].cancel, trio_token=box["trio_token"])
        thread.join(20)
