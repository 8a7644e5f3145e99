"""Notifications: what deserves telling an operator, and how often (pure).

Notices come from two places: state transitions of the strategies (``transitions``: a crash, a
quarantine, a stall, a lost session, a loss breaker) and events the daemon raises itself (start,
stop, fills). :class:`NoticePolicy` decides which of them go out: the same notice (``key``)
within ``dedupe_s`` goes once, and at most ``per_minute`` go out in any 60 s, so a crash loop of
a thousand strategies sends a handful of messages, not a thousand; what it holds back is counted.
The sinks (``_notify_sinks``) do the sending. Nothing here blocks or does I/O; time is passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "KINDS",
    "Notice",
    "NoticePolicy",
    "NoticeStatistics",
    "StrategyView",
    "transitions",
]

Severity = Literal["info", "warning", "critical"]
KINDS = (
    "crash",
    "quarantine",
    "stall",
    "session_lost",
    "loss_breaker",
    "fill",
    "daemon_start",
    "daemon_stop",
)


@dataclass(frozen=True)
class Notice:
    kind: str
    text: str
    severity: Severity = "info"
    strategy: str | None = None
    key: str = ""  # what makes two notices "the same" for deduplication (default: kind+strategy)

    @property
    def dedupe_key(self) -> str:
        return self.key or f"{self.kind}:{self.strategy or ''}"


class StrategyView(Protocol):
    """What ``transitions`` reads of a strategy's statistics."""

    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def restarts(self) -> int: ...


# state -> (kind, severity, text); a strategy entering one of these states is worth a message
_ENTERED: dict[str, tuple[str, Severity, str]] = {
    "quarantined": ("quarantine", "critical", "quarantined after repeated crashes: its session is "
                    "released and the backend acts on the run about 180 s after its last heartbeat"),
    "stalled": ("stall", "warning", "stalled: no progress within its progress deadline"),
    "session_lost": ("session_lost", "critical", "lost its session to another worker"),
}  # fmt: skip


def transitions(
    before: Mapping[str, tuple[str, int]], now: Iterable[StrategyView]
) -> tuple[dict[str, tuple[str, int]], list[Notice]]:
    """Compare ``(state, restarts)`` per strategy with the previous look; returns the new look and
    the notices it implies (a strategy seen for the first time implies none)."""
    seen: dict[str, tuple[str, int]] = {}
    notices = []
    for strategy in now:
        seen[strategy.name] = (strategy.state, strategy.restarts)
        previous = before.get(strategy.name)
        if previous is None:
            continue
        state, restarts = previous
        if strategy.restarts > restarts:
            text = f"{strategy.name} crashed and was restarted (restart {strategy.restarts})"
            notices.append(Notice("crash", text, "warning", strategy.name))
        entered = _ENTERED.get(strategy.state)
        if entered is not None and strategy.state != state:
            kind, severity, text = entered
            notices.append(Notice(kind, f"{strategy.name} {text}", severity, strategy.name))
    return seen, notices


@dataclass(frozen=True)
class NoticeStatistics:
    sent: int
    deduplicated: int
    rate_limited: int


class NoticePolicy:
    """Deduplication and a rate limit over all notices (module docstring). Never blocks."""

    def __init__(self, *, dedupe_s: float = 300.0, per_minute: int = 20) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.dedupe_s = dedupe_s
        self.per_minute = per_minute
        self._last_sent: dict[str, float] = {}
        self._window: deque[float] = deque()
        self._sent = self._deduplicated = self._rate_limited = 0

    def admit(self, notice: Notice, now: float) -> bool:
        """Whether ``notice`` goes out at ``now`` (and count it either way)."""
        last = self._last_sent.get(notice.dedupe_key)
        if last is not None and now - last < self.dedupe_s:
            self._deduplicated += 1
            return False
        while self._window and now - self._window[0] >= 60.0:
            self._window.popleft()
        if len(self._window) >= self.per_minute:
            self._rate_limited += 1
            return False
        self._window.append(now)
        self._last_sent[notice.dedupe_key] = now
        if len(self._last_sent) > 10_000:  # bounded: forget keys older than the window
            self._last_sent = {k: t for k, t in self._last_sent.items() if now - t < self.dedupe_s}
        self._sent += 1
        return True

    def statistics(self) -> NoticeStatistics:
        return NoticeStatistics(self._sent, self._deduplicated, self._rate_limited)
