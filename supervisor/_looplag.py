"""Event-loop lag: how late does a sleeping task wake up?

Every strategy, heartbeat and feed shares one trio thread. When something computes without
awaiting, every other task wakes late. :func:`serve_loop_lag` sleeps until a deadline on trio's
clock, measures how far past the deadline it actually ran (the overshoot) and hands that to an
observer (normally a Prometheus histogram). A hogged loop shows up as large overshoots; an
idle loop as ~0. Deadlines are absolute (``sleep_until``) so the probe itself never drifts.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

__all__ = ["DEFAULT_LAG_INTERVAL_S", "serve_loop_lag"]

DEFAULT_LAG_INTERVAL_S = 0.25


async def serve_loop_lag(
    observe: Callable[[float], None],
    *,
    interval_s: float = DEFAULT_LAG_INTERVAL_S,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Probe the loop every ``interval_s`` and call ``observe(overshoot_seconds)``.

    Never returns (cancel it). Raises ``ValueError`` for a non-positive interval.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    task_status.started()
    deadline = trio.current_time()
    while True:
        deadline += interval_s
        now = trio.current_time()
        if deadline < now:
            # we were so late that whole periods passed: re-anchor instead of bursting
            deadline = now + interval_s
        await trio.sleep_until(deadline)
        observe(max(0.0, trio.current_time() - deadline))
