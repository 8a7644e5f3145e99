"""One strategy's life in the daemon: acquire the run's session, heartbeat it, run the body,
restart it after crashes, quarantine it when it keeps crashing, and release on the way out.

States (``StrategyRunner.state``)::

    starting ──> standby ──> running <──> backoff ──> quarantined ─(operator)─> starting
        │  │                 │  │  └──> session_lost ───────────────(operator)─> starting
        │  │                 │  ├──> paused (operator: the body is ended, the session kept and
        │  │                 │  │        heartbeating; resume starts it again, recovered=True)
        │  │                 │  └──> stopped (the body returned, shutdown, or an operator stop:
        │  │                 │           session released)
        │  │                 └──> stalled (no ctx.progress() within progress_deadline_s;
        │  │                        back to running on progress, or restarted if configured)
        │  └──> not_durable (the new nonce could not be fsynced: session released, not trading,
        │                    retried with backoff)
        └──> failed

Durable before trading: a newly claimed nonce is written and fsynced (file and directory) before
the body starts. When that fails the strategy does not trade, its session is released at once
(a restart without the nonce would otherwise wait out the 60 s takeover window, §7.5), and the
state says why. It retries with backoff; each retry's claim heartbeats once, so the backend's
180 s stale clock (§7.3) does not run out while the disk is full. In ``standby`` the seconds
until the holder's session can be taken over are kept in ``takeover_wait_s``.

The heartbeat task and the strategy body are sibling tasks: a body that crashes, hangs or
awaits forever never delays a beat (invariant 2). A body that *computes* without awaiting
blocks the whole trio thread; that is documented in :mod:`supervisor._strategy` and made visible
through ``loop_busy_seconds``. Heartbeats carry the runner's real state, never a fake "healthy"
for a strategy that is not running (invariant 3). The runner never trades (invariant 1).
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from ._busy import BusyMeter
from ._config import SupervisorSection
from ._managed_run import (
    Acquired,
    HeartbeatStats,
    RunMismatchError,
    RunUnavailableError,
    SessionCounters,
    StrategyRun,
    acquire_session,
    release_session,
    serve_heartbeats,
)
from ._plugins import ResolvedStrategy
from ._restart import RestartPolicy
from ._statedir import StateDir
from ._strategy import Progress, StrategyContext
from .client import AsyncKiteAlgoWorkerClient
from .client._backoff import Backoff
from .client._errors import (
    ErrorClass,
    KiteAlgoWorkerError,
    LiveTradingRefusedError,
    classify_error,
    retry_after_hint,
)
from .hub import StreamHub

__all__ = ["NOT_READY_STATES", "READY_STATES", "STATES", "SessionNotDurableError", "StrategyRunner"]

STATES = (
    "starting",
    "running",
    "backoff",
    "quarantined",
    "standby",
    "session_lost",
    "stopped",
    "failed",
    "not_durable",
    "stalled",
    "paused",
)
READY_STATES = frozenset({"running", "quarantined", "standby", "paused"})
NOT_READY_STATES = frozenset({"not_durable"})  # not ready even after having been ready once
HEARTBEAT_SLOT_S = 0.125  # a binary fraction: slot boundaries plus whole intervals stay exact
_OPERATOR_RESTARTABLE = frozenset({"quarantined", "session_lost", "failed", "stopped"})
_WITH_BODY = frozenset({"running", "backoff", "stalled"})  # a body runs or is about to
OPERATOR_STOPPED = (
    "stopped by the operator: session released; the backend acts on the run about 180 s after its "
    "last heartbeat (a paper run is flattened and closed, a dry_run run closed, a live run flagged)"
)
Refused = Callable[[str, KiteAlgoWorkerError], None]  # (strategy name, the 401/403 error)
# Obtaining the session again after a transient failure (no answer, 5xx, 503, 429): short and
# capped, so a strategy is back within about ACQUIRE_RETRY_MAX_S of the backend answering again
# (a 40 s outage used to cost 15-23 s more with a 30 s cap); jitter spreads a fleet's retries.
# A Retry-After is honoured up to ACQUIRE_RETRY_AFTER_MAX_S.
ACQUIRE_RETRY_INITIAL_S = 0.5
ACQUIRE_RETRY_MAX_S = 4.0
ACQUIRE_RETRY_JITTER = 0.25
ACQUIRE_RETRY_AFTER_MAX_S = 60.0


class SessionNotDurableError(Exception):
    """The new session nonce could not be made durable in the state directory."""


log = logging.getLogger("supervisor.runner")


class StrategyRunner:
    """Runs one configured strategy. Created and served by the supervisor (``serve``),
    stopped by it (``stop``). Public attributes are read by ``statistics()`` and ``/status``."""

    def __init__(
        self,
        resolved: ResolvedStrategy,
        *,
        client: AsyncKiteAlgoWorkerClient,
        heartbeat_client: AsyncKiteAlgoWorkerClient | None = None,
        settings: SupervisorSection,
        state_dir: StateDir | None = None,
        hub: StreamHub | None = None,
        wall_clock: Callable[[], float],
        rng: random.Random | None = None,
        busy: BusyMeter | None = None,
        startup_limiter: trio.CapacityLimiter | None = None,
        release_limiter: trio.CapacityLimiter | None = None,
        heartbeat_limiter: trio.CapacityLimiter | None = None,
        on_state: Callable[[StrategyRunner], None] | None = None,
        on_refused: Refused | None = None,
    ) -> None:
        self._on_state = on_state
        self._on_refused = on_refused
        self._startup_limiter = startup_limiter
        self._release_limiter = release_limiter
        self._heartbeat_limiter = heartbeat_limiter
        self.resolved = resolved
        self._busy = busy
        self.name = resolved.name
        self.plugin = resolved.config.plugin
        self.run_id = resolved.config.run.strategy_run_id
        self._client = client
        self._heartbeat_client = heartbeat_client or client
        self._settings = settings
        self._state_dir = state_dir
        self._on_disk: tuple[str, str | None] | None = None  # what the state dir holds for us
        self._hub = hub
        self._wall_clock = wall_clock
        self.policy = RestartPolicy(settings.restart, rng)
        # a refused token or a full disk: a long cycle (the refusal log's cycle is its ceiling)
        self._acquire_backoff = Backoff(1.0, 30.0, rng=rng)
        self._transient_backoff = Backoff(
            ACQUIRE_RETRY_INITIAL_S,
            ACQUIRE_RETRY_MAX_S,
            jitter=ACQUIRE_RETRY_JITTER,
            rng=rng,
            max_retry_after=ACQUIRE_RETRY_AFTER_MAX_S,
        )
        self.state = "starting"
        self.reason: str | None = None  # why failed / quarantined / lost / stopped
        self.last_error: str | None = None
        self.reached_ready = False
        self.recovered = False
        self.restarts = 0
        self.operator_restarts = 0  # accepted POST /strategies/{name}/restart
        self.quarantines = 0
        self.heartbeats = HeartbeatStats()
        self.sessions = SessionCounters()
        self.intents: Counter[str] = Counter()
        self.progress = Progress()
        self.loop_busy_seconds = 0.0
        self.progress_deadline_s = resolved.config.progress_deadline_s
        self.restart_on_stall = resolved.config.restart_on_stall
        self.stalls = 0
        self._body_started_at = 0.0
        self._stall_restart: str | None = None  # why the watchdog cancelled the body
        self._takeover_at: float | None = None  # trio time the holder's session becomes claimable
        self.stopping = trio.Event()
        self.nonce: str | None = None
        self.run_doc: Any = None
        self.log = logging.LoggerAdapter(log, {"strategy": self.name, "run_id": self.run_id})
        self._lifecycle_scope = trio.CancelScope()
        self._session_scope: trio.CancelScope | None = None
        self._body_scope: trio.CancelScope | None = None
        self._body_running = False
        self._body_finished = trio.Event()
        self._restart_requested = trio.Event()
        self._control: str | None = None  # "pause" or "stop", asked by the operator
        self._resume = trio.Event()
        self._restart_body = False
        self._lifecycle_done = trio.Event()

    def __repr__(self) -> str:
        return f"StrategyRunner(name={self.name!r}, state={self.state!r})"

    # -- state --------------------------------------------------------------------------------
    def _set_state(self, state: str, reason: str | None = None) -> None:
        if state != self.state:
            self.log.info("state %s -> %s%s", self.state, state, f" ({reason})" if reason else "")
        self.state = state
        if reason is not None or state in ("running", "starting"):
            self.reason = reason
        if state in READY_STATES:
            self.reached_ready = True
        if self._on_state is not None:
            self._on_state(self)

    def _report(self) -> tuple[str, dict[str, Any]]:
        """Status and metrics for the next heartbeat: the truth about the strategy."""
        if self.stopping.is_set():
            status = "stopping"
        elif self.state == "running":
            status = "healthy"
        else:
            status = "degraded"
        age = None if self.progress.last_at is None else round(trio.current_time() - self.progress.last_at, 3)
        metrics: dict[str, Any] = {
            "state": self.state,
            "restarts": self.restarts,
            "progress_count": self.progress.count,
            "progress_age_s": age,
        }
        if self.progress.metrics:
            metrics["strategy"] = dict(self.progress.metrics)
        return status, metrics

    @property
    def progress_age_s(self) -> float | None:
        """Seconds since the strategy's last ``ctx.progress()`` (``None``: never called)."""
        last = self.progress.last_at
        return None if last is None else trio.current_time() - last

    @property
    def takeover_wait_s(self) -> float | None:
        """In standby: seconds until the holder's session may be taken over (else ``None``)."""
        if self.state != "standby" or self._takeover_at is None:
            return None
        return max(0.0, self._takeover_at - trio.current_time())

    @property
    def stuck(self) -> bool:
        """The runner's tasks have not finished (after :meth:`stop`: a body that could not be
        cancelled, e.g. blocked in ``trio.to_thread.run_sync`` or in C)."""
        return not self._lifecycle_done.is_set()

    def _persist_cleared(self) -> None:
        # A cleared nonce is not fsynced and a failure only logged: a stale nonce on disk is
        # harmless (the next start compares it with the run document and claims).
        if self._state_dir is None or self._on_disk == (self.run_id, None):
            return
        try:
            self._state_dir.save(self.name, self.run_id, None, durable=False)
        except OSError as exc:
            self.log.warning("cannot clear the persisted session nonce: %s", exc)
            return
        self._on_disk = (self.run_id, None)

    def _on_nonce(self, nonce: str) -> None:
        # Durable before trading: a nonce the state dir cannot keep would leave a restarted
        # daemon waiting out the takeover window (or another worker taking the run) while this
        # one trades. Only changes are written (a re-attach finds its nonce on disk already).
        self.nonce = nonce
        if self._state_dir is None or self._on_disk == (self.run_id, nonce):
            return
        try:
            self._state_dir.save(self.name, self.run_id, nonce, durable=True)
        except OSError as exc:
            raise SessionNotDurableError(f"cannot persist the session nonce: {exc}") from exc
        self._on_disk = (self.run_id, nonce)

    def _on_standby(self, run: Any, seconds_left: float | None) -> None:
        now = trio.current_time()
        self._takeover_at = None if seconds_left is None else now + seconds_left
        when = "unknown" if seconds_left is None else f"{seconds_left:.0f}s"
        self._set_state("standby", f"another worker holds the session; takeover possible in {when}")

    # -- operator -----------------------------------------------------------------------------
    def request_restart(self) -> str:
        """Operator restart (``POST /strategies/{name}/restart``); never blocks.

        A quarantined, lost, failed or stopped strategy starts again from the session step with
        a fresh restart budget; a running or backing-off one restarts its body now.
        Returns ``"restarting"`` or ``"ignored"`` (shutting down, starting or standby).
        """
        if self.stopping.is_set():
            return "ignored"
        if self.state in _OPERATOR_RESTARTABLE:
            self._restart_requested.set()
        elif self.state in ("running", "backoff", "stalled") and self._body_scope is not None:
            self._restart_body = True
            self._body_scope.cancel()
        else:
            return "ignored"
        self.operator_restarts += 1
        return "restarting"

    def request_pause(self) -> str:
        """Operator pause: end the body, keep the session and its heartbeats (so the backend
        does not recover the run), until :meth:`request_resume`. Never blocks; returns
        ``"pausing"`` or ``"ignored"``."""
        if self.stopping.is_set() or self.state not in _WITH_BODY or self._body_scope is None:
            return "ignored"
        self._control = "pause"
        self._body_scope.cancel()
        return "pausing"

    def request_resume(self) -> str:
        """Start a paused body again (``recovered=True``). Returns ``"resuming"`` or ``"ignored"``."""
        if self.state != "paused" or self._control is not None:
            return "ignored"
        self._resume.set()
        return "resuming"

    def request_stop(self) -> str:
        """Operator stop: end the body and release the session (``OPERATOR_STOPPED`` says what
        the backend then does); a restart starts it again. Returns ``"stopping"`` or ``"ignored"``."""
        if self.stopping.is_set() or self.state not in _WITH_BODY | {"paused"}:
            return "ignored"
        self._control = "stop"
        if self.state == "paused":
            self._resume.set()
        elif self._body_scope is not None:
            self._body_scope.cancel()
        return "stopping"

    async def _hold(self) -> bool:
        """Carry out a pause or stop asked for; True when the body must not start again."""
        if self._control == "pause":
            self._control = None
            self._set_state("paused", "paused by the operator: session kept, heartbeats go on")
            self.log.info("paused by the operator")
            await self._resume.wait()
            self._resume = trio.Event()
            if self._control is None:
                self.log.info("resumed by the operator")
        if self._control == "stop":
            self._control = None
            return True
        return False

    async def _wait_operator(self) -> None:
        await self._restart_requested.wait()
        self._restart_requested = trio.Event()
        self.policy.reset()
        self.log.info("operator restart")
        self._set_state("starting")

    # -- life ---------------------------------------------------------------------------------
    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until :meth:`stop` (returns then). Never raises for the strategy's failures."""
        if self._busy is not None:
            self._busy.register(trio.lowlevel.current_task(), self._charge_busy)
        task_status.started()
        try:
            with self._lifecycle_scope:
                await self._lifecycle()
        finally:
            self._lifecycle_done.set()

    async def _lifecycle(self) -> None:
        while True:
            try:
                acquired = await self._acquire()
            except (RunMismatchError, RunUnavailableError, LiveTradingRefusedError) as exc:
                # permanent until an operator acts: retrying cannot change the answer
                self._set_state("failed", str(exc))
                self.log.error("%s", exc)
                await self._wait_operator()
                continue
            except SessionNotDurableError as exc:
                # not trading on a nonce a restart could not find; the disk may free up: retry
                self.last_error = str(exc)
                delay = self._acquire_backoff.next_delay()
                self._set_state("not_durable", f"{exc}; session released, not trading, retrying")
                self.log.error("%s; session released, not trading; retrying in %.1fs", exc, delay)
                await self._release_unpersisted()
                await trio.sleep(delay)
                continue
            except (KiteAlgoWorkerError, trio.TooSlowError) as exc:
                if await self._acquire_failed(exc):
                    continue
                await self._wait_operator()
                continue
            self._acquire_backoff.reset()
            self._transient_backoff.reset()
            end = await self._drive(acquired)
            if end == "session_lost":
                self.nonce = None
                self._persist_cleared()
                self._set_state("session_lost", "the backend gave the session to another worker (409)")
                self.log.error("session lost: strategy stopped, not fighting the new holder")
            else:
                await self._give_up(end)
            await self._wait_operator()

    async def _acquire_failed(self, exc: KiteAlgoWorkerError | trio.TooSlowError) -> bool:
        """Act on the class of an error met while obtaining the session (classified once, by
        :func:`classify_error`); counted in ``sessions.acquire_errors``. Returns ``True`` after
        the wait before the next attempt, ``False`` when the runner is now ``failed``."""
        self.last_error = f"{type(exc).__name__}: {exc}"
        kind = classify_error(exc)
        self.sessions.acquire_errors[kind.value] += 1
        if kind is ErrorClass.REQUEST:
            # a 4xx about this run (404: no such run, 409, 422): the same request gets the same
            # answer, so it is not retried until an operator restarts the strategy
            status = getattr(exc, "status_code", 0)
            self._set_state(
                "failed",
                f"the backend refused obtaining the run's session (HTTP {status}: {exc}); "
                "not retried: fix the run or the config, then restart the strategy",
            )
            self.log.error("cannot obtain the run's session, not retrying: %s", self.last_error)
            return False
        if kind is ErrorClass.DENIED:
            delay = self._acquire_backoff.next_delay()
            if self._on_refused is not None and isinstance(exc, KiteAlgoWorkerError):
                self._on_refused(self.name, exc)  # one line for every strategy, per cycle
            else:
                self.log.warning(
                    "the backend refuses the token (%s); retrying in %.1fs", self.last_error, delay
                )
        else:
            # the backend is unreachable or erroring: keep trying, visibly, soon
            delay = self._transient_backoff.next_delay(retry_after_hint(exc))
            self.log.warning(
                "cannot obtain the run's session (%s); retrying in %.1fs", self.last_error, delay
            )
        await trio.sleep(delay)
        return True

    async def _release_unpersisted(self) -> None:
        nonce = self.nonce
        if nonce is None:
            return
        outcome = await release_session(
            self._client,
            self.run_id,
            nonce,
            self.sessions,
            self._settings.release_timeout_s,
            limiter=self._release_limiter,
        )
        if outcome in ("ok", "conflict"):
            self.nonce = None

    async def _acquire(self) -> Acquired:
        persisted = self._state_dir.load(self.name) if self._state_dir is not None else None
        if persisted is not None:
            self._on_disk = (persisted.strategy_run_id, persisted.session_nonce)
        nonce = persisted.session_nonce if persisted and persisted.strategy_run_id == self.run_id else None
        settings = self._settings
        acquired = await acquire_session(
            self._client,
            self.resolved.config.run,
            persisted_nonce=nonce,
            counters=self.sessions,
            timeout=max(settings.beat_timeout_s, 5.0),
            standby_poll_s=settings.standby_poll_s,
            on_standby=self._on_standby,
            on_nonce=self._on_nonce,
            wall_clock=self._wall_clock,
            limiter=self._startup_limiter,
        )
        self._takeover_at = None
        self.recovered = not acquired.created
        self.run_doc = acquired.run
        self.log.info(
            "session %s (%s)",
            "re-attached" if acquired.reattached else "claimed",
            "new run" if acquired.created else "existing run",
        )
        return acquired

    def _charge_busy(self, seconds: float) -> None:
        self.loop_busy_seconds += seconds

    async def _heartbeats(self, nonce: str) -> None:
        if self._busy is not None:  # the daemon's own work is not the strategy's busy time
            self._busy.register(trio.lowlevel.current_task(), None)
        settings = self._settings
        interval = settings.heartbeat_interval_s
        # Beats due in the same slot share one wakeup of the event loop (a thousand strategies
        # spend measurably less idle CPU); the cadence is exact and drift-free from there on.
        first_at = math.ceil((trio.current_time() + interval) / HEARTBEAT_SLOT_S) * HEARTBEAT_SLOT_S
        await serve_heartbeats(
            self._heartbeat_client,
            self.run_id,
            nonce,
            first_at=first_at,
            interval=interval,
            timeout=settings.beat_timeout_s,
            stats=self.heartbeats,
            report=self._report,
            on_lost=self._on_lost,
            wall_clock=self._wall_clock,
            on_refused=None if self._on_refused is None else partial(self._on_refused, self.name),
            limiter=self._heartbeat_limiter,
        )

    def _on_lost(self) -> None:
        # stop trading at once: the new holder owns the run now (§8)
        self._set_state("session_lost", "the backend gave the session to another worker (409)")
        if self._session_scope is not None:
            self._session_scope.cancel()

    async def _drive(self, acquired: Acquired) -> str:
        """Heartbeat and run the body until it ends; returns finished, quarantined,
        operator_stop or session_lost."""
        assert self.nonce is not None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeats, self.nonce)
            if self.progress_deadline_s is not None:
                nursery.start_soon(self._watch_progress, self.progress_deadline_s)
            end = await self._supervise_body(acquired)
            nursery.cancel_scope.cancel()
        return end

    async def _supervise_body(self, acquired: Acquired) -> str:
        recovered = self.recovered
        run = StrategyRun(self._client, self.run_id, acquired.nonce, acquired.run, self.intents)
        with trio.CancelScope() as self._session_scope:
            while True:
                if await self._hold():
                    return "operator_stop"
                self._set_state("running")
                ctx = StrategyContext(
                    name=self.name,
                    params=self.resolved.params,
                    run=run,
                    recovered=recovered,
                    client=self._client,
                    stopping=self.stopping,
                    progress=self.progress,
                    hub=self._hub,
                    wall_clock=self._wall_clock,
                )
                crash = await self._run_body(ctx)
                if self.stopping.is_set():
                    # shutdown in progress: keep heartbeating until the supervisor releases us
                    self._set_state("stopped", "shutdown")
                    await trio.sleep_forever()
                if self._restart_body:
                    self._restart_body = False
                    self.policy.reset()
                    recovered = True
                    continue
                if self._control is not None:  # ended for a pause or a stop: not a crash
                    recovered = True
                    continue
                if crash is None:
                    return "finished"
                ran_for, error = crash
                self.restarts += 1
                delay = self.policy.on_crash(trio.current_time(), ran_for)
                if delay is None:
                    return "quarantined"
                self._set_state("backoff", error)
                self.log.warning("strategy crashed (%s); restarting in %.2fs", error, delay)
                with trio.CancelScope() as self._body_scope:  # an operator restart skips the wait
                    await trio.sleep(delay)
                self._restart_body = False
                recovered = True
        return "session_lost"

    async def _run_body(self, ctx: StrategyContext) -> tuple[float, str] | None:
        """Run one incarnation of the body; ``(ran_for, error)`` when it crashed."""
        started = trio.current_time()
        self._body_finished = trio.Event()
        self._body_running = True
        self._body_started_at = started
        self.progress.wake()  # the progress deadline counts from this start
        crash: tuple[float, str] | None = None
        try:
            with trio.CancelScope() as self._body_scope:
                try:
                    strategy = self.resolved.strategy_cls()
                    await strategy.run(ctx)
                except Exception as exc:  # isolation boundary: one strategy's crash stays its own
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self.log.error("strategy crashed", exc_info=True)
                    crash = (trio.current_time() - started, self.last_error)
        finally:
            self._body_running = False
            self._body_finished.set()
        if self._stall_restart is not None:
            # cancelled by the progress deadline (restart_on_stall): a crash for the policy
            self.last_error = self._stall_restart
            crash = (trio.current_time() - started, self._stall_restart)
            self._stall_restart = None
        return crash

    async def _watch_progress(self, limit: float) -> None:
        """The progress deadline: a body that has not called ``ctx.progress()`` for ``limit``
        seconds (counted from its start when it never has) is reported stalled: state, metric,
        a decision event on the run's timeline; restarted when ``restart_on_stall``. Never
        records progress itself."""
        while True:
            changed = self.progress.changed()
            last = self.progress.last_at
            since = self._body_started_at if last is None else max(last, self._body_started_at)
            with trio.move_on_at(since + limit):
                await changed.wait()
                continue
            if self._body_running and self.state == "running":
                await self._stalled(trio.current_time() - since, limit)
            await changed.wait()  # nothing to do until progress or a new body
            if self.state == "stalled" and self._body_running:
                self._set_state("running")
                self.log.info("progress resumed")

    async def _stalled(self, age: float, limit: float) -> None:
        self.stalls += 1
        reason = f"no progress for {age:.0f}s (progress_deadline_s={limit:g})"
        self._set_state("stalled", reason)
        self.log.error("strategy stalled: %s%s", reason, "; restarting it" if self.restart_on_stall else "")
        if self.restart_on_stall and self._body_scope is not None:
            self._stall_restart = f"stalled: {reason}"
            self._body_scope.cancel()
        meta = {
            "state": "stalled",  # the body may already be backing off when the note is sent
            "progress_age_s": round(age, 3),
            "progress_deadline_s": limit,
            "restarting": self.restart_on_stall,
        }
        await self._note(f"supervisor: strategy stalled, {reason}", "stalled", meta)

    async def note(self, summary: str, metadata: dict[str, Any]) -> None:
        """Put a supervisor's note (never a trading decision) on the run's timeline; bounded,
        failures only logged. Used by the loss breaker."""
        await self._note(summary, "supervisor", metadata)

    async def _note(self, summary: str, what: str, metadata: dict[str, Any]) -> None:
        """Tell the run's timeline what the supervisor saw (a note, never a trading decision;
        bounded by ``release_timeout_s``, failures only logged)."""
        nonce = self.nonce
        if nonce is None:
            return
        meta = {"source": "kite-algo-supervisor", "state": self.state, "restarts": self.restarts, **metadata}
        with trio.move_on_after(self._settings.release_timeout_s):
            try:
                await self._client.log_decision_event(
                    self.run_id,
                    session_nonce=nonce,
                    decision_type="note",
                    action="observe",
                    summary=summary[:500],
                    metadata=meta,
                )
            except KiteAlgoWorkerError as exc:
                self.log.warning("could not log the %s decision event: %s", what, exc)

    async def _give_up(self, end: str) -> None:
        """Quarantine (or a finished body): stop heartbeats, say why, release the session."""
        if end == "quarantined":
            self.quarantines += 1
            crashes = self.policy.crashes_in_window(trio.current_time())
            restart = self._settings.restart
            reason = (
                f"quarantined by the supervisor after {crashes} crashes within {restart.window_s:g}s "
                f"(max_restarts={restart.max_restarts}); last error: {self.last_error}"
            )
            self._set_state("quarantined", reason)
        elif end == "operator_stop":
            reason = OPERATOR_STOPPED
            self._set_state("stopped", reason)
        else:
            reason = "the strategy finished; session released by the supervisor"
            self._set_state("stopped", reason)
        self.log.error("%s", reason) if end == "quarantined" else self.log.info("%s", reason)
        nonce = self.nonce
        if nonce is None:
            return
        await self._note(reason, end, {})
        timeout = self._settings.release_timeout_s
        outcome = await release_session(
            self._client, self.run_id, nonce, self.sessions, timeout, limiter=self._release_limiter
        )
        if outcome in ("ok", "conflict"):
            self.nonce = None
            self._persist_cleared()

    # -- shutdown -----------------------------------------------------------------------------
    async def wait_body_finished(self) -> None:
        """Block until the strategy body is not running (returns at once if it is not)."""
        if self._body_running:
            await self._body_finished.wait()

    async def stop(self) -> str:
        """Cancel what is left of the strategy, then release its session (bounded).

        Call after setting ``stopping`` and allowing the grace period. Returns the release
        outcome: ok, conflict (it was already lost), error, timeout, or none (no session held).
        Never calls ``exit_run``.
        """
        self.stopping.set()
        timeout = self._settings.release_timeout_s
        self._lifecycle_scope.cancel()
        with trio.move_on_after(timeout):
            await self._lifecycle_done.wait()
        nonce = self.nonce
        outcome = "none"
        if nonce is not None:
            outcome = await release_session(
                self._client, self.run_id, nonce, self.sessions, timeout, limiter=self._release_limiter
            )
            if outcome in ("ok", "conflict"):
                self.nonce = None
                self._persist_cleared()
        if self.state not in ("failed", "quarantined", "session_lost"):
            self._set_state("stopped", "shutdown")
        return outcome
