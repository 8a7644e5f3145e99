"""Signal-driven: decisions made *outside* the strategy, carried out safely inside it.

Pattern taught here: another system (an alerting tool, a notebook, a person) decides; this
strategy is the gate between that decision and the backend. Signals arrive through channels
users already have:

* a **watched folder** of JSON files (``inbox``): write ``inbox/<name>.json`` (atomically: write
  a dot-file, then rename). A processed file moves to ``inbox/done/`` next to a
  ``.result.json``; a refused one moves to ``inbox/rejected/`` next to a ``.reason.txt``.
  Nothing is ever deleted, and a file is moved only after its outcome is settled;
* a small **HTTP endpoint** (``http_port``; 0 = a free port, announced in the log and on the
  timeline): ``POST /signals`` with the JSON body answers 200 (placed), 422 (refused, with the
  reason), 409 (the run may not trade now: retry later) or 503 (busy or backend unreachable).

Every signal is checked (:mod:`kite_algo_examples.signals`: shape, allowed symbols, maximum
quantity, order rules). A bad signal is rejected with its reason and places nothing. A good one
gets a fresh ``safety_check()`` and is placed with the idempotency key
``{run_id}:signal:{signal_id}``, so duplicates (a resent POST, a copied file, a crash before the
file was moved) are deduplicated by the backend. Every decision (rejected, held, entered,
duplicate) is logged as a decision event on the run's timeline. Both channels feed one bounded
queue (``queue_size``) drained by one task, so two signals never race on the backend.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import partial
from typing import Any, Literal

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from pydantic import BaseModel, ConfigDict, Field, model_validator

from supervisor import Strategy, StrategyContext
from supervisor.client import (
    BrokerValidationError,
    RateLimitedError,
    SafetyTokenExpiredError,
    ServerError,
    TransportError,
)

from ._common import blocking_reasons, decide, field
from .inbox import Inbox
from .signals import MAX_SIGNAL_BYTES, AcceptedSignal, RejectedSignal, parse_signal

__all__ = ["SignalDriven", "SignalDrivenParams"]

Outcome = Literal["placed", "rejected", "blocked", "error"]
_HTTP_STATUS = {"placed": 200, "rejected": 422, "blocked": 409, "error": 503}


class SignalDrivenParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inbox: str | None = Field(default="signals/inbox", description="watched folder; null disables it")
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    max_files_per_poll: int = Field(default=50, ge=1, le=1000)
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=None, ge=0, le=65535, description="null disables HTTP")
    http_timeout_s: float = Field(default=10.0, gt=0, description="how long a POST waits for its outcome")
    allowed_symbols: list[str] = Field(default_factory=list, description="EXCH:SYMBOL; empty = any")
    max_quantity: int = Field(default=100, ge=1)
    queue_size: int = Field(default=64, ge=1, le=10_000)

    @model_validator(mode="after")
    def _one_channel(self) -> SignalDrivenParams:
        if self.inbox is None and self.http_port is None:
            raise ValueError("enable at least one signal channel: inbox or http_port")
        return self


@dataclass
class _Work:
    """One signal on its way through the queue; the sender waits for ``done``."""

    raw: bytes
    source: str
    done: trio.Event = dc_field(default_factory=trio.Event)
    outcome: Outcome = "error"
    detail: dict[str, Any] = dc_field(default_factory=dict)


class SignalDriven(Strategy[SignalDrivenParams]):
    """Turn external JSON signals into orders: validated, safety-checked, idempotent, logged."""

    Params = SignalDrivenParams

    async def run(self, ctx: StrategyContext[SignalDrivenParams]) -> None:
        params = ctx.params
        self._counts = {"placed": 0, "rejected": 0, "blocked": 0, "error": 0}
        self._held: set[str] = set()  # signal ids whose "held" decision is already logged
        send, receive = trio.open_memory_channel[_Work](params.queue_size)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._process, ctx, receive)
            if params.inbox is not None:
                inbox = Inbox(params.inbox)
                inbox.ensure()
                nursery.start_soon(self._watch_folder, ctx, inbox, send.clone())
            if params.http_port is not None:
                url = await nursery.start(self._serve_http, ctx, send.clone())
                ctx.log.info("signals accepted at %s/signals", url)
                await decide(ctx, "note", "observe", f"signal endpoint listening on {url}/signals", url=url)
            send.close()
            ctx.progress(**self._counts)
            await ctx.stopping.wait()
            nursery.cancel_scope.cancel()

    # -- the one consumer ------------------------------------------------------------------
    async def _process(
        self, ctx: StrategyContext[SignalDrivenParams], receive: trio.MemoryReceiveChannel[_Work]
    ) -> None:
        async with receive:
            async for work in receive:
                try:
                    work.outcome, work.detail = await self._handle(ctx, work.raw, work.source)
                finally:
                    work.done.set()
                self._counts[work.outcome] += 1
                ctx.progress(**self._counts)

    async def _handle(
        self, ctx: StrategyContext[SignalDrivenParams], raw: bytes, source: str
    ) -> tuple[Outcome, dict[str, Any]]:
        params = ctx.params
        parsed = parse_signal(raw, allowed_symbols=params.allowed_symbols, max_quantity=params.max_quantity)
        if isinstance(parsed, RejectedSignal):
            return await self._reject(ctx, parsed.signal_id, parsed.reason, source)
        try:
            return await self._place(ctx, parsed, source)
        except BrokerValidationError as exc:  # the backend refused the order itself: nothing placed
            return await self._reject(
                ctx, parsed.signal.signal_id, f"backend refused the order: {exc}", source
            )
        except (TransportError, ServerError, RateLimitedError) as exc:
            # not a verdict on the signal: keep it (folder) or tell the sender to retry (HTTP)
            ctx.log.warning("signal %s not processed yet: %s", parsed.signal.signal_id, exc)
            return "error", {"reason": f"backend unavailable: {type(exc).__name__}"}

    async def _reject(
        self, ctx: StrategyContext[SignalDrivenParams], signal_id: str | None, reason: str, source: str
    ) -> tuple[Outcome, dict[str, Any]]:
        ctx.log.info("signal %s rejected: %s", signal_id or "<unnamed>", reason)
        await decide(
            ctx,
            "signal",
            "skip",
            f"rejected signal {signal_id or '<unnamed>'}: {reason}",
            signal_id=signal_id,
            source=source,
            reason=reason,
        )
        return "rejected", {"reason": reason, "signal_id": signal_id}

    async def _place(
        self, ctx: StrategyContext[SignalDrivenParams], accepted: AcceptedSignal, source: str
    ) -> tuple[Outcome, dict[str, Any]]:
        signal = accepted.signal
        key = ctx.key("signal", signal.signal_id)
        for attempt in range(2):
            safety = await ctx.run.safety_check()
            if not field(safety, "can_trade", False):
                reasons = blocking_reasons(safety)
                if signal.signal_id not in self._held:
                    self._held.add(signal.signal_id)
                    await decide(
                        ctx,
                        "signal",
                        "hold",
                        f"signal {signal.signal_id} held: {', '.join(map(str, reasons))}",
                        signal_id=signal.signal_id,
                        source=source,
                        blocking_reasons=reasons,
                    )
                return "blocked", {"blocking_reasons": reasons, "signal_id": signal.signal_id}
            if attempt == 0:
                await decide(
                    ctx,
                    "signal",
                    "enter",
                    f"signal {signal.signal_id}: {signal.side} {signal.quantity} {signal.symbol}",
                    signal_id=signal.signal_id,
                    source=source,
                    idempotency_key=key,
                    note=signal.note,
                )
            try:
                response = await ctx.run.place_order(
                    accepted.order,
                    idempotency_key=key,
                    safety_token=field(safety, "safety_token"),
                    metadata={"signal_id": signal.signal_id, "signal_source": source},
                )
            except SafetyTokenExpiredError:
                continue  # never retry with a stale token: ask again (seed: token expiry)
            break
        else:
            return "error", {"reason": "safety token expired twice", "signal_id": signal.signal_id}
        self._held.discard(signal.signal_id)
        result = field(response, "result", {}) or {}
        detail = {
            "signal_id": signal.signal_id,
            "idempotency_key": key,
            "intent_status": field(response, "status"),  # accepted | deduped
            "status": field(result, "status"),
            "order_id": field(field(result, "order", {}) or {}, "order_id"),
        }
        if field(result, "status") == "rejected":  # a business rejection (funds, lot size, ...)
            reason = str(field(result, "reason", "rejected by the backend"))
            await decide(
                ctx,
                "signal",
                "skip",
                f"signal {signal.signal_id} refused by the backend: {reason}",
                signal_id=signal.signal_id,
                reason=reason,
            )
            return "rejected", {**detail, "reason": reason}
        if detail["intent_status"] == "deduped":
            await decide(
                ctx,
                "signal",
                "observe",
                f"signal {signal.signal_id} was already carried out (deduplicated)",
                signal_id=signal.signal_id,
                idempotency_key=key,
            )
        return "placed", detail

    # -- channel 1: the watched folder -----------------------------------------------------
    async def _watch_folder(
        self, ctx: StrategyContext[SignalDrivenParams], inbox: Inbox, send: trio.MemorySendChannel[_Work]
    ) -> None:
        params = ctx.params
        async with send:
            while True:
                for path in inbox.pending(params.max_files_per_poll):
                    try:
                        raw = inbox.read(path)
                    except FileNotFoundError:
                        continue  # moved away by someone else meanwhile
                    work = _Work(raw, f"file:{path.name}")
                    await send.send(work)  # backpressure: the folder simply waits
                    await work.done.wait()
                    try:
                        if work.outcome == "placed":
                            inbox.file_done(path, work.detail)
                        elif work.outcome == "rejected":
                            inbox.file_rejected(path, str(work.detail.get("reason", "rejected")))
                        # blocked / error: the file stays and is tried again on a later poll
                    except FileNotFoundError:
                        ctx.log.warning("signal file %s vanished before it could be filed", path.name)
                await trio.sleep(params.poll_interval_s)

    # -- channel 2: HTTP ---------------------------------------------------------------------
    async def _serve_http(
        self,
        ctx: StrategyContext[SignalDrivenParams],
        send: trio.MemorySendChannel[_Work],
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        params = ctx.params
        config = Config()
        config.bind = [f"{params.http_host}:{params.http_port}"]
        config.accesslog = None
        config.errorlog = logging.getLogger("kite_algo_examples.signal_http")
        config.graceful_timeout = 1.0
        app = _signal_app(partial(self._submit, send, params.http_timeout_s))
        async with send, trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve, app, config, mode="asgi"))
            task_status.started(str(binds[0]).rstrip("/"))

    @staticmethod
    async def _submit(
        send: trio.MemorySendChannel[_Work], timeout_s: float, raw: bytes, peer: str
    ) -> tuple[int, dict[str, Any]]:
        work = _Work(raw, f"http:{peer}")
        try:
            send.send_nowait(work)
        except trio.WouldBlock:
            return 503, {"outcome": "busy", "reason": "signal queue is full, retry later"}
        with trio.move_on_after(timeout_s):
            await work.done.wait()
        if not work.done.is_set():
            # queued and will still be processed; the sender may resend (same signal_id = no duplicate)
            return 202, {"outcome": "queued"}
        return _HTTP_STATUS[work.outcome], {"outcome": work.outcome, **work.detail}


Submit = Callable[[bytes, str], Awaitable[tuple[int, dict[str, Any]]]]


def _signal_app(submit: Submit) -> Callable[..., Awaitable[None]]:
    """A minimal ASGI app: ``POST /signals`` only. Bodies over the signal limit get 413."""

    async def respond(send: Any, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, default=str).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] != "/signals":
            await respond(send, 404, {"detail": "not found; POST /signals"})
            return
        if scope["method"] != "POST":
            await respond(send, 405, {"detail": "method not allowed; POST /signals"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_SIGNAL_BYTES:
                await respond(send, 413, {"outcome": "rejected", "reason": "signal too large"})
                return
            if not message.get("more_body", False):
                break
        client = scope.get("client") or ("?", 0)
        status, answer = await submit(body, f"{client[0]}:{client[1]}")
        await respond(send, status, answer)

    return app
