"""Backend request durations observed at the transport seam, grouped without ids."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from supervisor._httpmetrics import ObservingTransport, route_group
from supervisor._metrics import SupervisorMetrics
from supervisor._supervisor import SupervisorStatistics


@pytest.mark.parametrize(
    ("method", "path", "group"),
    [
        ("POST", "/api/algo-workers/worker/runs", "runs"),
        ("GET", "/api/algo-workers/worker/runs/run-123", "runs"),
        ("POST", "/api/algo-workers/worker/runs/run-123/claim-session", "sessions"),
        ("DELETE", "/api/algo-workers/worker/runs/run-123/claim-session", "sessions"),
        ("POST", "/api/algo-workers/worker/runs/run-123/heartbeat", "heartbeat"),
        ("POST", "/api/algo-workers/worker/heartbeat", "heartbeat"),
        ("POST", "/api/algo-workers/worker/runs/run-123/intents", "orders"),
        ("POST", "/api/algo-workers/worker/runs/run-123/preview/order", "orders"),
        ("POST", "/api/algo-workers/worker/orders/230512000001/cancel", "orders"),
        ("POST", "/api/algo-workers/worker/market/quotes", "market"),
        ("GET", "/api/algo-workers/worker/market/ticks/stream", "streams"),
        ("GET", "/api/algo-workers/worker/runs/run-123/pnl/stream", "streams"),
        ("GET", "/api/algo-workers/worker/runs/run-123/pnl", "runs"),
        ("GET", "/api/algo-workers/worker/funds", "other"),
    ],
)
def test_route_groups(method: str, path: str, group: str) -> None:
    assert route_group(method, path) == group


class Fails(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)


async def test_observing_transport_feeds_the_histogram() -> None:
    registry = CollectorRegistry(auto_describe=False)
    metrics = SupervisorMetrics(_Stats(), registry=registry, process_collector=False)
    ticks = iter([0.0, 0.04, 1.0, 1.5])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409 if request.url.path.endswith("claim-session") else 200, json={})

    transport = ObservingTransport(
        httpx.MockTransport(handler), metrics.observe_request, clock=lambda: next(ticks)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://backend") as http:
        assert (await http.post("/api/algo-workers/worker/runs/r-1/heartbeat")).status_code == 200
        assert (await http.post("/api/algo-workers/worker/runs/r-1/claim-session")).status_code == 409
    failing = ObservingTransport(Fails(), metrics.observe_request, clock=lambda: 0.0)
    async with httpx.AsyncClient(transport=failing, base_url="http://backend") as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/api/algo-workers/worker/market/quotes")
    g = registry.get_sample_value
    name = "kite_supervisor_backend_request_duration_seconds"
    assert g(name + "_sum", {"route_group": "heartbeat", "status_class": "2xx"}) == pytest.approx(0.04)
    assert g(name + "_sum", {"route_group": "sessions", "status_class": "4xx"}) == pytest.approx(0.5)
    assert g(name + "_count", {"route_group": "market", "status_class": "error"}) == 1
    assert b"r-1" not in metrics.render()[0]


class _Stats:
    def statistics(self) -> SupervisorStatistics:
        return SupervisorStatistics(strategies=())
