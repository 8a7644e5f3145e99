"""The daemon's OPS hooks in one call: metrics for ``/metrics`` plus what feeds them.

:func:`ops_hooks` returns an :class:`OpsHooks` for ``run_daemon(metrics_factory=...,
extra_services=..., request_observer=...)``: the factory builds the
:class:`~supervisor._metrics.SupervisorMetrics` of a supervisor (its ``/metrics`` handler); the
one service runs, for that same supervisor, the event-loop lag probe feeding those metrics and
the systemd notifier (``serve_sdnotify``, which does nothing without ``$NOTIFY_SOCKET``); the
request observer feeds the backend request histogram of the metrics made (the daemon's clients
exist before its supervisor, so their requests are observed through this forwarder). The
pairing lives in this call's closure, not in a module global, so two daemons in one process
(tests) never share metrics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from ._metrics import SupervisorMetrics, metrics_handler_for
from ._sdnotify import serve_sdnotify

__all__ = ["OpsHooks", "ops_hooks"]


@dataclass(frozen=True)
class OpsHooks:
    metrics_factory: Callable[[Any], SupervisorMetrics]
    services: list[Callable[[Any], Awaitable[None]]]
    observe_request: Callable[[str, int | str | None, float], None]


def ops_hooks(environ: Mapping[str, str] | None = None) -> OpsHooks:
    """The hooks of one daemon; never blocks, raises nothing."""
    made: dict[int, SupervisorMetrics] = {}

    def metrics_factory(supervisor: Any) -> SupervisorMetrics:
        metrics = made[id(supervisor)] = metrics_handler_for(supervisor)
        return metrics

    async def ops_service(supervisor: Any) -> None:
        async with trio.open_nursery() as nursery:
            metrics = made.get(id(supervisor))
            if metrics is not None:
                nursery.start_soon(metrics.serve_loop_lag)
            nursery.start_soon(partial(serve_sdnotify, supervisor, environ=environ))

    def observe_request(route_group: str, status: int | str | None, seconds: float) -> None:
        # before the supervisor (and so its metrics) exists, there is nobody to tell
        for metrics in made.values():
            metrics.observe_request(route_group, status, seconds)

    return OpsHooks(metrics_factory, [ops_service], observe_request)
