"""The stream hub: upstream streams shared by topic, fanned out to many subscribers.

A topic is ``(kind, key)``: ``ticks`` per (instrument, mode), ``candles`` per (instrument,
interval), ``pnl`` per (run_id, interval), ``timeline`` per run_id. The first subscriber starts
the topic's task in the hub's nursery; the last one leaving starts a linger of ``linger_s``
after which the topic ends. Candle, P&L and timeline topics each pump their own upstream
stream. Tick topics of one mode share one union stream (``TickUnion``): when its set of
instruments changes, the new stream is opened and the old one is closed only once the new
one's snapshot is in (make-before-break), after ``resubscribe_after_s`` to coalesce a burst of
changes. Fan-out pushes into each subscriber's :class:`SubscriberBuffer` and sets a wake-up
event: it never awaits a subscriber.

Errors are classified once (:func:`~supervisor.client._errors.classify_error`, style rule 10).
A transient one (no answer, an in-band stream error, 5xx, 429) is retried with bounded,
jittered backoff (at least the server's ``Retry-After``) for as long as the topic has
subscribers, and counted (``HubStatistics.retries``). A permanent one (a 4xx about the request,
an unknown instrument, 401/403) fails the topic: each of its subscribers raises its own new
exception chained ``from`` the cause, and the hub forgets the topic, so a subscriber that comes
later asks upstream again instead of inheriting the failure.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NoReturn

import msgspec
import trio

from ..client._backoff import Backoff
from ..client._errors import ErrorClass, KiteAlgoWorkerError, classify_error, retry_after_hint
from ._buffer import SubscriberBuffer
from ._models import StreamResumed, decode_candles, decode_pnl, decode_timeline
from ._openers import HubTransport, ws_opener
from ._stats import HubStatistics, SubscriberStatistics, TopicStatistics
from ._ticks import TickUnion, TickUnions
from ._topic import Opener, Records, Topic, TopicKey, failure_for

__all__ = ["Opener", "StreamHub", "Subscription", "TopicKey", "client_opener"]

log = logging.getLogger("supervisor.hub")


_DECODERS = {
    "candles": decode_candles,
    "pnl": decode_pnl,
    "timeline": decode_timeline,
}


def client_opener(client: Any) -> Opener:
    """The default opener: streams of an ``AsyncKiteAlgoWorkerClient`` (idle timeout is the
    client's, 30 s, longer than the server's 15 s keep-alive gap; it sees keep-alives)."""

    def open_(kind: str, p: dict[str, Any], after: int | None) -> AbstractAsyncContextManager[Any]:
        if kind == "ticks":
            return client.stream_ticks(p["instruments"], mode=p["mode"])  # type: ignore[no-any-return]
        if kind == "candles":
            return client.stream_candles(p["instrument"], interval=p["interval"])  # type: ignore[no-any-return]
        if kind == "pnl":
            return client.stream_run_pnl(p["run_id"], interval_seconds=p["interval"])  # type: ignore[no-any-return]
        return client.stream_timeline(p["run_id"], after_cursor=after or 0)  # type: ignore[no-any-return]

    return open_


class Subscription:
    """Async iterator of records for one subscriber. ``__anext__`` blocks until an item is
    buffered; raises :class:`SubscriberLagged` (recoverable: keep iterating or resubscribe)
    and, once what was buffered is taken, a topic's permanent upstream error (e.g.
    ``NotFoundError``): a new exception object on every raise, chained ``from`` this
    subscriber's copy of the cause, so tracebacks never accumulate. Transient upstream errors
    never reach it (the hub retries them). :meth:`receive_batch` takes everything buffered."""

    def __init__(self, hub: StreamHub, name: str, kind: str, capacity: int) -> None:
        self._hub = hub
        self._now = trio.lowlevel.current_clock().current_time  # the hot path skips two wrappers
        self.name = name
        self.kind = kind
        self.buffer = SubscriberBuffer(capacity)
        self._parked: trio.lowlevel.Task | None = None  # the reader, while it waits for an item
        self.topics: list[Topic] = []
        self.latency_max = 0.0
        self.latency_sum = 0.0
        self.error: BaseException | None = None  # this subscriber's own copy of a permanent cause

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        while True:
            got = self.buffer.pop(self._now())
            if got is not None:
                item, waited = got
                self.latency_sum += waited
                if waited > self.latency_max:  # noqa: PLR1730 (no max() call once per delivered item)
                    self.latency_max = waited
                return item
            if self.error is not None:
                self._raise_error(self.error)
            await self._wait()

    async def receive_batch(self, max_items: int = 1024) -> list[Any]:
        """Block until an item is buffered, then take up to ``max_items`` of them at once
        (oldest first): one wake-up for a burst. Raises as ``__anext__`` does."""
        while True:
            items, total, longest = self.buffer.pop_many(self._now(), max_items)
            if items:
                self.latency_sum += total
                self.latency_max = max(self.latency_max, longest)
                return items
            if self.error is not None:
                self._raise_error(self.error)
            await self._wait()

    @staticmethod
    def _raise_error(cause: BaseException) -> NoReturn:
        raise failure_for(cause) from cause

    def fail(self, cause: BaseException) -> None:
        """Make the next read raise (a copy of) ``cause`` once the buffer is drained."""
        if self.error is None:
            self.error = failure_for(cause)  # owned by this subscriber: no shared frames
            self.wake()

    async def _wait(self) -> None:
        # trio.Event costs an allocation per wait and a KI-protected set() per push; a parked
        # task rescheduled by the first push after it parked is the same wake-up, cheaper
        task = self._parked = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            if self._parked is task:
                self._parked = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def wake(self) -> None:
        """Reschedule the reader if it waits (items or an error are there for it)."""
        task = self._parked
        if task is not None:
            self._parked = None
            trio.lowlevel.reschedule(task)

    def push(self, item: Any, key: Hashable | None, now: float) -> None:
        self.buffer.push(item, now, key)
        self.wake()


class StreamHub(TickUnions):
    """Shares upstream streams between subscribers. Run ``serve`` in a nursery first
    (``await nursery.start(hub.serve)``) or use :func:`open_stream_hub`. The streams are the
    client's SSE ones, or its WebSockets with ``transport="websocket"`` (``_openers``); an
    ``opener`` replaces both."""

    def __init__(
        self,
        client: Any = None,
        *,
        opener: Opener | None = None,
        transport: HubTransport = "sse",
        linger_s: float = 5.0,
        capacity: int = 1024,
        backoff: Callable[[], Backoff] | None = None,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
        resubscribe_after_s: float = 0.05,
        max_union_instruments: int = 300,
    ) -> None:
        if opener is None:
            if client is None:
                raise ValueError("StreamHub needs a client or an opener")
            opener = ws_opener(client) if transport == "websocket" else client_opener(client)
        self._open = opener
        self.linger_s = linger_s
        self.capacity = capacity
        self._rng = rng or random.Random()
        # at most 5 s between attempts: after an outage, market data is back within a few
        # market steps of the backend answering (a 503 is cheap to answer; a backend that
        # wants fewer retries says so with Retry-After, which is honoured)
        self._backoff = backoff or (lambda: Backoff(initial=0.5, maximum=5.0, rng=self._rng))
        self._wall = wall_clock
        self.resubscribe_after_s = resubscribe_after_s
        self._streams = 0  # upstream streams open now
        self.max_union_instruments = max_union_instruments
        self._unions: dict[tuple[str, int], TickUnion] = {}
        self._topics: dict[TopicKey, Topic] = {}
        self._subs: set[Subscription] = set()
        self._nursery: trio.Nursery | None = None
        self._retries: Counter[str] = Counter()  # transient upstream errors retried, by kind
        self._failures: Counter[str] = Counter()  # topics failed for good, by kind

    async def serve(self, *, task_status: trio.TaskStatus[StreamHub] = trio.TASK_STATUS_IGNORED) -> None:
        """Host topic tasks until cancelled (never returns)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(self)
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    # -- subscriptions -------------------------------------------------------------------
    def ticks(
        self,
        instruments: Sequence[str | int],
        mode: str = "quote",
        *,
        subscriber: str = "",
        capacity: int | None = None,
    ) -> AbstractAsyncContextManager[Subscription]:
        """Ticks of ``instruments`` (one topic each; all the tick topics of a mode share one
        union stream upstream). Entering does not block on the network."""
        specs = [(f"{i}|{mode}", {"instrument": i, "mode": mode}) for i in dict.fromkeys(instruments)]
        return self._subscribe("ticks", specs, subscriber, capacity, None)

    def candles(
        self,
        instrument: str | int,
        interval: str = "5minute",
        *,
        subscriber: str = "",
        capacity: int | None = None,
    ) -> AbstractAsyncContextManager[Subscription]:
        spec = (f"{instrument}|{interval}", {"instrument": instrument, "interval": interval})
        return self._subscribe("candles", [spec], subscriber, capacity, None)

    def pnl(
        self, run_id: str, interval_seconds: float = 1.0, *, subscriber: str = "", capacity: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        spec = (f"{run_id}|{interval_seconds:g}", {"run_id": run_id, "interval": interval_seconds})
        return self._subscribe("pnl", [spec], subscriber, capacity, None)

    def timeline(
        self, run_id: str, after_cursor: int = 0, *, subscriber: str = "", capacity: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """Timeline events with ``cursor > after_cursor``. A topic already open serves the
        backfill from its ring of the last 1,000 events; older gaps need ``list_timeline``."""
        return self._subscribe("timeline", [(run_id, {"run_id": run_id})], subscriber, capacity, after_cursor)

    @asynccontextmanager
    async def _subscribe(
        self,
        kind: str,
        specs: list[tuple[str, dict[str, Any]]],
        name: str,
        capacity: int | None,
        after: int | None,
    ) -> AsyncIterator[Subscription]:
        if self._nursery is None:
            raise RuntimeError("StreamHub.serve is not running")
        sub = Subscription(self, name, kind, capacity or self.capacity)
        now = trio.current_time()
        for key, params in specs:
            topic = self._topics.get((kind, key))
            if topic is None:
                topic = Topic(kind, key, params, after)
                self._topics[(kind, key)] = topic
                self._nursery.start_soon(self._run_topic, topic)
            elif kind == "timeline" and after is not None:
                for event in topic.ring:
                    if event.cursor > after:
                        sub.push(event, None, now)
            topic.subs.add(sub)
            sub.topics.append(topic)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)
            for topic in sub.topics:
                topic.subs.discard(sub)
                if not topic.subs:
                    topic.empty_since = trio.current_time()
                    topic.became_empty.set()

    # -- topic tasks ---------------------------------------------------------------------
    async def _run_topic(self, topic: Topic) -> None:
        """Ends after the linger, or when the topic fails for good (its scope is cancelled)."""
        try:
            with topic.scope:
                if topic.kind == "ticks":
                    union = self._tick_union(topic.params["mode"])
                    union.add(topic)
                    try:
                        await self._linger(topic)
                    finally:
                        union.remove(topic)
                    return
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, topic)
                    await self._linger(topic)
                    nursery.cancel_scope.cancel()
        finally:
            self._forget(topic)

    def _forget(self, topic: Topic) -> None:
        if self._topics.get((topic.kind, topic.key)) is topic:  # not a newer topic of that key
            del self._topics[(topic.kind, topic.key)]

    async def _linger(self, topic: Topic) -> None:
        while True:
            await topic.became_empty.wait()
            topic.became_empty = trio.Event()
            while not topic.subs:
                deadline = topic.empty_since + self.linger_s
                if trio.current_time() >= deadline:
                    self._forget(topic)
                    return
                await trio.sleep_until(deadline)

    def _fail_topic(self, topic: Topic, cause: BaseException) -> None:
        """End ``topic`` for good: each subscriber it has now gets its own copy of ``cause``;
        the hub forgets it at once, so nobody joins it any more (never blocks)."""
        if topic.error is not None:
            return
        topic.connected = False
        topic.error = failure_for(cause)  # not the raised one: its frames would pin this task's
        self._failures[topic.kind] += 1
        self._forget(topic)
        log.warning(
            "%s topic %s failed for good (%d subscribers told): %r",
            topic.kind,
            topic.key,
            len(topic.subs),
            cause,
        )
        for sub in list(topic.subs):
            sub.fail(cause)
        topic.scope.cancel()

    def _note_retry(self, kind: str, what: str, exc: BaseException | None, attempt: int) -> None:
        """Count a transient upstream failure about to be retried; log the first of a streak
        (the counter has the rest), with the traceback of anything that is not a client error
        (an error nobody mapped is a bug to see, but not a reason to stop the data)."""
        self._retries[kind] += 1
        if exc is not None and attempt == 0:
            foreign = not isinstance(exc, KiteAlgoWorkerError)
            log.warning("%s stream %s failed (%r); retrying with backoff", kind, what, exc, exc_info=foreign)

    async def _pump(self, topic: Topic) -> None:
        decode = _DECODERS[topic.kind]
        backoff = self._backoff()
        lost_at: float | None = None  # when the stream last dropped after having connected
        while True:
            try:
                async with self._open(topic.kind, topic.params, topic.cursor) as events, self._counted():
                    topic.connected = True
                    if lost_at is not None:
                        # the gap strategies care about: time since the last data they got
                        since = topic.last_event_time if topic.last_event_time is not None else lost_at
                        gap = trio.current_time() - since
                        marker = StreamResumed(kind=topic.kind, key=topic.key, gap_s=gap)
                        self._fan_out(topic, [(marker, ("resumed", topic.key))])
                        lost_at = None
                    async for payload in events:
                        try:
                            records = decode(payload)
                        except msgspec.ValidationError:
                            topic.decode_errors += 1  # one bad payload must not end the topic
                            continue
                        if topic.kind == "timeline":
                            records = self._dedup(topic, records)
                        backoff.reset()
                        self._fan_out(topic, records)
                # streams are endless by contract (§5.2): a clean end is a gap like any other
                hint = None
                self._note_retry(topic.kind, topic.key, None, backoff.attempts)
            except Exception as exc:  # classified once: retried, or the end of this topic only
                if classify_error(exc) is not ErrorClass.TRANSIENT:
                    self._fail_topic(topic, exc)  # cancels this task's topic scope
                    return
                hint = retry_after_hint(exc)
                self._note_retry(topic.kind, topic.key, exc, backoff.attempts)
            if topic.connected and lost_at is None:
                lost_at = trio.current_time()
            topic.connected = False
            topic.reconnects += 1
            await trio.sleep(backoff.next_delay(hint))

    @staticmethod
    def _dedup(topic: Topic, records: Records) -> Records:
        out = []
        for event, key in records:
            if topic.cursor is not None and event.cursor <= topic.cursor:
                continue  # duplicate after a resume
            topic.cursor = event.cursor
            topic.ring.append(event)
            out.append((event, key))
        return out

    def _fan_out(self, topic: Topic, records: list[tuple[Any, Hashable | None]]) -> None:
        if not records:
            return
        now = trio.current_time()
        topic.last_event_time = now
        topic.last_event_unix = self._wall()
        for item, key in records:
            if not isinstance(item, StreamResumed):
                topic.events += 1
            for sub in topic.subs:  # Subscription.push, inlined: this is the hot loop
                sub.buffer.push(item, now, key)
                if sub._parked is not None:  # Subscription.wake, inlined: once per burst
                    sub.wake()

    # -- statistics ----------------------------------------------------------------------
    def statistics(self) -> HubStatistics:
        """A frozen snapshot (does not block)."""
        now = trio.current_time()
        topics = tuple(
            TopicStatistics(
                kind=t.kind,
                key=t.key,
                connected=t.connected,
                subscribers=len(t.subs),
                reconnects=t.reconnects,
                last_event_unix=t.last_event_unix,
                events=t.events,
                decode_errors=t.decode_errors,
                stale_s=None if t.last_event_time is None else now - t.last_event_time,
            )
            for t in self._topics.values()
        )
        subs = tuple(
            SubscriberStatistics(
                name=s.name,
                strategy=s.name or None,
                kind=s.kind,
                queue_depth=len(s.buffer),
                capacity=s.buffer.capacity,
                conflations=s.buffer.conflations,
                drops=s.buffer.drops,
                lags=s.buffer.lags,
                delivered=s.buffer.delivered,
                latency_max_s=s.latency_max,
                latency_mean_s=s.latency_sum / s.buffer.delivered if s.buffer.delivered else 0.0,
            )
            for s in self._subs
        )
        return HubStatistics(
            topics=topics,
            subscribers=subs,
            upstream_streams=self._streams,
            retries=dict(self._retries),
            failures=dict(self._failures),
        )
