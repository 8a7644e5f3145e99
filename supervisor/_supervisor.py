"""The :class:`Supervisor`: many strategy runners in one nursery, shutdown, statistics.

Shutdown (invariant 7) is two-phase and bounded:

1. every strategy's ``ctx.stopping`` is set and the strategies get ``shutdown_grace_s`` to
   return (heartbeats continue meanwhile); a second shutdown request skips what is left of it;
2. every runner cancels what is left and releases its session, all concurrently, each bounded
   by ``release_timeout_s``.

It never calls ``exit_run`` and never places an order: what happens to a run afterwards is the
backend's business (a paper run whose worker stays away 180 s is flattened and closed, §7.3).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from ._busy import BusyMeter
from ._config import SupervisorSection
from ._plugins import ResolvedStrategy, SkippedStrategy
from ._runner import READY_STATES, StrategyRunner
from ._statedir import StateDir
from .client import AsyncKiteAlgoWorkerClient
from .client._rate_limit import OrderRateLimiter
from .hub import StreamHub

# releases in flight at once: the client's connection pool size (64). More would only queue
# inside httpcore, whose per-request queue scan makes a thousand queued releases quadratic.
RELEASE_CONCURRENCY = 64

__all__ = ["ShutdownReport", "StrategyStatistics", "Supervisor", "SupervisorStatistics"]


@dataclass(frozen=True)
class StrategyStatistics:
    """One strategy, as OPS exports it (read at scrape time)."""

    name: str
    plugin: str
    state: str
    run_id: str
    restarts: int
    quarantines: int
    operator_restarts: int
    heartbeats_ok: int
    heartbeats_missed: int
    heartbeats_conflict: int
    last_heartbeat_unix: float | None
    session_claims: Mapping[str, int]
    session_releases: Mapping[str, int]
    intents: Mapping[str, int]
    loop_busy_seconds: float


@dataclass(frozen=True)
class SupervisorStatistics:
    strategies: tuple[StrategyStatistics, ...]
    skipped: tuple[SkippedStrategy, ...] = ()
    ready: bool = False
    shutting_down: bool = False


@dataclass(frozen=True)
class ShutdownReport:
    """Release outcome per strategy; ``unreleased`` names the sessions still held."""

    outcomes: Mapping[str, str] = field(default_factory=dict)

    @property
    def unreleased(self) -> list[str]:
        return sorted(name for name, outcome in self.outcomes.items() if outcome in ("error", "timeout"))

    @property
    def exit_code(self) -> int:
        return 1 if self.unreleased else 0


class Supervisor:
    """Hosts the runners. Start with ``await nursery.start(supervisor.serve)``; ``serve``
    returns after :meth:`shutdown` has stopped every runner.

    ``client`` serves the sessions and the strategies; ``heartbeat_client`` (default: the same)
    the steady heartbeats, so that a strategy keeping every pooled connection busy cannot delay
    them."""

    def __init__(
        self,
        strategies: Sequence[ResolvedStrategy],
        *,
        client: AsyncKiteAlgoWorkerClient,
        heartbeat_client: AsyncKiteAlgoWorkerClient | None = None,
        settings: SupervisorSection,
        state_dir: StateDir | None = None,
        hub: StreamHub | None = None,
        skipped: Iterable[SkippedStrategy] = (),
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        measure_busy: bool = True,
        order_rate: OrderRateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.hub = hub  # read by OPS's metrics (hub.statistics())
        self.order_rate = order_rate  # the client's order-rate budget, read by OPS's metrics
        self._busy = BusyMeter() if measure_busy else None
        startup = trio.CapacityLimiter(settings.startup_concurrency)
        releases = trio.CapacityLimiter(RELEASE_CONCURRENCY)
        self.skipped = tuple(skipped)
        self.runners: dict[str, StrategyRunner] = {
            s.name: StrategyRunner(
                s,
                client=client,
                heartbeat_client=heartbeat_client,
                settings=settings,
                state_dir=state_dir,
                hub=hub,
                wall_clock=wall_clock,
                rng=rng,
                busy=self._busy,
                startup_limiter=startup,
                release_limiter=releases,
                on_state=self._state_changed,
            )
            for s in strategies
        }
        self.shutting_down = False
        self._shutdown_requests = 0
        self._shutdown_requested = trio.Event()
        self._grace_scope: trio.CancelScope | None = None
        self._skip_grace = False
        self._report: ShutdownReport | None = None
        self._shutdown_done = trio.Event()
        self._ready = trio.Event()
        if not self.runners:
            self._ready.set()

    def _state_changed(self, runner: StrategyRunner) -> None:
        if not self._ready.is_set() and self.ready():
            self._ready.set()

    async def wait_ready(self) -> None:
        """Block until every strategy first reached running, quarantined or standby (for
        sd_notify READY=1). May wait forever when a strategy failed (closed run, mismatch)."""
        await self._ready.wait()

    def __repr__(self) -> str:
        return f"Supervisor(strategies={len(self.runners)})"

    async def serve(self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every runner (each in this nursery) and return once they have all stopped."""
        if self._busy is not None:
            trio.lowlevel.add_instrument(self._busy)
        try:
            async with trio.open_nursery() as nursery:
                for runner in self.runners.values():
                    await nursery.start(runner.serve)
                task_status.started(self)
        finally:
            if self._busy is not None:
                trio.lowlevel.remove_instrument(self._busy)

    # -- shutdown -----------------------------------------------------------------------------
    def request_shutdown(self) -> None:
        """Ask for a graceful shutdown (a signal handler calls this). A second request skips
        the rest of the grace period. Never blocks."""
        self._shutdown_requests += 1
        self._shutdown_requested.set()
        if self._shutdown_requests > 1:
            self._skip_grace = True
            if self._grace_scope is not None:
                self._grace_scope.cancel()

    async def wait_shutdown_requested(self) -> None:
        await self._shutdown_requested.wait()

    async def shutdown(self) -> ShutdownReport:
        """Stop every strategy and release every session; returns the report (idempotent).

        Blocks at most ``shutdown_grace_s + release_timeout_s`` plus scheduling.
        """
        if self.shutting_down:
            await self._shutdown_done.wait()
            assert self._report is not None
            return self._report
        self.shutting_down = True
        runners = list(self.runners.values())
        for runner in runners:
            runner.stopping.set()
        with trio.move_on_after(self.settings.shutdown_grace_s) as self._grace_scope:
            if self._skip_grace:
                self._grace_scope.cancel()
            async with trio.open_nursery() as nursery:
                for runner in runners:
                    nursery.start_soon(runner.wait_body_finished)
        outcomes: dict[str, str] = {}

        async def stop(runner: StrategyRunner) -> None:
            outcomes[runner.name] = await runner.stop()

        async with trio.open_nursery() as nursery:
            for runner in runners:
                nursery.start_soon(stop, runner)
        self._report = ShutdownReport(outcomes)
        self._shutdown_done.set()
        return self._report

    # -- operator and readers ----------------------------------------------------------------
    def restart(self, name: str) -> str:
        """Operator restart of strategy ``name``; raises ``KeyError`` for an unknown name."""
        return self.runners[name].request_restart()

    def ready(self) -> bool:
        """Every strategy has reached running, quarantined or standby (and we are not stopping)."""
        return not self.shutting_down and all(
            r.reached_ready or r.state in READY_STATES for r in self.runners.values()
        )

    def statistics(self) -> SupervisorStatistics:
        """A frozen snapshot for metrics; never blocks."""
        return SupervisorStatistics(
            strategies=tuple(
                StrategyStatistics(
                    name=r.name,
                    plugin=r.plugin,
                    state=r.state,
                    run_id=r.run_id,
                    restarts=r.restarts,
                    quarantines=r.quarantines,
                    operator_restarts=r.operator_restarts,
                    heartbeats_ok=r.heartbeats.ok,
                    heartbeats_missed=r.heartbeats.missed,
                    heartbeats_conflict=r.heartbeats.conflict,
                    last_heartbeat_unix=r.heartbeats.last_ok_unix,
                    session_claims=dict(r.sessions.claims),
                    session_releases=dict(r.sessions.releases),
                    intents=dict(r.intents),
                    loop_busy_seconds=r.loop_busy_seconds,
                )
                for r in self.runners.values()
            ),
            skipped=self.skipped,
            ready=self.ready(),
            shutting_down=self.shutting_down,
        )

    def status(self) -> dict[str, Any]:
        """The ``/status`` document (JSON-ready)."""
        return {
            "ready": self.ready(),
            "shutting_down": self.shutting_down,
            "strategies": [
                {
                    "name": r.name,
                    "plugin": r.plugin,
                    "state": r.state,
                    "reason": r.reason,
                    "run_id": r.run_id,
                    "recovered": r.recovered,
                    "restarts": r.restarts,
                    "quarantines": r.quarantines,
                    "operator_restarts": r.operator_restarts,
                    "last_error": r.last_error,
                    "heartbeats_ok": r.heartbeats.ok,
                    "heartbeats_missed": r.heartbeats.missed,
                    "last_heartbeat_unix": r.heartbeats.last_ok_unix,
                }
                for r in self.runners.values()
            ],
            "skipped": [{"name": s.name, "plugin": s.plugin, "reason": s.reason} for s in self.skipped],
        }
