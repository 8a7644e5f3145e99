"""The blocking client, derived from the async one (never a hand-written twin).

:class:`KiteAlgoWorkerClient` starts one background thread running one trio event loop that
owns an :class:`AsyncKiteAlgoWorkerClient` and a nursery; the trio token is the portal
(``trio.from_thread``). Every public coroutine method of the async client (and of its options
namespace and managed run) is exposed as a blocking method with the same signature and
errors. Streams become blocking iterators (and context managers) fed by a task in that
nursery through a one-slot channel; ``with client.run(config) as run`` holds the async
managed-run context in a task until the ``with`` block ends. This is the one thread the
project allows (style rule 1); ``close()`` stops it.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager, suppress
from typing import Any

import httpx
import trio

from ._async_client import AsyncKiteAlgoWorkerClient
from ._config import AlgoWorkerConfig
from ._errors import TransportError
from ._managed import AsyncManagedRun

__all__ = ["KiteAlgoWorkerClient", "ManagedRun", "SyncStream"]

_STARTUP_S = 30.0


class _Portal:
    """Runs coroutines on the background trio loop from the caller's thread."""

    def __init__(self, token: trio.lowlevel.TrioToken, nursery: trio.Nursery) -> None:
        self.token = token
        self.nursery = nursery

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return trio.from_thread.run(functools.partial(fn, *args, **kwargs), trio_token=self.token)

    def call_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return trio.from_thread.run_sync(fn, *args, trio_token=self.token)


class SyncStream:
    """A blocking iterator over an async stream; usable directly in ``for`` or as
    ``with ... as events``. ``next()`` blocks and raises the async stream's errors."""

    def __init__(self, portal: _Portal, opener: Callable[[], Any]) -> None:
        self._portal = portal
        self._opener = opener
        self._receive: trio.MemoryReceiveChannel[tuple[str, Any]] | None = None
        self._scope: trio.CancelScope | None = None
        self._done = False

    async def _pump(self, send: trio.MemorySendChannel[tuple[str, Any]], *, task_status: Any) -> None:
        with trio.CancelScope() as scope:
            self._scope = scope
            async with send:
                source = self._opener()
                try:
                    if isinstance(source, AbstractAsyncContextManager):
                        async with source as events:
                            task_status.started()
                            async for event in events:
                                await send.send(("event", event))
                    else:
                        task_status.started()
                        async for event in source:
                            await send.send(("event", event))
                except Exception as exc:  # handed to the consuming thread, never swallowed
                    await send.send(("error", exc))
                else:
                    await send.send(("end", None))

    def _start(self) -> None:
        if self._receive is not None:
            return
        send, receive = trio.open_memory_channel[tuple[str, Any]](1)
        self._receive = receive

        async def start() -> None:
            await self._portal.nursery.start(self._pump, send)

        self._portal.call(start)

    def __enter__(self) -> SyncStream:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> SyncStream:
        self._start()
        return self

    def __next__(self) -> Any:
        self._start()
        if self._done or self._receive is None:
            raise StopIteration
        try:
            kind, value = self._portal.call(self._receive.receive)
        except trio.EndOfChannel:
            kind, value = "end", None
        if kind == "event":
            return value
        self._done = True
        self.close()
        if kind == "error":
            raise value
        raise StopIteration

    def __del__(self) -> None:
        # A `for ... : break` without `with` must not keep the HTTP stream open for the
        # client's lifetime.
        with suppress(Exception):
            self.close()

    def close(self) -> None:
        """Stop the pumping task (closes the HTTP stream). Never raises."""
        scope = self._scope
        if scope is not None:
            with suppress(RuntimeError):  # the loop is already gone
                self._portal.call_sync(scope.cancel)
            self._scope = None


class _BlockingProxy:
    """Wraps an async object: coroutine methods become blocking calls through the portal."""

    def __init__(self, portal: _Portal, target: Any) -> None:
        self._portal = portal
        self._target = target

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._target, name)
        if inspect.iscoroutinefunction(attr):
            return _blocking(self._portal, attr, self._result)
        if name.startswith("stream_") or name.startswith("follow_"):
            return functools.wraps(attr)(
                lambda *a, **k: SyncStream(self._portal, functools.partial(attr, *a, **k))
            )
        return attr

    def _result(self, value: Any) -> Any:
        """What a blocking call hands back for the async call's result (hook for subclasses)."""
        return value


def _blocking(portal: _Portal, fn: Callable[..., Any], result: Callable[[Any], Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return result(portal.call(fn, *args, **kwargs))

    return call


class ManagedRun(_BlockingProxy):
    """Blocking view of :class:`AsyncManagedRun` (``run_id``, ``session_nonce``, ``run``);
    ``client`` is the blocking client that opened it."""

    def __init__(self, portal: _Portal, target: Any, client: KiteAlgoWorkerClient) -> None:
        super().__init__(portal, target)
        self.client = client


class KiteAlgoWorkerClient(_BlockingProxy):
    """Blocking worker client: every method of :class:`AsyncKiteAlgoWorkerClient`, blocking.

    Starting it starts the background loop thread (raises ``TransportError`` if it cannot).
    Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        config: AlgoWorkerConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
        stream_idle_timeout: float | None = None,
    ) -> None:
        extra: dict[str, Any] = (
            {} if stream_idle_timeout is None else {"stream_idle_timeout": stream_idle_timeout}
        )
        self._aclient = AsyncKiteAlgoWorkerClient(config, transport=transport, environ=environ, **extra)
        self._ready = threading.Event()
        self._box: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._main, name="kite-algo-client", daemon=True)
        self._thread.start()
        if not self._ready.wait(_STARTUP_S) or "error" in self._box:
            raise TransportError("the client's event loop did not start") from self._box.get("error")
        super().__init__(self._box["portal"], self._aclient)
        self.config = config

    def _main(self) -> None:
        async def main() -> None:
            async with self._aclient, trio.open_nursery() as nursery:
                stop = trio.Event()
                self._box["stop"] = stop
                self._box["portal"] = _Portal(trio.lowlevel.current_trio_token(), nursery)
                self._ready.set()
                await stop.wait()
                nursery.cancel_scope.cancel()

        try:
            trio.run(main)
        except BaseException as exc:  # reported to the constructing thread
            self._box["error"] = exc
            self._ready.set()

    def __repr__(self) -> str:
        return f"KiteAlgoWorkerClient(base_url={self.config.base_url!r})"

    def _result(self, value: Any) -> Any:
        # attach_run's managed run, blocking like the one `run()` yields
        return ManagedRun(self._portal, value, self) if isinstance(value, AsyncManagedRun) else value

    def __enter__(self) -> KiteAlgoWorkerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the background loop and join its thread. Idempotent; blocks briefly."""
        stop = self._box.get("stop")
        if stop is not None and self._thread.is_alive():
            with suppress(RuntimeError):
                self._portal.call_sync(stop.set)
        self._thread.join(_STARTUP_S)

    @property
    def options(self) -> Any:
        """The options namespace, blocking."""
        return _BlockingProxy(self._portal, self._aclient.options)

    @contextmanager
    def run(
        self,
        config: Any,
        *,
        claim_session: bool = True,
        heartbeat_on_enter: bool = True,
        release_on_exit: bool = True,
    ) -> Iterator[ManagedRun]:
        """Blocking ``client.run(config)``: claim, heartbeat, yield, release."""
        box: dict[str, Any] = {}
        done = trio.Event()

        async def hold(*, task_status: Any) -> None:
            cm = self._aclient.run(
                config,
                claim_session=claim_session,
                heartbeat_on_enter=heartbeat_on_enter,
                release_on_exit=release_on_exit,
            )
            async with cm as managed:
                task_status.started(managed)
                await done.wait()

        async def enter() -> Any:
            async def runner() -> None:
                try:
                    await hold(task_status=_Started(box))
                except Exception as exc:
                    box["error"] = exc
                finally:
                    box["started"].set()  # wake enter() even when claiming failed
                    box["finished"].set()

            box["finished"] = trio.Event()
            box["started"] = trio.Event()
            self._portal.nursery.start_soon(runner)
            await box["started"].wait()
            if "error" in box:
                raise box["error"]
            return box["managed"]

        async def leave() -> None:
            done.set()
            await box["finished"].wait()

        managed = self._portal.call(enter)
        try:
            yield ManagedRun(self._portal, managed, self)
        except BaseException:
            self._portal.call(leave)  # a release failure must not mask the body's error
            raise
        self._portal.call(leave)
        if "error" in box:
            raise box["error"]


class _Started:
    """A task_status stand-in: the runner reports the managed run, or its failure."""

    def __init__(self, box: dict[str, Any]) -> None:
        self._box = box

    def started(self, value: Any = None) -> None:
        self._box["managed"] = value
        self._box["started"].set()
