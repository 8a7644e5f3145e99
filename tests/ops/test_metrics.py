"""Metrics: a real daemon's /metrics, read back with prometheus_client's parser and promtool."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from supervisor._config import parse_config
from supervisor._daemon import DaemonHandle, run_daemon
from supervisor._looplag import serve_loop_lag
from supervisor._metrics import CATALOGUE, STATES, SupervisorMetrics, metrics_handler_for, status_class
from supervisor._ops import ops_hooks
from supervisor._plugins import PluginRegistry, resolve_strategies
from supervisor._supervisor import StrategyStatistics, SupervisorStatistics
from tests.daemon.strategies import BuyOnce, CrashAtOnce, Idle

CONFIG = """
backend: {base_url: embedded}
supervisor:
  heartbeat_interval_s: 5
  shutdown_grace_s: 2
  release_timeout_s: 2
  http: {host: 127.0.0.1, port: 0}
  restart: {initial_backoff_s: 1, max_backoff_s: 2, max_restarts: 2, window_s: 600}
strategies:
  - name: calm
    plugin: idle
    run: {strategy_run_id: run-calm, template_id: t, account_scope: "kite:paper-a"}
  - name: crashy
    plugin: crash
    run: {strategy_run_id: run-crashy, template_id: t, account_scope: "kite:paper-a"}
"""
WITH_BUYER = (
    CONFIG
    + """  - name: buyer
    plugin: buy
    run: {strategy_run_id: run-buyer, template_id: t, account_scope: "kite:paper-a"}
"""
)
REGISTRY = PluginRegistry.from_classes({"idle": Idle, "crash": CrashAtOnce, "buy": BuyOnce})


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


async def start_daemon(nursery: trio.Nursery, text: str = CONFIG) -> tuple[DaemonHandle, trio.Event]:
    config, locator = parse_config(text, file="ops.yaml", environ={})
    resolved, skipped = resolve_strategies(config, locator, REGISTRY)
    done = trio.Event()

    async def run(*, task_status: Any) -> None:
        await run_daemon(
            config,
            resolved,
            skipped=skipped,
            handle_signals=False,
            metrics_factory=metrics_handler_for,
            task_status=task_status,
        )
        done.set()

    handle: DaemonHandle = await nursery.start(run)
    return handle, done


async def test_daemon_metrics_reflect_live_state(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    handle, done = await start_daemon(nursery, WITH_BUYER)
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        await trio.sleep(30)
        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.text
    assert sample(text, "kite_supervisor_up") == 1
    assert sample(text, "kite_supervisor_strategies") == 3
    assert sample(text, "kite_supervisor_strategy_state", strategy="calm", state="running") == 1
    assert sample(text, "kite_supervisor_strategy_state", strategy="calm", state="backoff") == 0
    assert sample(text, "kite_supervisor_strategy_state", strategy="crashy", state="quarantined") == 1
    assert (sample(text, "kite_supervisor_strategy_restarts_total", strategy="crashy") or 0) >= 2
    assert sample(text, "kite_supervisor_strategy_quarantines_total", strategy="crashy") == 1
    assert (sample(text, "kite_supervisor_run_heartbeats_total", strategy="calm", outcome="ok") or 0) >= 5
    assert (sample(text, "kite_supervisor_run_last_heartbeat_timestamp_seconds", strategy="calm") or 0) > 1e9
    assert sample(text, "kite_supervisor_strategy_loop_busy_seconds_total", strategy="calm") is not None
    assert sample(text, "process_cpu_seconds_total") is not None
    # money, as the cockpit last read it from the backend: the buyer holds 2 INFY and paid charges
    assert sample(text, "kite_supervisor_strategy_open_positions", strategy="buyer") == 1
    assert sample(text, "kite_supervisor_strategy_open_positions", strategy="calm") == 0
    assert sample(text, "kite_supervisor_strategy_net_pnl_inr", strategy="calm") == 0
    buyer_pnl = sample(text, "kite_supervisor_strategy_net_pnl_inr", strategy="buyer")
    assert buyer_pnl is not None and buyer_pnl != 0
    # one-hot: exactly one state per strategy
    for name in ("calm", "crashy"):
        one_hot = [sample(text, "kite_supervisor_strategy_state", strategy=name, state=s) for s in STATES]
        assert one_hot.count(1.0) == 1 and one_hot.count(0.0) == len(STATES) - 1
    # no id-like labels ever
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert not {"run_id", "instrument", "order_id", "session", "nonce"} & set(s.labels)
            assert "run-calm" not in s.labels.values()
    (tmp_path / "scrape.txt").write_text(text)
    handle.request_shutdown()
    with trio.fail_after(20):
        await done.wait()
    if shutil.which("promtool"):
        lint = await trio.run_process(
            ["promtool", "check", "metrics"],
            stdin=text.encode(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        report = (lint.stdout + lint.stderr).decode()
        assert lint.returncode == 0, report
        assert report.strip() == "", report


@dataclass(frozen=True)
class Topic:
    kind: str
    key: str
    connected: bool
    subscribers: int
    reconnects: int
    last_event_unix: float | None
    events: int


@dataclass(frozen=True)
class Sub:
    name: str
    strategy: str | None
    queue_depth: int
    capacity: int
    conflations: int
    drops: int
    lags: int


@dataclass(frozen=True)
class HubStats:
    topics: tuple[Topic, ...]
    subscribers: tuple[Sub, ...]
    retries: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)


@dataclass
class Source:
    """A statistics() producer under the test's control (shapes from team-notes)."""

    value: Any
    calls: int = 0
    log: list[str] = field(default_factory=list)

    def statistics(self) -> Any:
        self.calls += 1
        return self.value


def strategy(name: str, **kw: Any) -> StrategyStatistics:
    base: dict[str, Any] = dict(
        name=name, plugin="p", state="running", run_id="r-" + name, restarts=0, quarantines=0,
        operator_restarts=0, heartbeats_ok=0, heartbeats_missed=0, heartbeats_conflict=0,
        last_heartbeat_unix=None,
        session_claims={}, session_releases={}, intents={}, loop_busy_seconds=0.0,
    )  # fmt: skip
    base.update(kw)
    return StrategyStatistics(**base)


def test_hub_and_counters_are_read_at_scrape_time_and_aggregated_without_instrument_labels() -> None:
    sup = Source(SupervisorStatistics(strategies=(strategy("a", intents={"accepted": 3, "rejected": 1}),)))
    hub = Source(
        HubStats(
            topics=(
                Topic("ticks", "NSE:INFY,NSE:TCS", True, 2, 1, 1000.0, 50),
                Topic("ticks", "NSE:SBIN", False, 1, 3, 900.0, 7),
                Topic("pnl", "run-a", True, 1, 0, None, 0),
            ),
            subscribers=(
                Sub("a/ticks/1", "a", 4, 64, 2, 5, 0),
                Sub("a/ticks/2", "a", 1, 64, 0, 1, 1),
                Sub("x", None, 0, 8, 0, 0, 0),
            ),
        )
    )
    registry = CollectorRegistry(auto_describe=False)
    metrics = SupervisorMetrics(sup, hub=hub, registry=registry, process_collector=False)
    assert sup.calls == 0  # nothing read until a scrape
    g = registry.get_sample_value
    assert g("kite_supervisor_order_intents_total", {"strategy": "a", "outcome": "accepted"}) == 3
    assert g("kite_supervisor_feed_topics", {"kind": "ticks", "connected": "true"}) == 1
    assert g("kite_supervisor_feed_topics", {"kind": "ticks", "connected": "false"}) == 1
    assert g("kite_supervisor_feed_reconnects_total", {"kind": "ticks"}) == 4
    assert g("kite_supervisor_feed_oldest_event_timestamp_seconds", {"kind": "ticks"}) == 900.0
    assert g("kite_supervisor_feed_oldest_event_timestamp_seconds", {"kind": "pnl"}) is None
    assert g("kite_supervisor_feed_subscribers", {"kind": "ticks"}) == 3
    assert g("kite_supervisor_subscription_drops_total", {"strategy": "a"}) == 6
    assert g("kite_supervisor_subscription_queue_depth", {"strategy": "a"}) == 5
    assert g("kite_supervisor_subscription_conflations_total", {"strategy": "a"}) == 2
    assert g("kite_supervisor_subscription_drops_total", {"strategy": "(daemon)"}) == 0
    # live: change the source, the next scrape shows it
    sup.value = SupervisorStatistics(
        strategies=(strategy("a", state="quarantined", quarantines=1, operator_restarts=2),)
    )
    assert g("kite_supervisor_strategy_operator_restarts_total", {"strategy": "a"}) == 2
    assert g("kite_supervisor_strategy_state", {"strategy": "a", "plugin": "p", "state": "quarantined"}) == 1
    assert g("kite_supervisor_strategy_state", {"strategy": "a", "plugin": "p", "state": "running"}) == 0
    body, content_type = metrics.render()
    assert b"NSE:INFY" not in body and b"r-a" not in body
    assert content_type.startswith("text/plain")


def test_request_observer_buckets_route_groups_and_status_classes() -> None:
    registry = CollectorRegistry(auto_describe=False)
    metrics = SupervisorMetrics(Source(SupervisorStatistics(strategies=())), registry=registry)
    metrics.observe_request("orders", 201, 0.03)
    metrics.observe_request("orders", "4xx", 0.2)
    metrics.observe_request("/worker/runs/abc123/orders", 500, 0.01)  # unknown group -> other
    metrics.observe_request("heartbeat", None, 10.0)
    g = registry.get_sample_value
    name = "kite_supervisor_backend_request_duration_seconds"
    assert g(name + "_count", {"route_group": "orders", "status_class": "2xx"}) == 1
    assert g(name + "_bucket", {"route_group": "orders", "status_class": "2xx", "le": "0.05"}) == 1
    assert g(name + "_bucket", {"route_group": "orders", "status_class": "2xx", "le": "0.025"}) == 0
    assert g(name + "_count", {"route_group": "orders", "status_class": "4xx"}) == 1
    assert g(name + "_count", {"route_group": "other", "status_class": "5xx"}) == 1
    assert g(name + "_count", {"route_group": "heartbeat", "status_class": "error"}) == 1
    classes = [status_class(s) for s in (200, 302, 404, 503, None, 0)]
    assert classes == ["2xx", "3xx", "4xx", "5xx", "error", "error"]


async def test_loop_lag_sees_a_hogged_loop(autojump_clock: trio.testing.MockClock) -> None:
    observed: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_loop_lag, observed.append, interval_s=0.25))
        await trio.sleep(1.0)
        assert observed and max(observed) == 0.0
        observed.clear()
        # a synchronous hog: trio time passes while nothing yields
        autojump_clock.jump(0.8)
        await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    assert observed[0] == pytest.approx(0.8 - 0.25, abs=1e-9) or max(observed) >= 0.5
    assert max(observed) >= 0.5


async def test_metrics_serve_loop_lag_feeds_its_histogram(autojump_clock: trio.testing.MockClock) -> None:
    registry = CollectorRegistry(auto_describe=False)
    metrics = SupervisorMetrics(Source(SupervisorStatistics(strategies=())), registry=registry)
    with trio.move_on_after(2.0):
        await metrics.serve_loop_lag(object(), interval_s=0.25)
    assert registry.get_sample_value("kite_supervisor_event_loop_lag_seconds_count") == 7


def test_catalogue_names_are_unique_and_conventional() -> None:
    names = [name for name, _, _, _ in CATALOGUE]
    assert len(names) == len(set(names))
    for name, kind, doc, labels in CATALOGUE:
        assert doc and name.islower()
        assert name.endswith("_total") == (kind == "counter"), name
        assert len(labels) <= 3


async def test_ops_hooks_wire_metrics_and_the_loop_lag_probe_into_the_daemon(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    hooks = ops_hooks()  # what `kite-supervisor run` uses
    config, locator = parse_config(CONFIG, file="ops.yaml", environ={})
    resolved, skipped = resolve_strategies(config, locator, REGISTRY)
    handle: DaemonHandle = await nursery.start(
        partial(
            run_daemon,
            config,
            resolved,
            skipped=skipped,
            handle_signals=False,
            metrics_factory=hooks.metrics_factory,
            extra_services=hooks.services,
            request_observer=hooks.observe_request,
        )
    )
    await trio.sleep(10)
    async with httpx.AsyncClient(base_url=handle.http_url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    assert (sample(text, "kite_supervisor_event_loop_lag_seconds_count") or 0) >= 30  # 4/s for 10 s
    assert sample(text, "kite_supervisor_strategy_state", strategy="calm", state="running") == 1

    # every backend request of the daemon's clients is timed, by route group and status class
    def requests(group: str, klass: str) -> float | None:
        name = "kite_supervisor_backend_request_duration_seconds_count"
        return sample(text, name, route_group=group, status_class=klass)

    assert requests("runs", "4xx") == 2  # each get_run is a 404 before its create
    assert requests("sessions", "2xx") == 3  # two claims, and crashy's release on quarantine
    assert (requests("heartbeat", "2xx") or 0) >= 4  # first beats, then calm's at +5 and +10 s
    handle.request_shutdown()
