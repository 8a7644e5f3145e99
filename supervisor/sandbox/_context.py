"""``AppContext``: what every sandbox route handler receives next to the request.

The composition root (``_app.build_app``) creates one per server. Handlers read the time once
(``ctx.now()``), authenticate (``ctx.authenticate(request, action)``), call the pure state or
market objects, then call ``ctx.changed()`` after a mutation (write-through persistence) and
``ctx.publish(events)`` for timeline events that live streams must see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from ._asgi import Request
from ._auth import TokenRecord, TokenStore, require_action
from ._clock import SandboxClock
from ._market import Market
from ._paper import PaperEngine
from ._quotes import QuoteCache
from ._state import SandboxState


def _noop(*_args: Any) -> None:
    return None


class ChangeSignal:
    """Wakes every waiter when something changed (no queue: waiters re-read the state).

    Usage: ``seen = signal.generation`` ... read state ... ``await signal.wait_after(seen)``.
    """

    def __init__(self) -> None:
        self._event = anyio.Event()
        self.generation = 0

    def fire(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = anyio.Event()

    async def wait_after(self, generation: int) -> None:
        """Return once ``fire()`` has been called after ``generation`` was read."""
        while self.generation == generation:
            await self._event.wait()


@dataclass(eq=False)
class AppContext:
    """Shared objects of one sandbox server (see module docstring).

    Attributes: ``state`` (the pure ``SandboxState``), ``clock``, ``tokens``, ``engine`` (the
    ``PaperEngine``; ``market`` is its ``Market``), ``faults``, ``extras`` (the token minter),
    ``timeline_signal`` (new timeline events), ``tick_signal`` (fired on each market step that
    moved prices), ``quotes`` (the step's quote documents), ``on_change`` (persistence hook),
    ``on_publish`` (live timeline fan-out).
    """

    state: SandboxState
    clock: SandboxClock
    tokens: TokenStore
    engine: PaperEngine
    faults: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
    timeline_signal: ChangeSignal = field(default_factory=ChangeSignal)
    tick_signal: ChangeSignal = field(default_factory=ChangeSignal)
    quotes: QuoteCache = field(default_factory=QuoteCache)
    on_change: Callable[[], None] = _noop
    on_publish: Callable[[list[dict[str, Any]]], None] = _noop

    @property
    def market(self) -> Market:
        return self.engine.market

    def now(self) -> dt.datetime:
        """The sandbox's current aware UTC time."""
        return self.clock.now()

    def authenticate(self, request: Request, action: str | None = None) -> TokenRecord:
        """The caller's token; raises ``ApiError`` 401 (bad token) or 403 (missing ``action``)."""
        record = self.tokens.authenticate(request.headers.get("authorization"), self.now())
        if action is not None:
            require_action(record, action)
        return record

    def changed(self) -> None:
        """Mark state as mutated: the store writes it through before the response is sent."""
        self.on_change()

    def publish(self, events: list[dict[str, Any]]) -> None:
        """Hand new timeline events to live timeline streams."""
        if events:
            self.on_publish(events)
