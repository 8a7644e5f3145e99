"""The daemon's OPS hooks in one call: metrics for ``/metrics`` plus the services that feed them.

:func:`ops_hooks` returns ``(metrics_factory, services)`` for ``run_daemon(metrics_factory=...,
extra_services=...)``: the factory builds the :class:`~supervisor._metrics.SupervisorMetrics` of
a supervisor (its ``/metrics`` handler); the one service runs, for that same supervisor, the
event-loop lag probe feeding those metrics and the systemd notifier (``serve_sdnotify``, which
does nothing without ``$NOTIFY_SOCKET``). The pairing lives in this call's closure, not in a
module global, so two daemons in one process (tests) never share metrics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import trio

from ._metrics import SupervisorMetrics, metrics_handler_for
from ._sdnotify import serve_sdnotify

__all__ = ["ops_hooks"]


def ops_hooks(
    environ: Mapping[str, str] | None = None,
) -> tuple[Callable[[Any], SupervisorMetrics], list[Callable[[Any], Awaitable[None]]]]:
    """``(metrics_factory, [service])``; never blocks, raises nothing."""
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

    return metrics_factory, [ops_service]
