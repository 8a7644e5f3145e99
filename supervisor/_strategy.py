"""The plugin API: :class:`Strategy` and the :class:`StrategyContext` each run receives.

A strategy is task-shaped: the daemon calls ``await strategy.run(ctx)`` and the strategy decides
everything (invariant 1: the daemon never trades for it). ``run`` returning ends the strategy
(its session is then released); raising is a crash (restart with backoff, then quarantine);
``ctx.stopping`` is set on shutdown, after which the strategy has ``shutdown_grace_s`` to return
before it is cancelled.

A strategy shares the daemon's one trio thread. Anything that computes for long without an
``await`` (a busy loop, a heavy synchronous indicator pass) delays *every* strategy and every
heartbeat: push heavy work to ``trio.to_thread.run_sync`` or a process, and yield with
``await trio.sleep(0)`` inside long loops. The per-strategy loop busy time is exported as a
metric so that an offender is visible.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal

import trio
from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar

from .client import CandleInterval, CandleIntervalAlias, Doc, check_interval
from .hub import Candle, PnlUpdate, StreamResumed, Tick, TimelineEvent
from .hub._models import decode_candles, decode_pnl, decode_ticks, decode_timeline

if TYPE_CHECKING:
    from ._strategy_run import StrategyRun
    from .client import AsyncKiteAlgoWorkerClient
    from .hub import StreamHub

__all__ = ["NoParams", "ParamsT", "Progress", "Strategy", "StrategyContext", "TickMode"]

TickMode = Literal["ltp", "quote", "full"]  # contract §4.13: what each quote carries

# The type of ``ctx.params``: a strategy declared ``Strategy[MyParams]`` reads ``ctx.params`` as
# ``MyParams`` when its ``run`` takes ``StrategyContext[MyParams]``; a bare ``Strategy`` or
# ``StrategyContext`` (the default) leaves it ``Any``, as before, so older plugins still check.
ParamsT = TypeVar("ParamsT", bound=BaseModel, default=Any)

_MAX_PROGRESS_KEYS = 32  # progress metrics travel in every heartbeat; keep them small


class NoParams(BaseModel):
    """The parameters of a strategy that takes none (unknown keys are still errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy(Generic[ParamsT]):
    """Base class of strategy plugins.

    Subclasses set ``Params`` to a pydantic model (``extra="forbid"`` recommended; the daemon
    validates the YAML ``params`` with it) and implement ``async def run(self, ctx)``. Declared
    ``class Mine(Strategy[MineParams])`` with ``run(self, ctx: StrategyContext[MineParams])``,
    ``ctx.params`` is typed (mypy, an IDE). A fresh instance is created for every (re)start of
    the strategy body.
    """

    Params: ClassVar[type[BaseModel]] = NoParams

    async def run(self, ctx: StrategyContext[ParamsT]) -> None:
        """Drive the strategy until it is done or ``ctx.stopping`` is set. May block forever."""
        raise NotImplementedError


@dataclass
class Progress:
    """The strategy's own liveness signal (``ctx.progress``), read by the heartbeat task and
    the runner's progress deadline. Only the strategy records it: the daemon never does."""

    last_at: float | None = None  # trio time of the last ctx.progress() call
    count: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    _changed: trio.Event = field(default_factory=trio.Event, repr=False)

    def record(self, now: float, metrics: Mapping[str, Any]) -> None:
        self.last_at = now
        self.count += 1
        for key, value in metrics.items():
            if key in self.metrics or len(self.metrics) < _MAX_PROGRESS_KEYS:
                self.metrics[key] = value
        self._changed.set()

    def changed(self) -> trio.Event:
        """An event set by the next :meth:`record` (or :meth:`wake`). Never blocks."""
        if self._changed.is_set():
            self._changed = trio.Event()
        return self._changed

    def wake(self) -> None:
        """Wake :meth:`changed` waiters without recording progress (a new body started)."""
        self._changed.set()


IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")  # the market's zone (no DST)


class StrategyContext(Generic[ParamsT]):
    """Everything a strategy gets from the daemon. Created by the daemon, never by plugins.

    Attributes: ``name``, ``params`` (the validated ``Params`` instance, of type ``MyParams`` in a
    ``run(self, ctx: StrategyContext[MyParams])``), ``run`` (:class:`~supervisor.StrategyRun`: the
    run bound to our session, typed keyword methods that forward the nonce), ``recovered`` (the
    run existed before this start), ``client`` (the daemon's shared
    :class:`~supervisor.client.AsyncKiteAlgoWorkerClient`), ``log`` (bound to strategy and run
    id) and ``stopping`` (a :class:`trio.Event` set on shutdown). ``docs/guide.md`` is the
    author's guide to all of it.
    """

    def __init__(
        self,
        *,
        name: str,
        params: ParamsT,
        run: StrategyRun,
        recovered: bool,
        client: AsyncKiteAlgoWorkerClient,
        stopping: trio.Event,
        progress: Progress,
        hub: StreamHub | None = None,
        logger: logging.Logger | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._wall_clock = wall_clock
        self.params: ParamsT = params
        self.run = run
        self.recovered = recovered
        self.client = client
        self.stopping = stopping
        self._progress = progress
        self._hub = hub
        self.log = logging.LoggerAdapter(
            logger or logging.getLogger("supervisor.strategy"), {"strategy": name, "run_id": run.run_id}
        )

    def __repr__(self) -> str:
        return f"StrategyContext(name={self.name!r}, run_id={self.run.run_id!r}, recovered={self.recovered})"

    def now(self) -> dt.datetime:
        """The current time, aware, in IST (the market's zone), from the daemon's clock: the
        machine's live, the replayed market's in a backtest. Use it rather than
        ``datetime.now()`` (which a backtest cannot move) for anything that depends on the time
        of day: a cut-off before the close, a candle's age. Never blocks."""
        return dt.datetime.fromtimestamp(self._wall_clock(), tz=IST)

    def key(self, *parts: object) -> str:
        """A deterministic idempotency key ``"{run_id}:{part}:{part}..."`` (invariant 5).

        Use the same parts for the same decision so that a retry after a crash or restart is
        deduplicated by the backend. Never blocks.
        """
        if not parts:
            raise ValueError("key() needs at least one part naming the decision")
        return ":".join([self.run.run_id, *(str(p) for p in parts)])

    def progress(self, **metrics: Any) -> None:
        """Record that the strategy is alive and making progress; ``metrics`` (JSON values,
        at most 32 keys) go out with the next run heartbeat. Never blocks."""
        self._progress.record(trio.current_time(), metrics)

    async def warmup_history(
        self,
        symbol: str | int,
        *,
        timeframe: CandleInterval | CandleIntervalAlias = "5minute",
        min_candles: int = 200,
        attempts: int = 10,
        retry_s: float = 1.0,
        lookback_days: int | None = None,
    ) -> Doc:
        """Historical candles (``doc["candles"]``, oldest first) for warming indicators up,
        retried until ``min_candles`` exist.

        Blocks for up to ``attempts * retry_s`` seconds plus the requests; returns the last
        response (possibly shorter than asked). Raises ``ClientValidationError`` for an unknown
        ``timeframe`` before any request, else the client's errors.
        """
        check_interval(timeframe, rule="timeframe")
        last: Doc = Doc()
        for attempt in range(attempts):
            last = await self.client.get_historical_candles(
                symbol, timeframe=timeframe, lookback_days=lookback_days
            )
            if len(last.get("candles") or ()) >= min_candles:
                return last
            if attempt + 1 < attempts:
                await trio.sleep(retry_s)
        return last

    # -- stream subscriptions: through the hub when the daemon runs one, else direct --------
    # Prefer these to ``ctx.client.stream_*``: the hub streams on its own connections, while
    # a stream opened on ``ctx.client`` holds one of the connections every heartbeat needs.
    # Either way the items are the hub's typed records, and entering never blocks on the
    # network (the hub connects in its own task; without a hub the stream opens on the first
    # read). A reconnect after a gap is marked by a ``StreamResumed`` item (hub only).
    def ticks(
        self, instruments: Sequence[str | int], mode: TickMode = "quote"
    ) -> AbstractAsyncContextManager[AsyncIterator[Tick | StreamResumed]]:
        """Live ticks: ``async with ctx.ticks(["NSE:INFY"]) as ticks: async for tick in ticks``.

        Instruments are ``"EXCHANGE:SYMBOL"``, a bare NSE symbol (``"INFY"``) or an instrument
        token (an ``int``). Items are :class:`~supervisor.hub.Tick` and, after a reconnect,
        :class:`~supervisor.hub.StreamResumed`. Reading raises the topic's permanent error (an
        unknown instrument: ``NotFoundError``...) or ``SubscriberLagged`` when far behind."""
        if self._hub is not None:
            return self._hub.ticks(list(instruments), mode, subscriber=self.name)
        return _decoded(self.client.stream_ticks(list(instruments), mode=mode), decode_ticks)

    def candles(
        self, symbol: str | int, interval: CandleInterval | CandleIntervalAlias
    ) -> AbstractAsyncContextManager[AsyncIterator[Candle | StreamResumed]]:
        """Live candles of ``symbol`` at ``interval`` (``"minute"``, ``"5minute"``, ... see
        ``supervisor.client.CANDLE_INTERVALS``): first the current bar, then every update of the
        forming bar (``is_complete`` false) and each completed one. Raises
        ``ClientValidationError`` at once for an unknown interval (before any request)."""
        check_interval(interval)
        if self._hub is not None:
            return self._hub.candles(symbol, interval, subscriber=self.name)
        return _decoded(self.client.stream_candles(symbol, interval=interval), decode_candles)

    def pnl(
        self, interval_seconds: float = 1.0
    ) -> AbstractAsyncContextManager[AsyncIterator[PnlUpdate | StreamResumed]]:
        """This run's P&L snapshots (sent when they change; ``interval_seconds`` 0.25..5)."""
        if self._hub is not None:
            return self._hub.pnl(self.run.run_id, interval_seconds=interval_seconds, subscriber=self.name)
        return _decoded(
            self.client.stream_run_pnl(self.run.run_id, interval_seconds=interval_seconds), decode_pnl
        )

    def timeline(
        self, after_cursor: int = 0
    ) -> AbstractAsyncContextManager[AsyncIterator[TimelineEvent | StreamResumed]]:
        """This run's timeline events after ``after_cursor``."""
        if self._hub is not None:
            return self._hub.timeline(self.run.run_id, after_cursor=after_cursor, subscriber=self.name)
        return _decoded(
            self.client.stream_timeline(self.run.run_id, after_cursor=after_cursor), decode_timeline
        )


@asynccontextmanager
async def _decoded(
    stream: AbstractAsyncContextManager[AsyncIterator[Any]], decode: Callable[[Any], list[tuple[Any, Any]]]
) -> AsyncIterator[AsyncIterator[Any]]:
    """A client stream (raw payloads) as the hub's typed records, for a context without a hub."""

    async def records(payloads: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for payload in payloads:
            for record, _key in decode(payload):
                yield record

    async with stream as payloads:
        yield records(payloads)
