"""WebSocket streams (contract §5.6) over trio-websocket: ``client.ws.stream_ticks`` and friends.

``client.ws`` has the three sockets under the names of their SSE twins (and of the official
SDK's ``WorkerWebSocketClient``): ``stream_ticks``, ``stream_candles``, ``stream_run_pnl``. Each
returns an async context manager that yields a :class:`WebSocketStream`, an async iterator of
the same payloads (:class:`~._models.Doc`) as the SSE stream of that name: a snapshot first,
then ``ticks`` / ``candle`` / P&L payloads. Entering waits for the first payload, so a refusal
raises there, as an SSE stream's status does: close code 4401 → ``AuthError``, 4403 →
``PermissionDeniedError``, 4404 → ``NotFoundError``, 4400 → ``BrokerValidationError``. An
``error`` event raises ``StreamError``, ``end`` ends the iteration, ``heartbeat`` is skipped.

Liveness: the market sockets send nothing while the market is quiet (§5.6 has no keep-alive
for them), so after ``idle_timeout`` without a message the stream pings; without a pong within
``ping_timeout`` it fails with ``StreamIdleTimeout``.

Reconnect and resume: with ``reconnect=Backoff(...)`` a failure that ``classify_error`` calls
transient (the connection dropped or went quiet, a 5xx or 429, an in-band upstream ``error``)
reconnects to the same socket after ``reconnect.next_delay()`` (or the server's Retry-After,
if longer). These streams have no cursor: the server's first message on the new socket is a
whole snapshot, the resume point (the P&L socket's first cycle always sends), and
``statistics().reconnects`` counts the resumptions. A delivered payload resets the backoff;
``max_attempts`` consecutive failures (None: never give up) raise the last error. Refusals
(4xx close codes) and a tick stream naming no known instrument are raised at once. Without
``reconnect`` every failure is raised, as on an SSE stream.

Structure: the context manager owns a nursery with one pump task. The pump enters and leaves
each connection (trio-websocket's ``open_websocket_url``) within itself and hands payloads over
a zero-capacity channel, so a slow reader slows the socket (TCP backpressure) and nothing queues
here; the pump never raises, it hands a failure to the reader as the next item. The URL holds
the token (§2.1) and never leaves this module: errors name the path template.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import msgspec
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError, open_websocket_url

from ._backoff import Backoff
from ._endpoints_market import instrument_param, split_instruments
from ._errors import ErrorClass, StreamIdleTimeout, TransportError, classify_error, retry_after_hint
from ._models import to_doc
from ._ws_messages import WsEnd, close_error, handshake_error, interpret, ws_url

if TYPE_CHECKING:
    from ._config import AlgoWorkerConfig

__all__ = ["AsyncWebSocketStreams", "WebSocketStream", "WebSocketStreamStatistics", "open_websocket_stream"]

DEFAULT_PING_TIMEOUT = 10.0
MAX_MESSAGE_SIZE = 1 << 20  # bytes, as the SSE decoder's line bound; a larger message closes 1009
_RECEIVE_BUFFER = 1 << 16  # trio-websocket reads 4 KiB at a time by default; a tick batch is larger
# The wait for the peer's close frame when leaving a socket: a peer that went quiet never sends
# it, and waiting the connect timeout for it would only delay the reconnect.
DISCONNECT_TIMEOUT = 1.0


class WebSocketStreamStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A stream's state now: ``connected``, ``reconnects`` (resumptions: connections that
    delivered after a failure; refused attempts do not count), ``messages`` (payloads
    delivered) and ``last_error`` (the last failure's type, or None)."""

    connected: bool
    reconnects: int
    messages: int
    last_error: str | None


class _Failure:
    """A failure handed from the pump to the reader."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Pump:
    """Holds the socket(s) of one stream and hands their payloads over (module docstring)."""

    def __init__(
        self,
        url: str,
        route: str,
        *,
        secrets: Sequence[str],
        idle_timeout: float,
        ping_timeout: float,
        connect_timeout: float,
        shape: Callable[[Any], Any] | None,
        reconnect: Backoff | None,
        max_attempts: int | None,
    ) -> None:
        self._url = url
        self.route = route
        self._secrets = tuple(secrets)
        self._idle = idle_timeout
        self._ping_timeout = ping_timeout
        self._connect_timeout = connect_timeout
        self._shape = shape
        self._reconnect = reconnect
        self._max_attempts = max_attempts
        self.connected = False
        self.reconnects = 0  # connections that delivered, after the first one that did
        self.messages = 0
        self.last_error: str | None = None
        self._fresh = False  # connected, nothing delivered on this connection yet

    def __repr__(self) -> str:  # never the URL: it holds the token
        return f"_Pump({self.route})"

    async def run(
        self, send: trio.MemorySendChannel[Any], *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver payloads until ``end`` or a failure not retried; ``task_status.started`` gets
        None once the first payload is due, or the failure that came before it."""
        started = False
        failures = 0

        async def deliver(payload: Any) -> None:
            nonlocal started, failures
            failures = 0
            if self._reconnect is not None:
                self._reconnect.reset()
            if not started:
                started = True
                task_status.started(None)
            elif self._fresh:
                self.reconnects += 1
            self._fresh = False
            self.messages += 1
            await send.send(payload)

        async with send:
            while True:
                try:
                    await self._session(deliver)
                    return  # ``end``: closing the channel ends the reader's iteration
                except Exception as exc:  # isolation boundary: handed to the reader, never swallowed
                    self.last_error = type(exc).__name__
                    failures += 1
                    exhausted = self._max_attempts is not None and failures >= self._max_attempts
                    transient = classify_error(exc) is ErrorClass.TRANSIENT
                    if self._reconnect is None or exhausted or not transient:
                        if started:
                            await send.send(_Failure(exc))
                        else:
                            task_status.started(exc)
                        return
                    await trio.sleep(max(self._reconnect.next_delay(), retry_after_hint(exc) or 0.0))

    async def _session(self, deliver: Callable[[Any], Awaitable[None]]) -> None:
        """One connection, until ``end``; raises the client error tree, mapped here, once (the
        foreign exceptions chained carry no URL, so never the token)."""
        try:
            async with open_websocket_url(
                self._url,
                max_message_size=MAX_MESSAGE_SIZE,
                receive_buffer_size=_RECEIVE_BUFFER,
                connect_timeout=self._connect_timeout,
                disconnect_timeout=DISCONNECT_TIMEOUT,
            ) as connection:
                self.connected = True
                self._fresh = True
                while True:
                    result = interpret(
                        await self._next_message(connection), route=self.route, secrets=self._secrets
                    )
                    if isinstance(result, WsEnd):
                        return
                    if result is not None:
                        payload = to_doc(result.payload)
                        await deliver(self._shape(payload) if self._shape is not None else payload)
        except ConnectionClosed as exc:
            reason = exc.reason
            code = reason.code if reason is not None else None
            text = reason.reason if reason is not None else None
            raise close_error(code, text, route=self.route, secrets=self._secrets) from exc
        except ConnectionRejected as exc:
            raise handshake_error(exc.status_code, exc.body, route=self.route, secrets=self._secrets) from exc
        except (HandshakeError, OSError) as exc:
            raise TransportError(f"websocket {self.route}: cannot connect ({type(exc).__name__})") from exc
        finally:
            self.connected = False

    async def _next_message(self, connection: Any) -> str | bytes:
        while True:
            with trio.move_on_after(self._idle):
                message: str | bytes = await connection.get_message()
                return message
            with trio.move_on_after(self._ping_timeout) as ping:  # quiet: is the peer still there?
                await connection.ping()
            if ping.cancelled_caught:
                raise StreamIdleTimeout(
                    f"websocket {self.route}: no message for {self._idle:g} s and no pong "
                    f"within {self._ping_timeout:g} s"
                )


class WebSocketStream:
    """Async iterator over one socket's payloads. ``__anext__`` blocks until a payload arrives
    and raises the stream's failure (see the module docstring); never yields after ``end``."""

    def __init__(self, receive: trio.MemoryReceiveChannel[Any], pump: _Pump) -> None:
        self._receive = receive
        self._pump = pump

    def __repr__(self) -> str:
        return f"WebSocketStream({self._pump.route})"

    def __aiter__(self) -> WebSocketStream:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self._receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
        if isinstance(item, _Failure):
            raise item.error
        return item

    def statistics(self) -> WebSocketStreamStatistics:
        """The stream's counters now; never blocks."""
        pump = self._pump
        return WebSocketStreamStatistics(
            connected=pump.connected,
            reconnects=pump.reconnects,
            messages=pump.messages,
            last_error=pump.last_error,
        )


def _reraise_alone(group: BaseExceptionGroup[Any]) -> NoReturn:
    """Raise the one exception of ``group`` itself (the body's: the pump never raises), keeping
    its own cause and context; a group of several is raised as it is."""
    if len(group.exceptions) != 1:
        raise group
    exc = group.exceptions[0]
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context


@asynccontextmanager
async def open_websocket_stream(
    url: str,
    route: str,
    *,
    secrets: Sequence[str] = (),
    idle_timeout: float,
    ping_timeout: float = DEFAULT_PING_TIMEOUT,
    connect_timeout: float = 10.0,
    shape: Callable[[Any], Any] | None = None,
    reconnect: Backoff | None = None,
    max_attempts: int | None = None,
) -> AsyncIterator[WebSocketStream]:
    """Connect to ``url`` (its path template is ``route``) and yield its payload iterator once the
    first payload is due; raises the failure that came first instead."""
    pump = _Pump(
        url,
        route,
        secrets=secrets,
        idle_timeout=idle_timeout,
        ping_timeout=ping_timeout,
        connect_timeout=connect_timeout,
        shape=shape,
        reconnect=reconnect,
        max_attempts=max_attempts,
    )
    send, receive = trio.open_memory_channel[Any](0)
    try:
        async with trio.open_nursery() as nursery:
            first_failure = await nursery.start(pump.run, send)
            try:
                if first_failure is not None:
                    raise first_failure
                yield WebSocketStream(receive, pump)
            finally:
                nursery.cancel_scope.cancel()
                receive.close()
    except BaseExceptionGroup as group:
        _reraise_alone(group)


class AsyncWebSocketStreams:
    """The §5.6 sockets of one client (``client.ws``); each call returns an async context
    manager (see the module docstring). Never blocks until entered."""

    def __init__(
        self, config: AlgoWorkerConfig, *, idle_timeout: float, shape_candle: Callable[[Any], Any]
    ) -> None:
        self._config = config
        self._idle = idle_timeout
        self._shape_candle = shape_candle

    def __repr__(self) -> str:
        return f"AsyncWebSocketStreams(base_url={self._config.base_url!r})"

    def _open(
        self,
        path: str,
        route: str,
        params: dict[str, Any],
        *,
        shape: Callable[[Any], Any] | None = None,
        reconnect: Backoff | None,
        max_attempts: int | None,
    ) -> AbstractAsyncContextManager[WebSocketStream]:
        token = self._config.token.get_secret_value()
        url = ws_url(self._config.base_url, self._config.api_prefix, path, {"token": token, **params})
        return open_websocket_stream(
            url,
            route,
            secrets=(token,),
            idle_timeout=self._idle,
            connect_timeout=self._config.timeout,
            shape=shape,
            reconnect=reconnect,
            max_attempts=max_attempts,
        )

    def stream_ticks(
        self,
        instruments: Sequence[str | int],
        mode: str = "quote",
        *,
        reconnect: Backoff | None = None,
        max_attempts: int | None = None,
    ) -> AbstractAsyncContextManager[WebSocketStream]:
        """Quotes of ``instruments`` (symbols, or tokens as ints or digit strings): the snapshot
        ``{"quotes", "missing"}``, then ``{"ticks": [...]}`` batches (``market:stream``)."""
        symbols, tokens = split_instruments(instruments)
        params = {"symbols": ",".join(symbols), "tokens": ",".join(map(str, tokens)), "mode": mode}
        route = "/worker/ws/market/ticks"
        return self._open(route, route, params, reconnect=reconnect, max_attempts=max_attempts)

    def stream_candles(
        self,
        instrument: str | int,
        interval: str = "5minute",
        *,
        reconnect: Backoff | None = None,
        max_attempts: int | None = None,
    ) -> AbstractAsyncContextManager[WebSocketStream]:
        """Candles of ``instrument``: the snapshot (``candles`` + ``current``), then one event per
        update whose ``candle`` is also offered as ``current``, as on the SSE stream."""
        params = {"interval": interval, **instrument_param(instrument)}
        route = "/worker/ws/market/candles"
        return self._open(
            route, route, params, shape=self._shape_candle, reconnect=reconnect, max_attempts=max_attempts
        )

    def stream_run_pnl(
        self,
        run_id: str,
        interval_seconds: float = 1.0,
        *,
        reconnect: Backoff | None = None,
        max_attempts: int | None = None,
    ) -> AbstractAsyncContextManager[WebSocketStream]:
        """The run's P&L snapshot whenever it changed (``runs:read``); ends when the run is gone."""
        path = f"/worker/ws/runs/{run_id}/pnl"
        params = {"interval_seconds": interval_seconds}
        route = "/worker/ws/runs/{run_id}/pnl"
        return self._open(path, route, params, reconnect=reconnect, max_attempts=max_attempts)
