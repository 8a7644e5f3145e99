"""An in-memory upstream for the hub's opener seam: tests emit payloads or failures per topic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio


class FakeUpstream:
    """Records every open; ``emit(kind, instrument_or_run, payload)`` sends to the live stream
    (for ticks: the newest live union stream carrying that instrument); emitting an exception
    makes that stream raise it (a dropped stream); ``refusals`` makes the next opens raise
    (an error status). Tick streams open with an empty snapshot, as the server's do."""

    def __init__(self) -> None:
        self.auto_snapshot = True
        self.opens: list[tuple[str, dict[str, Any], int | None]] = []
        self.live: dict[tuple[str, Any], trio.MemorySendChannel[Any]] = {}
        self.closed = 0
        self.refusals: list[BaseException | None] = []  # the next opens raise these (None: opens)

    @staticmethod
    def _ident(kind: str, params: dict[str, Any]) -> tuple[str, Any]:
        if kind == "ticks":  # quote-mode streams are "ticks", others "ticks:<mode>"
            mode = params.get("mode", "quote")
            return kind if mode == "quote" else f"ticks:{mode}", tuple(params["instruments"])
        return kind, params.get("instrument", params.get("run_id"))

    @asynccontextmanager
    async def open(self, kind: str, params: dict[str, Any], after: int | None) -> AsyncIterator[Any]:
        self.opens.append((kind, params, after))
        refusal = self.refusals.pop(0) if self.refusals else None
        if refusal is not None:  # the backend answered the open with an error status
            raise refusal
        send, recv = trio.open_memory_channel[Any](10_000)
        self.live[self._ident(kind, params)] = send
        if kind == "ticks" and self.auto_snapshot:
            send.send_nowait({"quotes": {}, "missing": []})

        async def events() -> AsyncIterator[Any]:
            async for item in recv:
                if isinstance(item, BaseException):
                    raise item
                yield item

        try:
            yield events()
        finally:
            self.live.pop(self._ident(kind, params), None)
            self.closed += 1

    def emit(self, kind: str, ident: Any, payload: Any) -> None:
        if kind == "ticks":
            (kind, ident), *_ = [k for k in reversed(self.live) if k[0] == "ticks" and ident in k[1]]
        self.live[(kind, ident)].send_nowait(payload)

    def emit_to(self, instruments: tuple[Any, ...], payload: Any) -> None:
        """Send to the tick stream of exactly ``instruments``."""
        self.live[("ticks", instruments)].send_nowait(payload)

    def tick_streams(self) -> list[tuple[Any, ...]]:
        """The instrument sets of the live tick streams (every mode), oldest first."""
        return [k[1] for k in self.live if k[0].startswith("ticks")]

    @property
    def connections(self) -> int:
        return len(self.live)


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


def tick(token: int, price: float) -> dict[str, Any]:
    return {"instrument_token": token, "tradingsymbol": f"T{token}", "last_price": price, "extra": 1}
