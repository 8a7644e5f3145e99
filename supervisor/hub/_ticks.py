"""The tick union: all the tick topics of one mode share one upstream stream.

Chosen by measurement (``bench/bench_hub_grouping.py``, figures in the README): per-instrument
streams cost 5-7x the CPU per tick of one union stream, on the client and on the server, and
need one connection per instrument. The union's cost is a resubscription when its set of
instruments changes; it is made without a gap: the new stream is opened, and the old one is
closed only when the new one's snapshot has arrived (make-before-break). Changes arriving
within ``resubscribe_after_s`` of each other share one resubscription.

Errors are classified once (``classify_error``). A transient one (transport, in-band upstream
failure, 5xx, 429) reopens the stream with backoff, at least the server's ``Retry-After``, for
as long as the union has instruments. Instruments named in the snapshot's ``missing`` list fail
their topics with ``NotFoundError``; the others flow on. A stream refused for naming no known
instrument fails each of its topics so. A stream refused with another 4xx about its parameters
(e.g. 422 for a token out of range) is bisected: halves of its instruments are opened as probe
streams (closed at their snapshot) until the refused instruments are found; only their topics
fail, and the union reopens for the rest. 401/403 fail every topic of the stream. A failed
topic leaves the union, which resubscribes without it.
A union holds at most ``max_union_instruments`` (300) instruments, so that its request line
stays well under the 16 kB that HTTP servers commonly accept (h11's default); past that a mode
gets a second union, and so on.

:class:`TickUnions` is the tick half of ``StreamHub`` (a mixin over the hub's fan-out, opener
and backoff). Snapshot rows of instruments the old stream was already carrying are not
delivered again (they are no fresher than the ticks the old stream delivered).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from ..client._backoff import Backoff
from ..client._errors import (
    ErrorClass,
    NotFoundError,
    classify_error,
    names_no_valid_instrument,
    retry_after_hint,
)
from ._models import StreamResumed, Tick
from ._topic import Opener, Records, Topic
from ._union import Instrument, TickRouter

__all__ = ["TickUnion", "TickUnions"]


def _unknown(instrument: Instrument) -> NotFoundError:
    return NotFoundError(f"Instrument not found for symbol {instrument}", status_code=404)


class _Inconclusive(Exception):
    """A probe stream failed transiently: which instrument is refused is not known yet."""


class TickUnion:
    """The tick topics of one mode and their shared upstream stream(s): ``scopes`` maps each
    open stream's generation to its cancel scope (two while a resubscription overlaps)."""

    def __init__(self, mode: str, shard: int) -> None:
        self.mode = mode
        self.shard = shard
        self.topics: dict[Instrument, Topic] = {}
        self.changed = trio.Event()
        self.generation = 0  # of the newest stream opened
        self.requested: frozenset[Instrument] = frozenset()  # what the newest stream asked for
        self.live_generation = 0  # of the stream whose snapshot arrived last
        self.live_set: frozenset[Instrument] = frozenset()
        self.scopes: dict[int, trio.CancelScope] = {}

    def add(self, topic: Topic) -> None:
        self.topics[topic.params["instrument"]] = topic
        self.changed.set()

    def remove(self, topic: Topic) -> None:
        if self.topics.get(topic.params["instrument"]) is topic:
            del self.topics[topic.params["instrument"]]
            if topic.error is not None:
                # the next stream is opened even if a new topic of that instrument brings the
                # set back to what was requested: its subscriber gets the backend's own answer
                self.requested = frozenset()
            self.changed.set()


class TickUnions:
    """The tick half of ``StreamHub``: one :class:`TickUnion` per mode, each with its stream
    task(s) in the hub's nursery. Blocks nowhere but in its tasks."""

    _unions: dict[tuple[str, int], TickUnion]
    _nursery: trio.Nursery | None
    _open: Opener
    _backoff: Callable[[], Backoff]
    _streams: int
    resubscribe_after_s: float
    max_union_instruments: int

    def _fan_out(self, topic: Topic, records: Records) -> None:
        raise NotImplementedError

    def _fail_topic(self, topic: Topic, cause: BaseException) -> None:
        raise NotImplementedError

    def _note_retry(self, kind: str, what: str, exc: BaseException | None, attempt: int) -> None:
        raise NotImplementedError

    @asynccontextmanager
    async def _counted(self) -> AsyncIterator[None]:
        self._streams += 1
        try:
            yield
        finally:
            self._streams -= 1

    def _tick_union(self, mode: str) -> TickUnion:
        """A union of ``mode`` with room for one more instrument (a new one if none has)."""
        shard = 0
        while (union := self._unions.get((mode, shard))) is not None:
            if len(union.topics) < self.max_union_instruments:
                return union
            shard += 1
        union = self._unions[(mode, shard)] = TickUnion(mode, shard)
        assert self._nursery is not None
        self._nursery.start_soon(self._serve_union, union)
        return union

    async def _serve_union(self, union: TickUnion) -> None:
        """Open a stream for the union's instruments whenever the set changes; each new stream
        closes the older ones once its snapshot is in. Returns when no instrument is left."""
        async with trio.open_nursery() as nursery:
            while True:
                await union.changed.wait()
                await trio.sleep(self.resubscribe_after_s)  # one reconnect for a burst of changes
                union.changed = trio.Event()
                wanted = tuple(sorted(union.topics, key=str))  # a stable request for a set
                if not wanted:
                    del self._unions[(union.mode, union.shard)]
                    nursery.cancel_scope.cancel()
                    return
                if frozenset(wanted) == union.requested:
                    continue
                union.generation += 1
                union.requested = frozenset(wanted)
                scope = union.scopes[union.generation] = trio.CancelScope()
                nursery.start_soon(self._union_stream, union, wanted, union.generation, scope)

    async def _union_stream(
        self, union: TickUnion, wanted: tuple[Instrument, ...], generation: int, scope: trio.CancelScope
    ) -> None:
        router = TickRouter(wanted)
        backoff = self._backoff()
        params = {"instruments": list(wanted), "mode": union.mode}
        what = f"{union.mode}#{union.shard} ({len(wanted)} instruments)"
        lost_at: float | None = None  # when this stream last dropped after its snapshot
        try:
            with scope:
                while True:
                    first = True
                    try:
                        async with self._open("ticks", params, None) as events, self._counted():
                            async for payload in events:
                                if first:  # the snapshot opens every connection (§5.2)
                                    first = False
                                    self._union_snapshot(union, router, generation, payload, lost_at)
                                    lost_at = None
                                else:
                                    self._route_ticks(union, router, payload, frozenset())
                                backoff.reset()
                        hint = None  # endless by contract (§5.2): a clean end is a gap
                        self._note_retry("ticks", what, None, backoff.attempts)
                    except Exception as exc:  # classified once: retried, or some topics fail
                        error: BaseException = exc
                        verdict = classify_error(exc)
                        if verdict is not ErrorClass.TRANSIENT:
                            try:
                                if await self._refuse(union, wanted, exc, verdict):
                                    # the failed topics leave the union, which resubscribes
                                    # for the rest: this stream's set is no longer wanted
                                    return
                            except _Inconclusive as probe:
                                error = probe.__cause__ or exc  # retry; bisect again next time
                        hint = retry_after_hint(error)
                        self._note_retry("ticks", what, error, backoff.attempts)
                    if not first and lost_at is None:
                        lost_at = trio.current_time()
                        for instrument in wanted:
                            if (topic := union.topics.get(instrument)) is not None:
                                topic.connected = False
                                topic.reconnects += 1
                    await trio.sleep(backoff.next_delay(hint))
        finally:
            union.scopes.pop(generation, None)

    async def _refuse(
        self, union: TickUnion, wanted: tuple[Instrument, ...], exc: BaseException, verdict: ErrorClass
    ) -> int:
        """Fail the topics a permanent error is about: all of ``wanted`` for 401/403 or when
        none of them exists, else those bisection finds refused alone (all of them if no part
        is: then it is the request as a whole). Returns how many topics it failed (0: they
        had all left already). Raises :class:`_Inconclusive` when a probe fails transiently."""
        refused: list[tuple[Instrument, BaseException]]
        if names_no_valid_instrument(exc):  # none of them exists (§5.2)
            refused = [(i, _unknown(i)) for i in wanted]
        elif verdict is ErrorClass.DENIED or len(wanted) == 1:
            refused = [(i, exc) for i in wanted]
        else:
            refused = await self._bisect(union.mode, wanted) or [(i, exc) for i in wanted]
        failed = 0
        for instrument, cause in refused:
            if (topic := union.topics.get(instrument)) is not None and topic.error is None:
                self._fail_topic(topic, cause)
                failed += 1
        return failed

    async def _bisect(
        self, mode: str, refused: Sequence[Instrument]
    ) -> list[tuple[Instrument, BaseException]]:
        """The instruments of ``refused`` (a set refused as a whole) that are refused alone,
        with the error for each: each half is opened as a probe stream and a refused half is
        split again (about 2 log2(n) probes for one bad instrument among n)."""
        half = len(refused) // 2
        found: list[tuple[Instrument, BaseException]] = []
        for part in (refused[:half], refused[half:]):
            error = await self._probe(mode, part)
            if error is None:
                continue
            if names_no_valid_instrument(error):
                found.extend((i, _unknown(i)) for i in part)
            elif len(part) == 1 or classify_error(error) is ErrorClass.DENIED:
                found.extend((i, error) for i in part)
            else:
                found.extend(await self._bisect(mode, part) or [(i, error) for i in part])
        return found

    async def _probe(self, mode: str, instruments: Sequence[Instrument]) -> BaseException | None:
        """Open a stream for ``instruments`` and close it at its first payload (the snapshot):
        ``None`` if accepted, the permanent error if refused; raises :class:`_Inconclusive`
        from a transient failure."""
        try:
            async with (
                self._open("ticks", {"instruments": list(instruments), "mode": mode}, None) as events,
                self._counted(),
            ):
                async for _ in events:
                    break
        except Exception as exc:  # classified once, as every stream error
            if classify_error(exc) is ErrorClass.TRANSIENT:
                raise _Inconclusive(f"probe of {len(instruments)} instruments failed") from exc
            return exc
        return None

    def _union_snapshot(
        self,
        union: TickUnion,
        router: TickRouter,
        generation: int,
        payload: Any,
        resumed_from: float | None,
    ) -> None:
        now = trio.current_time()
        carried: frozenset[Instrument] = frozenset()
        if generation > union.live_generation:  # this stream takes over
            carried = union.live_set  # already flowing: the old stream's ticks are as fresh
            for older in [g for g in union.scopes if g < generation]:
                union.scopes.pop(older).cancel()
            union.live_generation, union.live_set = generation, frozenset(router.instruments)
        missing = set(router.missing(payload)) if isinstance(payload, Mapping) else set()
        for instrument in router.instruments:
            topic = union.topics.get(instrument)
            if topic is None or topic.error is not None:
                continue
            if instrument in missing:
                self._fail_topic(topic, _unknown(instrument))
                continue
            topic.connected = True
            if resumed_from is not None:
                since = topic.last_event_time if topic.last_event_time is not None else resumed_from
                marker = StreamResumed(kind="ticks", key=topic.key, gap_s=now - since)
                self._fan_out(topic, [(marker, ("resumed", topic.key))])
        self._route_ticks(union, router, payload, carried)

    def _route_ticks(
        self, union: TickUnion, router: TickRouter, payload: Any, skip: frozenset[Instrument]
    ) -> None:
        if not isinstance(payload, Mapping):
            return
        rows = payload.get("ticks")
        if rows is None:
            rows = payload.get("quotes") or []
        if isinstance(rows, Mapping):  # the snapshot maps the requested identifier -> quote
            rows = list(rows.values())
        # an instrument twice in one batch: its last quote supersedes the earlier (conflation)
        latest: dict[Any, Mapping[str, Any]] = {}
        for row in rows:
            if isinstance(row, Mapping):
                token = row.get("instrument_token")
                latest[id(row) if token is None else token] = row
        for row in latest.values():
            targets = [union.topics.get(i) for i in router.route(row) if i not in skip]
            topics = [t for t in targets if t is not None and t.error is None]
            if not topics:
                continue
            try:
                tick = msgspec.convert(row, Tick, strict=False)
            except msgspec.ValidationError:
                for topic in topics:
                    topic.decode_errors += 1  # one bad quote must not end the stream
                continue
            for topic in topics:  # conflated per topic: two spellings of one instrument stay two
                self._fan_out(topic, [(tick, topic.latest_key)])
