"""The :class:`Supervisor`: many strategy runners in one nursery, shutdown, statistics.

Shutdown (invariant 7) is two-phase and bounded:

1. every strategy's ``ctx.stopping`` is set and the strategies get ``shutdown_grace_s`` to
   return (heartbeats continue meanwhile); a second shutdown request skips what is left of it;
2. every runner cancels what is left and releases its session, all concurrently, each bounded
   by ``release_timeout_s``.

It never calls ``exit_run`` and never places an order: what happens to a run afterwards is the
backend's business (a paper run whose worker stays away 180 s is flattened and closed, §7.3).
A runner whose body cannot be cancelled (blocked in a thread or in C) is named by
:meth:`Supervisor.stuck`; the daemon decides what to do about it (``_daemon``: a hard deadline).

A refused token (401/403) while running is one problem, not a thousand: runners report it to
:class:`TokenRefusals`, which logs one line per :data:`REFUSAL_LOG_INTERVAL_S` for all of them.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio

from ._busy import BusyMeter
from ._config import SupervisorSection
from ._plugins import ResolvedStrategy, SkippedStrategy
from ._runner import NOT_READY_STATES, READY_STATES, StrategyRunner
from ._statedir import StateDir
from .client import AsyncKiteAlgoWorkerClient
from .client._errors import KiteAlgoWorkerError
from .client._rate_limit import OrderRateLimiter
from .hub import StreamHub

# releases in flight at once: the client's connection pool size (64). More would only queue
# inside httpcore, whose per-request queue scan makes a thousand queued releases quadratic.
RELEASE_CONCURRENCY = 64
# Beats in flight at once, all runs together: as many as the daemon's heartbeat pool has
# connections (_daemon.HEARTBEAT_CONNECTIONS). After an outage a thousand beats come due
# together; queued in httpcore's pool, each pool event scans the whole queue (CPU quadratic in
# its length) and at 1,000 strategies the queue never drained (bench/soak.py: beats timing out
# for minutes after the backend was back). Queued here instead, a wait costs O(1).
HEARTBEATS_IN_FLIGHT = 8
# one refused-token line per this many seconds: the acquire backoff's ceiling (a backoff cycle)
REFUSAL_LOG_INTERVAL_S = 30.0
_REFUSAL_GATHER_S = 1.0  # the first line waits this long for the rest of the cycle's refusals

__all__ = ["ShutdownReport", "StrategyStatistics", "Supervisor", "SupervisorStatistics", "TokenRefusals"]

log = logging.getLogger("supervisor.supervisor")


class TokenRefusals:
    """Counts strategies whose requests the backend refused for the token (401/403) and logs
    them as one line per cycle. ``refused`` never blocks; ``serve`` is the logging task."""

    def __init__(self, interval: float = REFUSAL_LOG_INTERVAL_S) -> None:
        self._interval = interval
        self._cycle: dict[str, str] = {}  # strategy -> error, since the last line
        self._wake = trio.Event()
        self.total = 0

    def refused(self, name: str, exc: KiteAlgoWorkerError) -> None:
        # str(exc) is the backend's detail ("Invalid worker token"); the token never is in it
        self._cycle[name] = f"{getattr(exc, 'status_code', None) or ''} {exc}".strip()
        self.total += 1
        self._wake.set()

    async def serve(self) -> None:
        while True:
            await self._wake.wait()
            await trio.sleep(_REFUSAL_GATHER_S)
            cycle, self._cycle = self._cycle, {}
            self._wake = trio.Event()
            if cycle:
                common, _ = Counter(cycle.values()).most_common(1)[0]
                log.error(
                    "the backend refuses the worker token (%s) for %d strategies (%s); they retry with "
                    "backoff; check KITE_ALGO_WORKER_TOKEN and its grants",
                    common,
                    len(cycle),
                    ", ".join(sorted(cycle)[:5]) + (", ..." if len(cycle) > 5 else ""),
                )
            await trio.sleep(self._interval - _REFUSAL_GATHER_S)


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
    progress_age_seconds: float | None = None  # since the strategy's last ctx.progress()
    progress_deadline_seconds: float | None = None
    stalls: int = 0
    takeover_wait_seconds: float | None = None  # in standby: until the session may be claimed
    # failed attempts by ErrorClass value (transient, denied, request)
    acquire_errors: Mapping[str, int] = field(default_factory=dict)
    heartbeat_errors: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SupervisorStatistics:
    strategies: tuple[StrategyStatistics, ...]
    skipped: tuple[SkippedStrategy, ...] = ()
    ready: bool = False
    shutting_down: bool = False
    token_refusals: int = 0


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
        busy_clock: Callable[[], float] | None = time.perf_counter,  # None: loop steps untimed
        order_rate: OrderRateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.hub = hub  # read by OPS's metrics (hub.statistics())
        self.order_rate = order_rate  # the client's order-rate budget, read by OPS's metrics
        self._busy = BusyMeter(busy_clock) if busy_clock is not None else None
        startup = trio.CapacityLimiter(settings.startup_concurrency)
        releases = trio.CapacityLimiter(RELEASE_CONCURRENCY)
        beats = trio.CapacityLimiter(HEARTBEATS_IN_FLIGHT)
        self.refusals = TokenRefusals()
        self.skipped = tuple(skipped)
        self._make_runner = partial(
            StrategyRunner,
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
            heartbeat_limiter=beats,
            on_state=self._state_changed,
            on_refused=self.refusals.refused,
        )
        self._changed = trio.Event()
        self.runners: dict[str, StrategyRunner] = {s.name: self._make_runner(s) for s in strategies}
        # every order intent the strategies' client sends is counted here, by run id, whichever
        # path placed it (ctx.run or ctx.client)
        client.observe_intents(self._count_intent)
        self._runner_nursery: trio.Nursery | None = None
        self.last_reload: dict[str, Any] | None = None
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
        self._changed.set()
        self._changed = trio.Event()

    def state_changed(self) -> trio.Event:
        """An event set at the next change of any runner's state (a crash's restart included:
        it passes through ``backoff``); ask again after it fires."""
        return self._changed

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
            async with trio.open_nursery() as services:
                services.start_soon(self.refusals.serve)
                async with trio.open_nursery() as nursery:
                    self._runner_nursery = nursery  # reload starts added strategies here
                    for runner in self.runners.values():
                        await nursery.start(runner.serve)
                    task_status.started(self)
                services.cancel_scope.cancel()
        finally:
            if self._busy is not None:
                trio.lowlevel.remove_instrument(self._busy)

    def _count_intent(self, run_id: str, outcome: str) -> None:
        for runner in self.runners.values():
            if runner.run_id == run_id:
                runner.intents[outcome] += 1
                return

    # -- reload -------------------------------------------------------------------------------
    async def reload(
        self, strategies: Sequence[ResolvedStrategy], skipped: Iterable[SkippedStrategy] = ()
    ) -> dict[str, Any]:
        """Make the hosted strategies the given ones: start the added, stop the removed (grace,
        then release), replace the changed (a different config or plugin). Strategies whose
        config did not change keep their runner, task and session untouched. Returns (and keeps
        as ``last_reload``) what changed. Blocks while strategies stop and start."""
        if self.shutting_down or self._runner_nursery is None:
            raise RuntimeError("not serving")
        wanted = {s.name: s for s in strategies}
        current = self.runners
        removed = [n for n in current if n not in wanted]
        changed = [
            n for n, s in wanted.items()
            if n in current and (current[n].resolved.config, current[n].resolved.strategy_cls)
            != (s.config, s.strategy_cls)
        ]  # fmt: skip
        added = [n for n in wanted if n not in current]
        outgoing = [current[n] for n in (*removed, *changed)]
        for runner in outgoing:
            runner.stopping.set()
        with trio.move_on_after(self.settings.shutdown_grace_s):
            async with trio.open_nursery() as nursery:
                for runner in outgoing:
                    nursery.start_soon(runner.wait_body_finished)
        async with trio.open_nursery() as nursery:
            for runner in outgoing:
                nursery.start_soon(runner.stop)
        for name in (*removed, *changed):
            del current[name]
        for name in (*changed, *added):
            runner = self._make_runner(wanted[name])
            current[name] = runner
            await self._runner_nursery.start(runner.serve)
        self.skipped = tuple(skipped)
        self.last_reload = {
            "added": added,
            "removed": removed,
            "changed": changed,
            "unchanged": sorted(n for n in wanted if n not in added and n not in changed),
            "skipped": [s.name for s in self.skipped],
        }
        return self.last_reload

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

    @property
    def last_report(self) -> ShutdownReport | None:
        """The shutdown report once :meth:`shutdown` has made it."""
        return self._report

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

    def stuck(self) -> list[str]:
        """Strategies whose tasks have not finished (after :meth:`shutdown`: bodies that could
        not be cancelled, e.g. blocked in ``trio.to_thread.run_sync`` or in C)."""
        return sorted(r.name for r in self.runners.values() if r.stuck)

    # -- operator and readers ----------------------------------------------------------------
    def restart(self, name: str) -> str:
        """Operator restart of strategy ``name``; raises ``KeyError`` for an unknown name."""
        return self.runners[name].request_restart()

    def control(self, name: str, action: str) -> str:
        """An operator action on strategy ``name``: restart, pause, resume or stop. Returns what
        happens (``restarting``, ``pausing``, ``resuming``, ``stopping``) or ``ignored``; raises
        ``KeyError`` for an unknown strategy or action. Never blocks."""
        runner = self.runners[name]
        act = {
            "restart": runner.request_restart,
            "pause": runner.request_pause,
            "resume": runner.request_resume,
            "stop": runner.request_stop,
        }[action]
        return act()

    def state_of(self, name: str) -> str:
        """Strategy ``name``'s state; raises ``KeyError`` for an unknown name."""
        return self.runners[name].state

    def ready(self) -> bool:
        """Every strategy has reached running, quarantined or standby, none is ``not_durable``
        (its session could not be made durable), and we are not stopping."""
        return not self.shutting_down and all(
            (r.reached_ready or r.state in READY_STATES) and r.state not in NOT_READY_STATES
            for r in self.runners.values()
        )

    def not_ready(self) -> list[dict[str, Any]]:
        """The strategies that keep the daemon from being ready, with state and reason."""
        return [
            {"name": r.name, "state": r.state, "reason": r.reason or r.last_error}
            for r in self.runners.values()
            if not (r.reached_ready or r.state in READY_STATES) or r.state in NOT_READY_STATES
        ]

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
                    progress_age_seconds=r.progress_age_s,
                    progress_deadline_seconds=r.progress_deadline_s,
                    stalls=r.stalls,
                    takeover_wait_seconds=r.takeover_wait_s,
                    acquire_errors=dict(r.sessions.acquire_errors),
                    heartbeat_errors=dict(r.heartbeats.errors),
                )
                for r in self.runners.values()
            ),
            skipped=self.skipped,
            ready=self.ready(),
            shutting_down=self.shutting_down,
            token_refusals=self.refusals.total,
        )

    def status(self) -> dict[str, Any]:
        """The ``/status`` document (JSON-ready)."""
        return {
            "ready": self.ready(),
            "not_ready": self.not_ready(),
            "shutting_down": self.shutting_down,
            "strategies": [
                {
                    "name": r.name,
                    "plugin": r.plugin,
                    "state": r.state,
                    "mode": r.resolved.config.run.execution_mode,  # paper, dry_run or live
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
                    "progress_count": r.progress.count,
                    "progress_age_s": _rounded(r.progress_age_s),
                    "progress_deadline_s": r.progress_deadline_s,
                    "stalls": r.stalls,
                    "takeover_wait_s": _rounded(r.takeover_wait_s),
                }
                for r in self.runners.values()
            ],
            "skipped": [{"name": s.name, "plugin": s.plugin, "reason": s.reason} for s in self.skipped],
            "last_reload": self.last_reload,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
