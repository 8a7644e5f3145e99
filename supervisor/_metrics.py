"""Prometheus metrics of the daemon: a registry it owns, live state read at scrape time.

Nothing here is a module global. :class:`SupervisorMetrics` owns one injected
``CollectorRegistry`` holding

* a custom collector (:class:`StatisticsCollector`) that calls ``supervisor.statistics()``,
  ``hub.statistics()`` and the order-rate limiter's ``statistics()`` on every scrape and turns
  the frozen snapshots into metric families, so the exported numbers can never drift from the
  daemon's own state;
* two histograms fed by the daemon while it runs: backend request duration
  (:meth:`SupervisorMetrics.observe_request`, fed by ``_httpmetrics.ObservingTransport`` at the
  client's transport seam, or by a client ``on_request`` observer) and
  event-loop lag (:meth:`SupervisorMetrics.serve_loop_lag`, a task, see ``_looplag``);
* the process collector (``process_*``).

Label cardinality is bounded by the config: ``strategy``/``plugin`` (one per configured
strategy), fixed enums (``state``, ``outcome``, ``kind``, ``route_group``, ``status_class``).
Never an instrument, order, run or session id (the run id is in ``/status`` and the logs).
The catalogue (:data:`CATALOGUE`) is the single list of names: the README table, the Grafana
dashboard test and the alert rules are checked against it.

Use from the daemon (blocks: nothing; all calls are cheap and synchronous except the task)::

    metrics = SupervisorMetrics(supervisor, hub=hub)          # or metrics_handler_for(supervisor)
    http routes: GET /metrics -> metrics.render()             # (body, content_type)
    nursery.start_soon(metrics.serve_loop_lag)                # event-loop lag probe
    client = AsyncKiteAlgoWorkerClient(cfg, transport=ObservingTransport(httpx.AsyncHTTPTransport(),
                                                    metrics.observe_request))   # _httpmetrics
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import trio
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from ._looplag import DEFAULT_LAG_INTERVAL_S, serve_loop_lag
from ._money_metrics import MONEY_CATALOGUE  # exported by the cockpit's MoneyCollector
from ._runner import STATES  # the one list of states, exported one-hot

if TYPE_CHECKING:
    from ._supervisor import Supervisor
    from .hub import HubStatistics

__all__ = [
    "CATALOGUE",
    "STATES",
    "StatisticsCollector",
    "SupervisorMetrics",
    "metrics_handler_for",
    "render_metrics",
    "status_class",
]

PREFIX = "kite_supervisor"
ROUTE_GROUPS = ("runs", "sessions", "heartbeat", "orders", "market", "streams", "other")
# the classic text format that generate_latest writes (Prometheus 2.x parses it natively)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# -- what we read (our own Protocols: the producers' dataclasses satisfy them) ---------------
class StrategyStatsLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def plugin(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def restarts(self) -> int: ...
    @property
    def quarantines(self) -> int: ...
    @property
    def operator_restarts(self) -> int: ...
    @property
    def heartbeats_ok(self) -> int: ...
    @property
    def heartbeats_missed(self) -> int: ...
    @property
    def heartbeats_conflict(self) -> int: ...
    @property
    def last_heartbeat_unix(self) -> float | None: ...
    @property
    def session_claims(self) -> Mapping[str, int]: ...
    @property
    def session_releases(self) -> Mapping[str, int]: ...
    @property
    def intents(self) -> Mapping[str, int]: ...
    @property
    def loop_busy_seconds(self) -> float: ...
    @property
    def progress_age_seconds(self) -> float | None: ...
    @property
    def stalls(self) -> int: ...
    @property
    def takeover_wait_seconds(self) -> float | None: ...
    @property
    def acquire_errors(self) -> Mapping[str, int]: ...
    @property
    def heartbeat_errors(self) -> Mapping[str, int]: ...


class SupervisorStatsLike(Protocol):
    @property
    def strategies(self) -> Sequence[StrategyStatsLike]: ...
    @property
    def token_refusals(self) -> int: ...
    @property
    def ready(self) -> bool: ...
    @property
    def shutting_down(self) -> bool: ...


class HasStatistics(Protocol):
    def statistics(self) -> Any: ...


# (name without prefix, type, help, labels) — the single source of metric names
CATALOGUE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("up", "gauge", "1 while the daemon answers scrapes", ()),
    ("ready", "gauge", "1 once every strategy reached running, quarantined or standby", ()),
    ("shutting_down", "gauge", "1 while a graceful shutdown is in progress", ()),
    ("strategies", "gauge", "Configured strategies", ()),
    ("skipped_strategies", "gauge", "Strategies skipped at startup (bad plugin or params)", ()),
    (
        "strategy_state",
        "gauge",
        "Strategy state, one-hot (1 for the current state)",
        ("strategy", "plugin", "state"),
    ),
    ("strategy_restarts_total", "counter", "Strategy restarts after a crash", ("strategy",)),
    (
        "strategy_quarantines_total",
        "counter",
        "Times a strategy was quarantined (restart budget spent)",
        ("strategy",),
    ),
    (
        "strategy_operator_restarts_total",
        "counter",
        "Operator restarts accepted (POST /strategies/{name}/restart)",
        ("strategy",),
    ),
    (
        "run_heartbeats_total",
        "counter",
        "Run heartbeats sent, by outcome (ok, missed, conflict)",
        ("strategy", "outcome"),
    ),
    (
        "run_last_heartbeat_timestamp_seconds",
        "gauge",
        "Unix time of the last accepted run heartbeat",
        ("strategy",),
    ),
    (
        "run_heartbeat_errors_total",
        "counter",
        "Failed run heartbeats, by error class (transient, denied, request)",
        ("strategy", "error_class"),
    ),
    ("session_claims_total", "counter", "Session claims/re-attaches, by outcome", ("strategy", "outcome")),
    (
        "session_acquire_errors_total",
        "counter",
        "Failed attempts to obtain the run's session, by error class (transient, denied, request)",
        ("strategy", "error_class"),
    ),
    (
        "session_releases_total",
        "counter",
        "Session releases, by outcome (ok, error, timeout, ...)",
        ("strategy", "outcome"),
    ),
    (
        "order_intents_total",
        "counter",
        "Order intents submitted by strategies, by outcome",
        ("strategy", "outcome"),
    ),
    (
        "strategy_loop_busy_seconds_total",
        "counter",
        "Event-loop time spent running this strategy's tasks",
        ("strategy",),
    ),
    (
        "strategy_progress_age_seconds",
        "gauge",
        "Seconds since the strategy's last ctx.progress() (absent before its first)",
        ("strategy",),
    ),
    (
        "strategy_stalls_total",
        "counter",
        "Times a strategy missed its progress deadline (progress_deadline_s)",
        ("strategy",),
    ),
    (
        "strategy_takeover_wait_seconds",
        "gauge",
        "In standby: seconds until the holder's session may be taken over",
        ("strategy",),
    ),
    ("token_refusals_total", "counter", "Backend requests refused for the worker token (401/403)", ()),
    ("feed_topics", "gauge", "Upstream stream topics, by kind and connection state", ("kind", "connected")),
    ("feed_subscribers", "gauge", "Subscribers attached to upstream topics", ("kind",)),
    ("feed_reconnects_total", "counter", "Upstream stream reconnects", ("kind",)),
    ("feed_events_total", "counter", "Upstream stream events received", ("kind",)),
    ("feed_retries_total", "counter", "Transient upstream stream failures retried, by topic kind", ("kind",)),
    ("feed_failures_total", "counter", "Upstream topics failed for good (a permanent error)", ("kind",)),
    (
        "feed_oldest_event_timestamp_seconds",
        "gauge",
        "Unix time of the last event of the stalest topic of a kind",
        ("kind",),
    ),
    ("subscription_queue_depth", "gauge", "Events queued for a strategy's subscriptions", ("strategy",)),
    ("subscription_queue_capacity", "gauge", "Queue capacity of a strategy's subscriptions", ("strategy",)),
    (
        "subscription_drops_total",
        "counter",
        "Events dropped for a slow subscriber (overflow policy)",
        ("strategy",),
    ),
    (
        "subscription_conflations_total",
        "counter",
        "Events conflated (replaced by a newer one) for a subscriber",
        ("strategy",),
    ),
    (
        "subscription_lags_total",
        "counter",
        "Times a subscriber fell behind and was resynchronised",
        ("strategy",),
    ),
    (
        "backend_request_duration_seconds",
        "histogram",
        "Backend HTTP request duration",
        ("route_group", "status_class"),
    ),
    ("event_loop_lag_seconds", "histogram", "How late the event loop wakes a sleeping task", ()),
    (
        "order_rate_waits_total",
        "counter",
        "Order requests that waited for the account's order-rate budget",
        ("strategy",),
    ),
    (
        "order_rate_refusals_total",
        "counter",
        "Order requests refused by the order-rate budget (OrderRateLimitedError)",
        ("strategy",),
    ),
    *MONEY_CATALOGUE,
)


def status_class(status: int | None) -> str:
    """``200 -> "2xx"``; ``None`` (no response: timeout, connection error) -> ``"error"``."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


def _counter(name: str, labels: Sequence[str]) -> CounterMetricFamily:
    doc = _HELP[name]
    return CounterMetricFamily(f"{PREFIX}_{name.removesuffix('_total')}", doc, labels=list(labels))


def _gauge(name: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", _HELP[name], labels=list(labels))


_HELP = {name: doc for name, _, doc, _ in CATALOGUE}


class StatisticsCollector(Collector):
    """Reads ``supervisor.statistics()`` (and the hub's, when given) at scrape time."""

    def __init__(
        self,
        supervisor: HasStatistics,
        hub: HasStatistics | None = None,
        order_rate: HasStatistics | None = None,
    ) -> None:
        self._supervisor = supervisor
        self._hub = hub
        self._order_rate = order_rate

    def describe(self) -> Iterable[Metric]:
        return []  # unchecked: families depend on live state

    def collect(self) -> Iterator[Metric]:
        yield from self._supervisor_families(self._supervisor.statistics())
        if self._hub is not None:
            yield from self._hub_families(self._hub.statistics())
        if self._order_rate is not None:
            waits = _counter("order_rate_waits_total", ("strategy",))
            refusals = _counter("order_rate_refusals_total", ("strategy",))
            for s in self._order_rate.statistics().strategies:
                waits.add_metric([s.strategy], s.waits)
                refusals.add_metric([s.strategy], s.refusals)
            yield from (waits, refusals)

    def _supervisor_families(self, stats: SupervisorStatsLike) -> Iterator[Metric]:
        strategies = list(stats.strategies)
        up = _gauge("up")
        up.add_metric([], 1)
        ready = _gauge("ready")
        ready.add_metric([], 1 if stats.ready else 0)
        stopping = _gauge("shutting_down")
        stopping.add_metric([], 1 if stats.shutting_down else 0)
        count = _gauge("strategies")
        count.add_metric([], len(strategies))
        skipped = _gauge("skipped_strategies")
        skipped.add_metric([], len(getattr(stats, "skipped", ())))
        state = _gauge("strategy_state", ("strategy", "plugin", "state"))
        restarts = _counter("strategy_restarts_total", ("strategy",))
        quarantines = _counter("strategy_quarantines_total", ("strategy",))
        operator = _counter("strategy_operator_restarts_total", ("strategy",))
        beats = _counter("run_heartbeats_total", ("strategy", "outcome"))
        last_beat = _gauge("run_last_heartbeat_timestamp_seconds", ("strategy",))
        beat_errors = _counter("run_heartbeat_errors_total", ("strategy", "error_class"))
        claims = _counter("session_claims_total", ("strategy", "outcome"))
        acquire_errors = _counter("session_acquire_errors_total", ("strategy", "error_class"))
        releases = _counter("session_releases_total", ("strategy", "outcome"))
        intents = _counter("order_intents_total", ("strategy", "outcome"))
        busy = _counter("strategy_loop_busy_seconds_total", ("strategy",))
        progress_age = _gauge("strategy_progress_age_seconds", ("strategy",))
        stalls = _counter("strategy_stalls_total", ("strategy",))
        takeover = _gauge("strategy_takeover_wait_seconds", ("strategy",))
        refusals = _counter("token_refusals_total", ())
        refusals.add_metric([], stats.token_refusals)
        for s in strategies:
            known = s.state if s.state in STATES else None
            for candidate in STATES:
                state.add_metric([s.name, s.plugin, candidate], 1 if candidate == known else 0)
            restarts.add_metric([s.name], s.restarts)
            quarantines.add_metric([s.name], s.quarantines)
            operator.add_metric([s.name], s.operator_restarts)
            beats.add_metric([s.name, "ok"], s.heartbeats_ok)
            beats.add_metric([s.name, "missed"], s.heartbeats_missed)
            beats.add_metric([s.name, "conflict"], s.heartbeats_conflict)
            if s.last_heartbeat_unix is not None:
                last_beat.add_metric([s.name], s.last_heartbeat_unix)
            for family, mapping in (
                (claims, s.session_claims),
                (releases, s.session_releases),
                (intents, s.intents),
                (beat_errors, s.heartbeat_errors),
                (acquire_errors, s.acquire_errors),
            ):
                for outcome, value in sorted(mapping.items()):
                    family.add_metric([s.name, outcome], value)
            busy.add_metric([s.name], s.loop_busy_seconds)
            if s.progress_age_seconds is not None:
                progress_age.add_metric([s.name], s.progress_age_seconds)
            stalls.add_metric([s.name], s.stalls)
            if s.takeover_wait_seconds is not None:
                takeover.add_metric([s.name], s.takeover_wait_seconds)
        yield from (
            up,
            ready,
            stopping,
            count,
            skipped,
            state,
            restarts,
            quarantines,
            operator,
            beats,
            last_beat,
            beat_errors,
        )
        yield from (claims, acquire_errors, releases, intents, busy, progress_age, stalls, takeover, refusals)

    def _hub_families(self, stats: HubStatistics) -> Iterator[Metric]:
        topics = _gauge("feed_topics", ("kind", "connected"))
        subscribers = _gauge("feed_subscribers", ("kind",))
        reconnects = _counter("feed_reconnects_total", ("kind",))
        events = _counter("feed_events_total", ("kind",))
        retries = _counter("feed_retries_total", ("kind",))
        failures = _counter("feed_failures_total", ("kind",))
        # by kind since the hub started: they outlive the topics that come and go
        for family, by_kind in ((retries, stats.retries), (failures, stats.failures)):
            for kind, value in sorted(by_kind.items()):
                family.add_metric([kind], value)
        oldest = _gauge("feed_oldest_event_timestamp_seconds", ("kind",))
        per_kind: dict[str, dict[str, float]] = {}
        stalest: dict[str, float] = {}
        for t in stats.topics:
            kind = str(t.kind)
            acc = per_kind.setdefault(
                kind, dict.fromkeys(("up", "down", "subs", "reconnects", "events"), 0.0)
            )
            acc["up" if t.connected else "down"] += 1
            acc["subs"] += t.subscribers
            acc["reconnects"] += t.reconnects
            acc["events"] += t.events
            last = t.last_event_unix
            if last is not None:
                stalest[kind] = min(stalest.get(kind, last), last)
        for kind, acc in sorted(per_kind.items()):
            topics.add_metric([kind, "true"], acc["up"])
            topics.add_metric([kind, "false"], acc["down"])
            subscribers.add_metric([kind], acc["subs"])
            reconnects.add_metric([kind], acc["reconnects"])
            events.add_metric([kind], acc["events"])
            if kind in stalest:
                oldest.add_metric([kind], stalest[kind])
        depth = _gauge("subscription_queue_depth", ("strategy",))
        capacity = _gauge("subscription_queue_capacity", ("strategy",))
        drops = _counter("subscription_drops_total", ("strategy",))
        conflations = _counter("subscription_conflations_total", ("strategy",))
        lags = _counter("subscription_lags_total", ("strategy",))
        per_strategy: dict[str, list[float]] = {}
        for sub in stats.subscribers:
            owner = sub.strategy or "(daemon)"
            acc2 = per_strategy.setdefault(str(owner), [0.0] * 5)
            acc2[0] += sub.queue_depth
            acc2[1] += sub.capacity
            acc2[2] += sub.drops
            acc2[3] += sub.conflations
            acc2[4] += sub.lags
        for owner, (d, c, dr, co, la) in sorted(per_strategy.items()):
            depth.add_metric([owner], d)
            capacity.add_metric([owner], c)
            drops.add_metric([owner], dr)
            conflations.add_metric([owner], co)
            lags.add_metric([owner], la)
        yield from (
            topics,
            subscribers,
            reconnects,
            events,
            retries,
            failures,
            oldest,
            depth,
            capacity,
            drops,
            conflations,
            lags,
        )


class SupervisorMetrics:
    """The daemon's metrics: owns its registry (``registry=`` to inject one)."""

    def __init__(
        self,
        supervisor: HasStatistics,
        *,
        hub: HasStatistics | None = None,
        order_rate: HasStatistics | None = None,
        registry: CollectorRegistry | None = None,
        process_collector: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=False)
        self.registry.register(StatisticsCollector(supervisor, hub, order_rate))
        self.request_duration = Histogram(
            f"{PREFIX}_backend_request_duration_seconds",
            _HELP["backend_request_duration_seconds"],
            ("route_group", "status_class"),
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            f"{PREFIX}_event_loop_lag_seconds",
            _HELP["event_loop_lag_seconds"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        if process_collector:
            ProcessCollector(registry=self.registry)

    def observe_request(self, route_group: str, status: int | str | None, seconds: float) -> None:
        """Record one backend request (the client's ``on_request`` observer). ``status`` is an
        HTTP status, a status class ("2xx") or None for no response. Never blocks or raises."""
        group = route_group if route_group in ROUTE_GROUPS else "other"
        klass = status if isinstance(status, str) else status_class(status)
        self.request_duration.labels(group, klass).observe(max(0.0, seconds))

    async def serve_loop_lag(
        self,
        *_: object,
        interval_s: float = DEFAULT_LAG_INTERVAL_S,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Feed the event-loop lag histogram until cancelled (a service; never returns).
        Extra positional arguments (e.g. the supervisor of an ``extra_services`` hook) are ignored."""
        await serve_loop_lag(self.loop_lag.observe, interval_s=interval_s, task_status=task_status)

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type (sync, cheap; the HTTP handler)."""
        return generate_latest(self.registry), CONTENT_TYPE

    __call__ = render


def metrics_handler_for(supervisor: Supervisor) -> SupervisorMetrics:
    """The daemon's hook: a :class:`SupervisorMetrics` of the supervisor, its hub and its
    order-rate limiter, which is also the ``() -> (body, type)`` handler that ``/metrics`` calls."""
    return SupervisorMetrics(supervisor, hub=supervisor.hub, order_rate=supervisor.order_rate)


def render_metrics(metrics: SupervisorMetrics) -> tuple[bytes, str]:
    """Module-level form of :meth:`SupervisorMetrics.render` for handler tables."""
    return metrics.render()
