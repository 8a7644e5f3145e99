"""The stream hub: upstream streams shared by many strategies (one per candle, P&L or
timeline topic, one per tick mode for up to 300 instruments), over SSE or, with
``transport="websocket"`` (config ``supervisor.hub.transport``), the §5.6 WebSockets (timeline
topics stay on SSE: §5.6 has no timeline socket). Both transports deliver the same payloads and
share the retry, resume and failure semantics below (``_openers``).

    async with open_stream_hub(client) as hub:
        async with hub.ticks(["NSE:INFY"], mode="quote", subscriber="strat-a") as ticks:
            async for tick in ticks:          # Tick | StreamResumed
                ...
            batch = await ticks.receive_batch()  # or: everything buffered, one wake-up

Upstream connections grow with distinct topics, never with subscribers (and not even with
instruments, for ticks). Each subscriber has a bounded :class:`SubscriberBuffer` (policy in
``_buffer``): ticks (per instrument as subscribed) and the in-progress candle are conflated,
completed candles and timeline events are never silently dropped
(a subscriber too far behind gets :class:`SubscriberLagged`). Fan-out never awaits a consumer.

Tick grouping, chosen by measurement: all the tick topics of one mode share ONE union stream
upstream (``_ticks``), resubscribed make-before-break when its set of instruments changes
(changes within ``resubscribe_after_s``, 50 ms, share one resubscription). So the hub holds
one tick connection per mode, whatever the number of subscribers, and per 300 instruments
(``max_union_instruments``: a request line stays under the 16 kB HTTP servers commonly accept).
``bench/bench_hub_grouping.py`` measured both groupings on a standalone sandbox over loopback
(200 real instruments, 20 market steps/s, 4,000 ticks/s; figures in the README): per-instrument
streams cost about 6x the client CPU and 6x the sandbox CPU per tick of one union stream (one
SSE event, HTTP chunk and wake-up per instrument instead of one per step), with a p99 delay of
46 ms against 11 ms, and need 200 connections from the client's pool
(``AlgoWorkerConfig.max_connections``). The union's price is the resubscription: about 9 ms
from opening the new stream to its snapshot and 3.5-6 ms of CPU on each side; with
make-before-break the instruments that stay see no gap (longest silence one market step,
against two steps when the old stream is closed first).

``bench/bench_hub.py`` measures the hub as a whole on the sandbox: 1,000 strategies x 10 of 200
instruments take 100,000 ticks/s over one upstream connection at 2.3-3.3 us of CPU per
delivered tick, 8-13x less than each strategy opening its own stream (the goal, 10x, is met in
some runs of this shared 2-core machine, not all), with a p50 delay of 20-26 ms from the
sandbox's stamp and a p99 of 35-120 ms (goal 10 ms, not met: each market step is one burst of
10,000 deliveries; the README has the runs, and where the delay and its tail go).
A waiting subscriber is a parked task that the first push of a burst reschedules.

Failures (issue 11): a backend that drops its streams, answers 5xx or 429, or is down when the
hub starts costs subscribers a gap, never an error: each topic retries with jittered backoff
of at most 5 s (at least the server's ``Retry-After``) for as long as it has subscribers,
counted in ``HubStatistics.retries``, and a :class:`StreamResumed` marker follows the gap.
Only an error about the request itself (an unknown instrument, another 4xx, 401/403) reaches
subscribers, and only those of that topic (in a tick union, the refused instruments are found
by bisection; the others stream on). Each read raises a new exception chained ``from`` the
subscriber's own copy of the cause, and the topic is forgotten at once: a later subscriber
asks the backend again instead of inheriting the failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from ._buffer import SubscriberBuffer as SubscriberBuffer
from ._buffer import SubscriberLagged as SubscriberLagged
from ._hub import Opener as Opener
from ._hub import StreamHub as StreamHub
from ._hub import Subscription as Subscription
from ._hub import client_opener as client_opener
from ._models import Candle as Candle
from ._models import PnlUpdate as PnlUpdate
from ._models import StreamResumed as StreamResumed
from ._models import Tick as Tick
from ._models import TimelineEvent as TimelineEvent
from ._openers import HubTransport as HubTransport
from ._openers import ws_opener as ws_opener
from ._stats import HubStatistics as HubStatistics
from ._stats import SubscriberStatistics as SubscriberStatistics
from ._stats import TopicStatistics as TopicStatistics

__all__ = [
    "Candle",
    "HubStatistics",
    "HubTransport",
    "Opener",
    "PnlUpdate",
    "StreamHub",
    "StreamResumed",
    "SubscriberBuffer",
    "SubscriberLagged",
    "SubscriberStatistics",
    "Subscription",
    "Tick",
    "TimelineEvent",
    "TopicStatistics",
    "client_opener",
    "open_stream_hub",
    "ws_opener",
]


@asynccontextmanager
async def open_stream_hub(client: Any = None, **kwargs: Any) -> AsyncIterator[StreamHub]:
    """Run a :class:`StreamHub` for the duration of the block (topic tasks are cancelled on exit)."""
    hub = StreamHub(client, **kwargs)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.serve)
        yield hub
        nursery.cancel_scope.cancel()
