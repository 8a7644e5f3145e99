"""One strategy's backend run: create-or-recover, the session, heartbeats and release.

Wire rules followed here (contract §4.2, §4.3, §7, §8, §9):

* **get-then-create**: ``GET /worker/runs/{id}``; 404 -> create. An existing run whose
  template, scope or mode differ from the config is refused (:class:`RunMismatchError`): that
  strategy fails, the daemon does not.
* **re-attach without waiting**: the run document exposes ``worker_session_nonce``; when it
  equals the nonce we persisted, a run heartbeat with it resumes the session at once (§9.1).
* **claim** when nobody holds the run; a claim mints a new nonce and we heartbeat immediately
  so that a third party cannot take it over (§4.3.1).
* **standby** when someone else holds it: poll ``get_run`` and claim only once the holder's
  heartbeats have lapsed past the takeover window (60 s, or 120 s after a claim without
  heartbeat). The seconds left are computed from the run document (:func:`takeover_wait_s`),
  reported, and the next poll is due no later than the window's end, so the wait ends in a
  claim at once. We never fight a live holder.
* a closed (or otherwise not ``open``) run is reported, never silently replaced (§7.1).
* **heartbeats** run in their own task on an absolute schedule (``trio.sleep_until``), each one
  bounded by a timeout. A 409 means the session is gone: the strategy is stopped at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from ._config import RunSection
from ._strategy_run import StrategyRun
from .client import AsyncKiteAlgoWorkerClient, RunConfig, RunConfigMismatchError
from .client._errors import (
    ConflictError,
    ErrorClass,
    KiteAlgoWorkerError,
    classify_error,
)

__all__ = [
    "Acquired",
    "HeartbeatStats",
    "RunMismatchError",
    "RunUnavailableError",
    "SessionCounters",
    "StrategyRun",
    "acquire_session",
    "release_session",
    "serve_heartbeats",
    "takeover_wait_s",
]

log = logging.getLogger("supervisor.run")

TAKEOVER_AFTER_HEARTBEAT_S = 60.0  # WORKER_SESSION_FRESHNESS_SECONDS (§7.5)
TAKEOVER_AFTER_CLAIM_S = 120.0  # WORKER_SESSION_CLAIM_WITHOUT_HEARTBEAT_SECONDS (§7.5)
_COMPARED = ("template_id", "account_scope", "execution_mode")
_UNLIMITED = contextlib.nullcontext()


class RunMismatchError(KiteAlgoWorkerError):
    """The existing run's template, account scope or mode differ from the config."""


class RunUnavailableError(KiteAlgoWorkerError):
    """The run exists but is not ``open`` (closed, exiting, failed, paused): not replaced."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class SessionCounters:
    """Outcomes of claims and releases, for metrics (keys: ok, conflict, error, timeout)."""

    claims: Counter[str] = field(default_factory=Counter)
    releases: Counter[str] = field(default_factory=Counter)
    # failed attempts to obtain the session, by ErrorClass value (transient, denied, request)
    acquire_errors: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Acquired:
    """How the session was obtained: ``created`` (new run), ``reattached`` (persisted nonce)."""

    nonce: str
    run: Any
    created: bool
    reattached: bool


def _mismatch(run: Any, cfg: RunSection) -> dict[str, tuple[str, str]]:
    return {
        name: (str(run.get(name)), str(getattr(cfg, name)))
        for name in _COMPARED
        if str(run.get(name)) != str(getattr(cfg, name))
    }


def _takeover_possible(run: Any) -> bool:
    """Whether the backend would let a new claim through (§4.3.1), from the run document."""
    if not run.get("worker_session_nonce"):
        return True
    status = run.get("session_status")
    if status in ("stale", "takeover_required"):
        # "stale" starts at 45 s, takeover at 60 s: use the age when the backend gives it
        age = run.get("heartbeat_age_sec")
        if status == "stale" and isinstance(age, int | float):
            return age > TAKEOVER_AFTER_HEARTBEAT_S
        return True
    return False


def takeover_wait_s(run: Any, now_unix: float) -> float | None:
    """Seconds until the backend lets a new claim through (§4.3.1), from the run document;
    0 when it would now, ``None`` when the document does not say."""
    if not run.get("worker_session_nonce"):
        return 0.0
    age = run.get("heartbeat_age_sec")
    if isinstance(age, int | float):
        # the backend floors the age to whole seconds and wants it *past* 60 s: one more second
        return max(0.0, TAKEOVER_AFTER_HEARTBEAT_S + 1.0 - age)
    claimed = run.get("worker_session_claimed_at")
    if isinstance(claimed, str):
        try:
            claimed_unix = dt.datetime.fromisoformat(claimed).timestamp()
        except ValueError:
            return None
        return max(0.0, TAKEOVER_AFTER_CLAIM_S + 1.0 - (now_unix - claimed_unix))
    return None


async def _claim_and_beat(
    client: AsyncKiteAlgoWorkerClient, run_id: str, counters: SessionCounters, timeout: float
) -> str | None:
    """Claim, then heartbeat at once (§4.3.1). ``None`` when someone holds the session."""
    try:
        with trio.fail_after(timeout):
            claim = await client.claim_session(run_id)
    except ConflictError:
        counters.claims["conflict"] += 1
        return None
    except (KiteAlgoWorkerError, trio.TooSlowError):
        counters.claims["error"] += 1
        raise
    counters.claims["ok"] += 1
    nonce = str(claim.get("worker_session_nonce"))
    try:
        with trio.fail_after(timeout):
            await client.run_heartbeat(run_id, session_nonce=nonce, status="starting", metrics={})
    except ConflictError:
        return None  # taken over between our claim and our first beat
    except (KiteAlgoWorkerError, trio.TooSlowError) as exc:
        if not _transient(exc):
            raise
        # The claim is ours: nobody may take it over for 120 s without a beat (§7.5), and the
        # heartbeat task beats within an interval. Dropping the nonce here would leave the run
        # held by a nonce nobody knows, and the strategy in standby for that long.
        log.warning("first heartbeat of %s after the claim failed (%s); keeping the session", run_id, exc)
    return nonce


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, trio.TooSlowError) or classify_error(exc) is ErrorClass.TRANSIENT


async def acquire_session(
    client: AsyncKiteAlgoWorkerClient,
    cfg: RunSection,
    *,
    persisted_nonce: str | None,
    counters: SessionCounters,
    timeout: float,
    standby_poll_s: float,
    on_standby: Callable[[Any, float | None], None],
    on_nonce: Callable[[str], None],
    wall_clock: Callable[[], float],
    limiter: trio.CapacityLimiter | None = None,
) -> Acquired:
    """Get-then-create the run and obtain its session; blocks (in standby) until we hold it.

    Calls ``on_standby(run_doc, seconds_left)`` each time it starts or keeps waiting for another
    holder (``seconds_left``: :func:`takeover_wait_s`) and ``on_nonce(nonce)`` as soon as a nonce
    is ours (it must make the nonce durable *before* trading; what it raises propagates, the
    nonce is then still held on the backend and the caller must release it). ``limiter``
    bounds how many strategies talk to the backend for this at once (not while waiting), so
    a thousand strategies starting together do not starve the heartbeats of the first. Raises
    :class:`RunMismatchError`, :class:`RunUnavailableError` or the client's errors.
    """
    run_id = cfg.strategy_run_id
    gate = limiter if limiter is not None else trio.CapacityLimiter(1)
    async with gate:
        wanted = RunConfig(
            strategy_run_id=run_id,
            template_id=cfg.template_id,
            account_scope=cfg.account_scope,
            execution_mode=cfg.execution_mode,
            summary_fields=cfg.summary_fields,
            risk_schema=cfg.risk_schema,
            runtime_state=cfg.runtime_state,
            metadata=cfg.metadata,
        )
        try:
            with trio.fail_after(timeout):
                run, created = await client.ensure_run(wanted)  # get-then-create, create races too
        except RunConfigMismatchError as exc:
            raise RunMismatchError(str(exc), status_code=409) from exc
    while True:
        async with gate:
            acquired = await _try_acquire(
                client,
                cfg,
                run,
                created=created,
                persisted_nonce=persisted_nonce,
                counters=counters,
                timeout=timeout,
            )
        if isinstance(acquired, Acquired):
            on_nonce(acquired.nonce)
            return acquired
        if acquired == "lost":
            persisted_nonce = None  # taken over in between
        left = takeover_wait_s(run, wall_clock())
        on_standby(run, left)
        # poll again when the window opens (plus nothing), or every standby_poll_s meanwhile
        await trio.sleep(min(standby_poll_s, left) if left else standby_poll_s)
        async with gate:
            with trio.fail_after(timeout):
                run = await client.get_run(run_id)
        created = False


async def _try_acquire(
    client: AsyncKiteAlgoWorkerClient,
    cfg: RunSection,
    run: Any,
    *,
    created: bool,
    persisted_nonce: str | None,
    counters: SessionCounters,
    timeout: float,
) -> Acquired | str:
    """One attempt on the run document ``run``: an :class:`Acquired`, or why not (held, lost)."""
    run_id = cfg.strategy_run_id
    if not created:
        diff = _mismatch(run, cfg)
        if diff:
            detail = ", ".join(f"{k}: backend {a!r} != config {b!r}" for k, (a, b) in diff.items())
            raise RunMismatchError(f"run {run_id} exists with a different config ({detail})", status_code=409)
        status = str(run.get("status", "open"))
        if status != "open":
            raise RunUnavailableError(
                f"run {run_id} is {status}; it is not replaced (use a new strategy_run_id)", status=status
            )
    held = run.get("worker_session_nonce")
    if held and persisted_nonce and held == persisted_nonce:
        # §9.1: ours from before a restart; resume with a heartbeat, no claim, no wait
        try:
            with trio.fail_after(timeout):
                await client.run_heartbeat(run_id, session_nonce=held, status="starting", metrics={})
        except ConflictError:
            return "lost"
        return Acquired(held, run, created=False, reattached=True)
    if _takeover_possible(run):
        nonce = await _claim_and_beat(client, run_id, counters, timeout)
        if nonce is not None:
            try:
                with trio.fail_after(timeout):
                    run = await client.get_run(run_id)
            except (KiteAlgoWorkerError, trio.TooSlowError) as exc:
                if not _transient(exc):
                    raise
                # the session is ours: keep it with the document read before the claim
                log.warning("reading %s after the claim failed (%s); keeping the session", run_id, exc)
            return Acquired(nonce, run, created=created, reattached=False)
    return "held"


async def release_session(
    client: AsyncKiteAlgoWorkerClient,
    run_id: str,
    nonce: str,
    counters: SessionCounters,
    timeout: float,
    *,
    limiter: trio.CapacityLimiter | None = None,
) -> str:
    """Release our session (§4.3.2); returns ok, conflict (already lost), error or timeout.

    Never raises the client's errors; blocks at most ``timeout`` seconds, waiting for
    ``limiter`` included (a thousand releases at shutdown queue there, not in the HTTP pool).
    """
    outcome = "ok"
    try:
        with trio.fail_after(timeout):
            async with limiter if limiter is not None else _UNLIMITED:
                await client.release_session(run_id, session_nonce=nonce)
    except ConflictError:
        outcome = "conflict"
    except trio.TooSlowError:
        outcome = "timeout"
    except KiteAlgoWorkerError as exc:
        log.warning("release of %s failed: %s", run_id, exc)
        outcome = "error"
    counters.releases[outcome] += 1
    return outcome


@dataclass
class HeartbeatStats:
    """Counters of one run's heartbeat task; ``recent`` keeps the trio times of the last beats."""

    ok: int = 0
    missed: int = 0
    conflict: int = 0
    last_ok: float | None = None  # trio time
    last_ok_unix: float | None = None
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=16))
    errors: Counter[str] = field(default_factory=Counter)  # failed beats by ErrorClass value


async def serve_heartbeats(
    client: AsyncKiteAlgoWorkerClient,
    run_id: str,
    nonce: str,
    *,
    interval: float,
    timeout: float,
    stats: HeartbeatStats,
    report: Callable[[], tuple[str, dict[str, Any]]],
    on_lost: Callable[[], None],
    wall_clock: Callable[[], float],
    first_at: float | None = None,
    on_beat: Callable[[], Awaitable[None]] | None = None,
    on_refused: Callable[[KiteAlgoWorkerError], None] | None = None,
    limiter: trio.CapacityLimiter | None = None,
) -> None:
    """Heartbeat ``run_id`` every ``interval`` seconds until cancelled or the session is lost.

    Beats are scheduled on absolute deadlines (``first_at``, then ``+interval``), so a slow beat
    never shifts the next one; a beat is abandoned after ``timeout`` and counted as missed, and
    slots that passed while one was outstanding are counted missed rather than sent late in a
    burst. ``report()`` supplies the status and metrics (the strategy's real state). A 409 calls
    ``on_lost()`` and returns: the daemon never fights another holder. A refused token (401/403)
    goes to ``on_refused`` when given (the daemon logs those once for all strategies), else to
    the log. ``limiter`` (shared by every run's beats) bounds the beats in flight; the wait
    for it counts against ``timeout``.
    """
    in_flight = limiter if limiter is not None else _UNLIMITED
    deadline = first_at if first_at is not None else trio.current_time() + interval
    while True:
        await trio.sleep_until(deadline)
        status, metrics = report()
        try:
            with trio.fail_after(timeout):
                async with in_flight:
                    await client.run_heartbeat(run_id, session_nonce=nonce, status=status, metrics=metrics)
        except ConflictError:
            stats.conflict += 1
            on_lost()
            return
        except trio.TooSlowError:
            stats.missed += 1
            stats.errors[ErrorClass.TRANSIENT.value] += 1
            log.warning("heartbeat of %s timed out after %.1fs", run_id, timeout)
        except KiteAlgoWorkerError as exc:
            stats.missed += 1
            kind = classify_error(exc)
            stats.errors[kind.value] += 1
            if on_refused is not None and kind is ErrorClass.DENIED:
                on_refused(exc)
            else:
                log.warning("heartbeat of %s failed: %s", run_id, exc)
        else:
            stats.ok += 1
            stats.last_ok = trio.current_time()
            stats.last_ok_unix = wall_clock()
            stats.recent.append(stats.last_ok)
            if on_beat is not None:
                await on_beat()
        deadline += interval
        now = trio.current_time()
        if deadline <= now:
            skipped = math.floor((now - deadline) / interval) + 1
            stats.missed += skipped
            deadline += skipped * interval
