"""The daemon's composition root: backend (or the embedded sandbox), clients, stream hub,
supervisor, HTTP and signals, nested so that teardown runs in the right order::

    root nursery
    ├── embedded sandbox (when backend.base_url is "embedded")   torn down last
    └── clients (requests, heartbeats, streams) ── stream hub ── services nursery
                                               ├── HTTP (/healthz /readyz /status /strategies/{name}/restart)
                                               ├── signal watcher: SIGTERM/SIGINT -> request_shutdown()
                                               ├── supervisor: one runner per strategy (released first)
                                               └── extra services (sd_notify, ...)

Heartbeats and the hub's streams each have a client (a connection pool) of their own: an open
stream holds its connection for as long as it lives, and a strategy may keep every connection
of its client busy; neither may take the connections that heartbeats need.

The heartbeat pool is small (:data:`HEARTBEAT_CONNECTIONS`): httpcore's pool does work per
request that grows with its open connections, and with 8 instead of 64 a burst of concurrent
beats costs measurably less CPU on loopback (bench/bench_daemon.py). Eight still carry 160
beats/s at 50 ms round trip, 1.6x what 1,000 strategies beating every 10 s send; a beat that
finds every connection busy waits its turn within its own timeout.

Once every strategy has started (the readiness point), the daemon runs ``gc.collect()`` and
``gc.freeze()`` (``supervisor.gc_freeze``, on by default): a thousand runners, their configs
and clients are long-lived, and every full collection would otherwise rescan them all while
the daemon idles. Freezing is process-wide; the daemon unfreezes on its way out.

:func:`run_daemon` returns the process exit code (:data:`EXIT_CODES`): 0 when every session was
released, 1 when some were not (they are named in the log), 4 when the backend refused the
worker token on the start-up probe (one ``GET /worker/health`` before any strategy starts; one
log line says so), 5 when a strategy could not be cancelled by the shutdown deadline.

Shutdown has a hard deadline, :func:`stop_deadline_s` after the first SIGTERM: the grace, the
cancellation wait and the release (each bounded by ``release_timeout_s``), then
:data:`UNWIND_S` for the tasks to unwind. A strategy body blocked in
``trio.to_thread.run_sync`` or in C cannot be cancelled and would keep the process alive
forever after its session was released; past the deadline the daemon names it in the log and
calls ``hard_exit(5)`` (the CLI's: flush the logs, ``os._exit``), well inside the stop timeouts
of deploy/systemd and deploy/k8s (a test checks the arithmetic).

Dependencies (client factories, hub factory, metrics handler, extra services, wall clock, hard
exit) are parameters; the defaults are the real client
(:class:`~supervisor.client.AsyncKiteAlgoWorkerClient`) and hub
(:func:`~supervisor.hub.open_stream_hub`), and the CLI adds the OPS hooks and the hard exit.
"""

from __future__ import annotations

import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import httpx
import trio

from ._cockpit import open_cockpit, serve_cockpit
from ._config import SupervisorConfig, SupervisorSection
from ._http import MetricsHandler, serve_http
from ._httpmetrics import ObservingTransport
from ._plugins import ResolvedStrategy, SkippedStrategy
from ._reload import Loader, Reloader
from ._statedir import StateDir
from ._supervisor import HEARTBEATS_IN_FLIGHT, ShutdownReport, Supervisor
from .client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient
from .client._errors import AuthError, KiteAlgoWorkerError, PermissionDeniedError
from .client._rate_limit import OrderRateLimiter
from .hub import StreamHub, open_stream_hub

__all__ = [
    "EXIT_AUTH",
    "EXIT_CODES",
    "EXIT_STUCK",
    "EXIT_UNRELEASED",
    "UNWIND_S",
    "DaemonHandle",
    "DaemonSetupError",
    "default_client_factory",
    "default_heartbeat_client_factory",
    "default_stream_client_factory",
    "run_daemon",
    "stop_deadline_s",
]

log = logging.getLogger("supervisor.daemon")

REQUEST_CONNECTIONS = 64  # per request client (the client's own default)
HEARTBEAT_CONNECTIONS = HEARTBEATS_IN_FLIGHT  # the heartbeat client's pool; why so few: docstring
STREAM_CONNECTIONS = 1024  # upstream topics open at once; one more waits for a free connection
RequestObserver = Callable[[str, int | str | None, float], None]  # (route group, status, seconds)
HubFactory = Callable[[AsyncKiteAlgoWorkerClient], AbstractAsyncContextManager[StreamHub]]

EXIT_UNRELEASED = 1  # some sessions were not released (named in the log)
EXIT_AUTH = 4  # the backend refused the worker token on the start-up probe (401/403)
EXIT_STUCK = 5  # a strategy could not be cancelled by the shutdown deadline (named in the log)
EXIT_CODES = {
    0: "every session released",
    EXIT_UNRELEASED: "some sessions were not released",
    2: "invalid config or plugin",
    3: "the daemon could not start (address in use, unusable state directory)",
    EXIT_AUTH: "the backend refused the worker token",
    EXIT_STUCK: "a strategy could not be cancelled by the shutdown deadline",
}
UNWIND_S = 5.0  # after the releases, for the daemon's tasks to finish before the hard exit
_NAMED_STUCK = 20  # stuck strategies named in the one line (a whole fleet would not fit)


def stop_deadline_s(settings: SupervisorSection) -> float:
    """Seconds from the first SIGTERM to the hard exit: ``shutdown_grace_s``, then the wait for
    cancellation and the release (``release_timeout_s`` each), then :data:`UNWIND_S`."""
    return settings.shutdown_grace_s + 2 * settings.release_timeout_s + UNWIND_S


class ClientFactory(Protocol):
    """Opens a client; ``observe`` (when given) is called once per backend request; the client
    reads the time (history's ``lookback_days``) from ``wall_clock``."""

    def __call__(
        self,
        base_url: str,
        token: str,
        timeout: float,
        *,
        observe: RequestObserver | None = None,
        order_limiter: OrderRateLimiter | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> AbstractAsyncContextManager[AsyncKiteAlgoWorkerClient]: ...


class DaemonSetupError(RuntimeError):
    """The daemon cannot start (no token for a remote backend, unusable state dir, ...)."""


@dataclass
class DaemonHandle:
    """Given to ``task_status`` once the daemon serves: for tests and embedding."""

    supervisor: Supervisor
    http_url: str
    backend_url: str
    sandbox: Any

    def request_shutdown(self) -> None:
        """What SIGTERM does. Never blocks."""
        self.supervisor.request_shutdown()


@asynccontextmanager
async def _open_client(
    base_url: str,
    token: str,
    timeout: float,
    observe: RequestObserver | None,
    *,
    connections: int,
    keepalive: int,
    order_limiter: OrderRateLimiter | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[AsyncKiteAlgoWorkerClient]:
    config = AlgoWorkerConfig(base_url=base_url, token=token, timeout=timeout)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=keepalive)
    inner = httpx.AsyncHTTPTransport(limits=limits)
    transport = inner if observe is None else ObservingTransport(inner, observe)
    async with AsyncKiteAlgoWorkerClient(
        config, transport=transport, order_limiter=order_limiter, wall_clock=wall_clock
    ) as client:
        yield client


def default_client_factory(
    base_url: str,
    token: str,
    timeout: float,
    *,
    observe: RequestObserver | None = None,
    order_limiter: OrderRateLimiter | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> AbstractAsyncContextManager[AsyncKiteAlgoWorkerClient]:
    """The client for the sessions and the strategies' calls, with a pool of 64 connections;
    its order calls draw on ``order_limiter``, the account's order-rate budget."""
    pool = REQUEST_CONNECTIONS
    return _open_client(
        base_url,
        token,
        timeout,
        observe,
        connections=pool,
        keepalive=pool,
        order_limiter=order_limiter,
        wall_clock=wall_clock,
    )


def default_heartbeat_client_factory(
    base_url: str,
    token: str,
    timeout: float,
    *,
    observe: RequestObserver | None = None,
    order_limiter: OrderRateLimiter | None = None,  # unused: heartbeats place no orders
    wall_clock: Callable[[], float] = time.time,
) -> AbstractAsyncContextManager[AsyncKiteAlgoWorkerClient]:
    """The heartbeats' own client, with a pool of :data:`HEARTBEAT_CONNECTIONS` (8)."""
    pool = HEARTBEAT_CONNECTIONS
    return _open_client(
        base_url, token, timeout, observe, connections=pool, keepalive=pool, wall_clock=wall_clock
    )


def default_stream_client_factory(
    base_url: str,
    token: str,
    timeout: float,
    *,
    observe: RequestObserver | None = None,
    order_limiter: OrderRateLimiter | None = None,  # unused: streams place no orders
    wall_clock: Callable[[], float] = time.time,
) -> AbstractAsyncContextManager[AsyncKiteAlgoWorkerClient]:
    """The stream hub's own client. An open stream holds its connection for as long as it
    lives: sharing the request client's pool, 64 topics would leave no connection for any
    heartbeat in the daemon."""
    return _open_client(
        base_url, token, timeout, observe, connections=STREAM_CONNECTIONS, keepalive=8, wall_clock=wall_clock
    )


def _order_limiter(
    settings: SupervisorSection, strategies: Sequence[ResolvedStrategy]
) -> OrderRateLimiter | None:
    rate = settings.order_rate
    if not rate.enabled:
        return None
    names = {s.config.run.strategy_run_id: s.name for s in strategies}  # the fairness key
    return OrderRateLimiter(rate.limits(), max_wait_s=rate.max_wait_s, names=names)


async def _watch_signals(supervisor: Supervisor, reloader: Reloader) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                log.info("SIGHUP: reload %s", reloader.request("SIGHUP"))
                continue
            first = not supervisor.shutting_down
            log.warning(
                "%s: %s",
                signal.Signals(signum).name,
                "graceful shutdown" if first else "skipping the rest of the grace period",
            )
            supervisor.request_shutdown()


async def _token_refused(client: AsyncKiteAlgoWorkerClient, timeout: float) -> str | None:
    """One authenticated probe (``GET /worker/health``, §4.1): why the token is refused, or
    ``None``. An unreachable or failing backend is not a refusal: the strategies retry."""
    try:
        with trio.fail_after(timeout):
            await client.health()
    except (AuthError, PermissionDeniedError) as exc:
        return f"{exc.status_code} {exc}"
    except (KiteAlgoWorkerError, trio.TooSlowError) as exc:
        log.warning("backend probe failed (%s); starting the strategies, they retry", type(exc).__name__)
    return None


# states an operator must hear about once more when the daemon stops (they read "stopped" after)
_NAMED_AT_STOP = ("quarantined", "stalled")


def _needing_attention(supervisor: Supervisor) -> dict[str, list[str]]:
    """``{state: [strategy, ...]}`` for the states of :data:`_NAMED_AT_STOP`, before shutdown."""
    states = {r.name: r.state for r in supervisor.runners.values()}
    return {want: sorted(n for n, s in states.items() if s == want) for want in _NAMED_AT_STOP}


def _log_report(report: ShutdownReport, attention: dict[str, list[str]] | None = None) -> None:
    for name in report.unreleased:
        log.error("session of strategy %s was NOT released (%s)", name, report.outcomes[name])
    released = sum(1 for o in report.outcomes.values() if o == "ok")
    named = "; ".join(f"{state}: {', '.join(names)}" for state, names in (attention or {}).items() if names)
    if named:
        log.warning("stopped: %d sessions released; %s", released, named)
    else:
        log.info("stopped: %d sessions released", released)


async def _enforce_stop_deadline(
    supervisor: Supervisor,
    deadline: float,
    hard_exit: Callable[[int], None] | None,
    attention: dict[str, list[str]],
) -> None:
    # cancelled when the daemon finishes in time; fires when something cannot be cancelled
    await trio.sleep_until(deadline)
    stuck = supervisor.stuck()
    report = supervisor.last_report
    if report is not None:
        _log_report(report, attention)
    named = ", ".join(stuck[:_NAMED_STUCK]) + (
        f" and {len(stuck) - _NAMED_STUCK} more" if len(stuck) > _NAMED_STUCK else ""
    )
    log.critical(
        "shutdown deadline passed: %s could not be cancelled (blocked in a thread or in C?); %s",
        f"strategies {named}" if stuck else "the daemon's own tasks",
        f"exiting with code {EXIT_STUCK}" if hard_exit is not None else "still waiting for them",
    )
    if hard_exit is not None:
        hard_exit(EXIT_STUCK)


async def _announce_ready(supervisor: Supervisor) -> None:
    await supervisor.wait_ready()
    states = [r.state for r in supervisor.runners.values()]
    log.info(
        "daemon ready: %d strategies (%d running, %d quarantined, %d standby)",
        len(states),
        states.count("running"),
        states.count("quarantined"),
        states.count("standby"),
    )


async def _freeze_after_start(supervisor: Supervisor) -> None:
    # the objects made at start-up live as long as the daemon: take them out of the
    # collector's full scans (module docstring)
    await supervisor.wait_ready()
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    pause_ms = 1000 * (time.perf_counter() - started)
    log.info("gc: %d start-up objects frozen (a %.0f ms pause, once)", gc.get_freeze_count(), pause_ms)


async def run_daemon(
    config: SupervisorConfig,
    strategies: list[ResolvedStrategy],
    *,
    skipped: list[SkippedStrategy] | None = None,
    state_dir: str | StateDir | None = None,
    client_factory: ClientFactory = default_client_factory,
    heartbeat_client_factory: ClientFactory = default_heartbeat_client_factory,
    stream_client_factory: ClientFactory = default_stream_client_factory,
    hub_factory: HubFactory | None = None,
    metrics_factory: Callable[[Supervisor], MetricsHandler] | None = None,
    request_observer: RequestObserver | None = None,
    extra_services: Sequence[Callable[[Supervisor], Awaitable[None]]] = (),
    handle_signals: bool = True,
    wall_clock: Callable[[], float] = time.time,
    busy_clock: Callable[[], float] | None = time.perf_counter,
    hard_exit: Callable[[int], None] | None = None,
    reload_strategies: Loader | None = None,
    task_status: trio.TaskStatus[DaemonHandle] = trio.TASK_STATUS_IGNORED,
) -> int:
    """Run the daemon until shutdown is requested; returns the exit code (blocks).

    ``request_observer(route_group, status, seconds)`` is called once per backend request of
    every client (the metrics' backend request histogram); ``extra_services`` are
    ``async def service(supervisor)`` tasks started once the runners are,
    and cancelled after the shutdown report (they may ``await supervisor.wait_ready()``).
    ``hard_exit(code)`` is called when the shutdown deadline passes with tasks that cannot be
    cancelled (the CLI's ends the process; without one, the stuck strategies are only logged).
    ``reload_strategies()`` re-reads the config for SIGHUP and ``POST /reload`` (``_reload``).
    ``busy_clock`` times each strategy's event-loop steps (``loop_busy_seconds``); ``None``
    leaves them untimed (a backtest, where nobody reads them and the timing costs 5 %).
    Raises :class:`DaemonSetupError` before anything starts when the setup is unusable, and
    ``OSError`` when the HTTP port cannot be bound.
    """
    settings = config.supervisor
    state_path = state_dir or settings.state_dir
    try:
        # a StateDir instance is the tests' seam (a full disk has no real counterpart there)
        store = (
            state_path if isinstance(state_path, StateDir) else StateDir(state_path) if state_path else None
        )
    except OSError as exc:
        raise DaemonSetupError(f"state directory {state_path}: {exc.strerror or exc}") from exc
    for skip in skipped or ():
        log.error("%s", skip)
    backend = config.backend
    if not backend.embedded and backend.token is None:
        raise DaemonSetupError(
            "backend.token is empty: set ${KITE_ALGO_WORKER_TOKEN} in the environment (remote backend)"
        )
    async with trio.open_nursery() as root:
        sandbox = None
        if backend.embedded:
            from supervisor.sandbox import serve_sandbox
            from supervisor.sandbox._auth import new_token

            token = store.secret("embedded-sandbox-token", new_token) if store else new_token()
            db_path = str(Path(store.path) / "sandbox.sqlite3") if store else None
            sandbox = await root.start(partial(serve_sandbox, token=token, db_path=db_path))
            base_url = sandbox.base_url
            # the one line an operator needs to point the SDK or a script at it (never the token)
            where = (
                f"its worker token is in {Path(store.path) / 'embedded-sandbox-token'}"
                if store
                else "its worker token lives only in this process (set supervisor.state_dir to keep it)"
            )
            log.info("embedded paper sandbox on %s/api/algo-workers; %s", base_url, where)
        else:
            assert backend.token is not None
            base_url, token = backend.base_url, backend.token.get_secret_value()
        timeout = backend.timeout_s
        # one order-rate budget for the one account (base_url, token) every strategy trades on;
        # the request client is the only one that places orders (ctx.client and ctx.run use it)
        limiter = _order_limiter(settings, strategies)
        observe = request_observer
        report: ShutdownReport | None = None
        attention: dict[str, list[str]] = {}
        async with (
            client_factory(
                base_url, token, timeout, observe=observe, order_limiter=limiter, wall_clock=wall_clock
            ) as client,
            heartbeat_client_factory(
                base_url, token, timeout, observe=request_observer, wall_clock=wall_clock
            ) as heartbeat_client,
            stream_client_factory(
                base_url, token, timeout, observe=request_observer, wall_clock=wall_clock
            ) as stream_client,
            (hub_factory or partial(open_stream_hub, transport=settings.hub.transport))(stream_client) as hub,
        ):
            refused = await _token_refused(client, timeout)
            if refused is not None:
                # one clear line instead of a retry loop per strategy that never becomes ready
                log.critical(
                    "the backend refused the worker token (%s) on %s: not starting %d strategies; "
                    "check KITE_ALGO_WORKER_TOKEN; exiting with code %d",
                    refused,
                    base_url,
                    len(strategies),
                    EXIT_AUTH,
                )
            else:
                supervisor = Supervisor(
                    strategies,
                    client=client,
                    heartbeat_client=heartbeat_client,
                    settings=settings,
                    state_dir=store,
                    hub=hub,
                    skipped=skipped or (),
                    wall_clock=wall_clock,
                    busy_clock=busy_clock,
                    order_rate=limiter,
                )
                reloader = Reloader(reload_strategies)
                async with (
                    open_cockpit(config, wall_clock=wall_clock) as cockpit,
                    trio.open_nursery() as services,
                ):
                    metrics_handler = metrics_factory(supervisor) if metrics_factory else None
                    cockpit.export_metrics(metrics_handler)  # net P&L, open positions
                    # HTTP first: /healthz answers while a thousand strategies attach
                    http_url = await services.start(
                        partial(
                            serve_http,
                            cockpit.view(supervisor),
                            host=settings.http.host,
                            port=settings.http.port,
                            metrics_handler=metrics_handler,
                            extra_routes={**cockpit.routes(supervisor), **reloader.routes()},
                            operator_token=(
                                settings.http.operator_token.get_secret_value()
                                if settings.http.operator_token
                                else None
                            ),
                        )
                    )
                    if handle_signals:
                        services.start_soon(_watch_signals, supervisor, reloader)
                    await services.start(supervisor.serve)
                    await services.start(reloader.serve, supervisor)
                    services.start_soon(_announce_ready, supervisor)
                    # money reads share the strategies' request client, never the heartbeats'
                    await services.start(partial(serve_cockpit, cockpit, supervisor, client))
                    if settings.gc_freeze:
                        services.start_soon(_freeze_after_start, supervisor)
                    for service in extra_services:
                        # e.g. sd_notify (READY/WATCHDOG/STOPPING); cancelled after shutdown
                        services.start_soon(service, supervisor)
                    log.info("daemon up: %d strategies, %d skipped", len(strategies), len(skipped or ()))
                    task_status.started(DaemonHandle(supervisor, http_url, base_url, sandbox))
                    await supervisor.wait_shutdown_requested()
                    attention = _needing_attention(supervisor)  # every state reads "stopped" after
                    deadline = trio.current_time() + stop_deadline_s(settings)
                    root.start_soon(_enforce_stop_deadline, supervisor, deadline, hard_exit, attention)
                    report = await supervisor.shutdown()
                    services.cancel_scope.cancel()
        root.cancel_scope.cancel()
    if settings.gc_freeze:
        gc.unfreeze()  # a daemon embedded in a longer-lived process leaves it as it found it
    if report is None:
        return EXIT_AUTH  # the probe's refusal, logged above
    _log_report(report, attention)
    return report.exit_code
