"""Where notices go: webhooks and Telegram, behind one bounded queue (the I/O shell of ``_notify``).

``open_notifier`` gives the daemon a :class:`Notifier`: ``notify(notice)`` never blocks (a full
queue drops the notice and counts it), and one task sends what the policy admits to every sink,
each send bounded by a timeout and one retry. A sink's failure is logged and counted, never
raised: a notification must not take a strategy or the daemon down.

* **Webhook**: ``POST <url>`` with ``{"kind", "severity", "strategy", "text", "at"}`` as JSON.
* **Telegram**: the Bot API's ``sendMessage`` (``POST <api_base>/bot<token>/sendMessage`` with
  ``{"chat_id", "text"}``). The bot token is a secret like the worker token: it is kept out of
  reprs, logs and errors.

Requests go straight to an httpx *transport*, not through an ``httpx.AsyncClient``: the client
logs every request's URL, and both a Telegram URL (the bot token) and a webhook URL (Slack's and
others' carry their secret in the path) are secrets.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import trio

from ._notify import Notice, NoticePolicy, transitions

__all__ = ["Notifier", "TelegramSink", "WebhookSink", "open_notifier", "serve_transition_watch"]

log = logging.getLogger("supervisor.notify")
QUEUE_SIZE = 256
SEND_TIMEOUT_S = 5.0


class Sink(Protocol):
    @property
    def name(self) -> str: ...

    async def send(self, http: httpx.AsyncBaseTransport, notice: Notice, at: str) -> None: ...


class SinkError(RuntimeError):
    """A sink's endpoint refused a notice (the message names the status, never the URL)."""


async def _post_json(http: httpx.AsyncBaseTransport, url: str, body: dict[str, Any], what: str) -> None:
    request = httpx.Request("POST", url, content=json.dumps(body).encode(),
                            headers={"content-type": "application/json"})  # fmt: skip
    response = await http.handle_async_request(request)
    try:
        await response.aread()
    finally:
        await response.aclose()
    if response.status_code >= 400:
        raise SinkError(f"{what} answered {response.status_code}")


@dataclass(frozen=True)
class WebhookSink:
    url: str = field(repr=False)  # webhook URLs often carry their secret in the path
    name: str = "webhook"

    async def send(self, http: httpx.AsyncBaseTransport, notice: Notice, at: str) -> None:
        body = {"kind": notice.kind, "severity": notice.severity, "strategy": notice.strategy,
                "text": notice.text, "at": at}  # fmt: skip
        await _post_json(http, self.url, body, "the webhook")


@dataclass(frozen=True)
class TelegramSink:
    bot_token: str = field(repr=False)
    chat_id: str
    api_base: str = "https://api.telegram.org"
    name: str = "telegram"

    async def send(self, http: httpx.AsyncBaseTransport, notice: Notice, at: str) -> None:
        icon = {"critical": "\u2757", "warning": "\u26a0\ufe0f"}.get(notice.severity, "\u2139\ufe0f")
        body = {"chat_id": self.chat_id, "text": f"{icon} kite-supervisor: {notice.text}"}
        await _post_json(
            http, f"{self.api_base.rstrip('/')}/bot{self.bot_token}/sendMessage", body, "Telegram"
        )


@dataclass
class Notifier:
    """``notify(notice)`` from anywhere in the daemon's trio run; never blocks."""

    _send: trio.MemorySendChannel[Notice]
    dropped: int = 0
    failures: int = 0

    def notify(self, notice: Notice) -> None:
        try:
            self._send.send_nowait(notice)
        except trio.WouldBlock:
            self.dropped += 1  # overflow policy: drop the newest (the queue holds the story so far)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self.dropped += 1


async def _deliver(
    sinks: Sequence[Sink], http: httpx.AsyncBaseTransport, notice: Notice, at: str, notifier: Notifier
) -> None:
    for sink in sinks:
        for attempt in (1, 2):
            try:
                with trio.fail_after(SEND_TIMEOUT_S):
                    await sink.send(http, notice, at)
                break
            except (httpx.HTTPError, SinkError, trio.TooSlowError) as exc:
                if attempt == 2:
                    notifier.failures += 1
                    log.warning("notification to %s failed: %s", sink.name, type(exc).__name__)


@asynccontextmanager
async def open_notifier(
    sinks: Sequence[Sink],
    policy: NoticePolicy,
    *,
    wall_clock: Callable[[], float],
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Notifier]:
    """A notifier whose sending task lives as long as the ``async with`` block; notices still
    queued at its end are sent (each bounded by the send timeout) before it closes."""
    send, receive = trio.open_memory_channel[Notice](QUEUE_SIZE)
    notifier = Notifier(send)
    async with transport or httpx.AsyncHTTPTransport() as http, trio.open_nursery() as nursery:

        async def pump() -> None:
            async with receive:
                async for notice in receive:
                    now = wall_clock()
                    if sinks and policy.admit(notice, now):
                        at = dt.datetime.fromtimestamp(now, dt.UTC).isoformat()
                        await _deliver(sinks, http, notice, at, notifier)

        nursery.start_soon(pump)
        try:
            yield notifier
        finally:
            send.close()  # the pump drains what is queued, then ends


async def serve_transition_watch(
    strategies: Callable[[], Sequence[Any]],
    notifier: Notifier,
    changed: Callable[[], trio.Event],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Look at ``strategies()`` (each with ``name``, ``state``, ``restarts``) each time the event
    ``changed()`` returns is set, and notify what changed (``_notify.transitions``). Never
    returns."""
    seen, _ = transitions({}, strategies())
    task_status.started()
    while True:
        await changed().wait()
        seen, notices = transitions(seen, strategies())
        for notice in notices:
            notifier.notify(notice)
