"""Polling helpers for warm-up and recovery (seed "Recovery helpers").

Each helper is written once, async, against :class:`AsyncKiteAlgoWorkerClient`; given the
blocking :class:`KiteAlgoWorkerClient` it runs the same coroutine through that client's
portal and blocks. Time is trio's (``trio.sleep`` between attempts), so tests use virtual
time. When the condition never holds they raise ``KiteAlgoWorkerError`` naming the helper;
request errors propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import trio

from ._async_client import AsyncKiteAlgoWorkerClient
from ._errors import KiteAlgoWorkerError
from ._sync import KiteAlgoWorkerClient

__all__ = [
    "TERMINAL_ORDER_STATES",
    "preview_then_place_order",
    "wait_for_fresh_candle",
    "wait_for_history",
    "wait_for_quotes",
    "wait_for_terminal_order_state",
    "warmup_history",
]

TERMINAL_ORDER_STATES = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})


def _dispatch(client: Any, helper: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """Blocking for the sync client, a coroutine for the async one."""
    if isinstance(client, KiteAlgoWorkerClient):
        return client._portal.call(helper, client._aclient, *args, **kwargs)
    return helper(client, *args, **kwargs)


async def _poll(
    name: str,
    attempts: int,
    sleep_seconds: float,
    fetch: Callable[[], Awaitable[Any]],
    ok: Callable[[Any], bool],
) -> Any:
    for attempt in range(max(1, attempts)):
        value = await fetch()
        if ok(value):
            return value
        if attempt + 1 < attempts:
            await trio.sleep(sleep_seconds)
    raise KiteAlgoWorkerError(f"{name}: condition not met after {attempts} attempts")


def _candles(doc: Any) -> list[Any]:
    return list(doc.get("candles") or []) if isinstance(doc, Mapping) else []


async def _wait_for_history(
    client: AsyncKiteAlgoWorkerClient,
    instrument: str | int,
    *,
    timeframe: str = "day",
    attempts: int = 10,
    sleep_seconds: float = 1.0,
    min_candles: int = 1,
    **params: Any,
) -> Any:
    async def fetch() -> Any:
        return await client.get_historical_candles(instrument, timeframe=timeframe, **params)

    return await _poll(
        "wait_for_history", attempts, sleep_seconds, fetch, lambda d: len(_candles(d)) >= min_candles
    )


def wait_for_history(client: Any, instrument: str | int, **kwargs: Any) -> Any:
    """Poll historical candles until at least one (``min_candles``) is there."""
    return _dispatch(client, _wait_for_history, instrument, **kwargs)


def warmup_history(
    client: Any, instrument: str | int, *, timeframe: str = "5minute", min_candles: int = 200, **kwargs: Any
) -> Any:
    """Poll until ``min_candles`` historical candles are available for indicator warm-up."""
    return _dispatch(
        client, _wait_for_history, instrument, timeframe=timeframe, min_candles=min_candles, **kwargs
    )


async def _wait_for_terminal_order_state(
    client: AsyncKiteAlgoWorkerClient,
    run_id: str,
    order_id: str,
    *,
    attempts: int = 20,
    sleep_seconds: float = 1.0,
) -> Any:
    async def fetch() -> Any:
        doc = await client.get_order(run_id, order_id)
        return doc.get("order", doc) if isinstance(doc, Mapping) else doc

    def ok(order: Any) -> bool:
        return isinstance(order, Mapping) and str(order.get("status", "")).upper() in TERMINAL_ORDER_STATES

    return await _poll("wait_for_terminal_order_state", attempts, sleep_seconds, fetch, ok)


def wait_for_terminal_order_state(client: Any, run_id: str, order_id: str, **kwargs: Any) -> Any:
    """Poll a broker order (live runs, contract §4.8) until COMPLETE/CANCELLED/REJECTED."""
    return _dispatch(client, _wait_for_terminal_order_state, run_id, order_id, **kwargs)


async def _wait_for_fresh_candle(
    client: AsyncKiteAlgoWorkerClient,
    instrument: str | int,
    *,
    interval: str = "5minute",
    lookback: int = 1,
    after: str | None = None,
    attempts: int = 20,
    sleep_seconds: float = 1.0,
) -> Any:
    async def fetch() -> Any:
        return await client.get_candles(instrument, interval=interval, lookback=lookback)

    def newest(doc: Any) -> Any:
        if not isinstance(doc, Mapping) or doc.get("is_stale"):
            return None
        return doc.get("current") or (_candles(doc) or [None])[-1]

    def ok(doc: Any) -> bool:
        candle = newest(doc)
        return candle is not None and (after is None or str(candle.get("ts", "")) > after)

    return newest(await _poll("wait_for_fresh_candle", attempts, sleep_seconds, fetch, ok))


def wait_for_fresh_candle(client: Any, instrument: str | int, **kwargs: Any) -> Any:
    """Poll live candles until one is fresh (newer than ``after``, an ISO ``ts``, if given) and
    return it: the in-progress ``current`` candle, else the newest completed one."""
    return _dispatch(client, _wait_for_fresh_candle, instrument, **kwargs)


async def _wait_for_quotes(
    client: AsyncKiteAlgoWorkerClient,
    instruments: Sequence[str | int],
    *,
    mode: str = "quote",
    attempts: int = 10,
    sleep_seconds: float = 1.0,
) -> Any:
    async def fetch() -> Any:
        return await client.get_quotes(instruments, mode=mode)

    def ok(doc: Any) -> bool:
        quotes = doc.get("quotes") if isinstance(doc, Mapping) else None
        return isinstance(quotes, Mapping) and all(str(i) in quotes for i in instruments)

    return await _poll("wait_for_quotes", attempts, sleep_seconds, fetch, ok)


def wait_for_quotes(client: Any, instruments: Sequence[str | int], **kwargs: Any) -> Any:
    """Poll quotes until every instrument has one."""
    return _dispatch(client, _wait_for_quotes, instruments, **kwargs)


async def _preview_then_place_order(
    client: AsyncKiteAlgoWorkerClient, run_id: str, order: Mapping[str, Any], **kwargs: Any
) -> tuple[Any, Any]:
    preview = await client.preview_order(run_id, order, metadata=kwargs.get("metadata"))
    result = await client.place_order(run_id, order, **kwargs)
    return preview, result


def preview_then_place_order(client: Any, run_id: str, order: Mapping[str, Any], **kwargs: Any) -> Any:
    """Preview (live runs only, contract §4.6) then place; returns ``(preview, result)``."""
    return _dispatch(client, _preview_then_place_order, run_id, order, **kwargs)
