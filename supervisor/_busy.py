"""Per-strategy event-loop busy time: who is hogging the one trio thread?

All strategies share one thread, so a strategy that computes without awaiting delays every
other strategy and every heartbeat. :class:`BusyMeter` is a trio instrument that times each
task step (``time.perf_counter``: real CPU-ish time, not trio's clock, which may be virtual)
and charges it to the strategy whose task tree the task belongs to. Ownership is found by
walking up the task tree to a registered root, once per task (cached weakly).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable

import trio

__all__ = ["BusyMeter"]


class BusyMeter(trio.abc.Instrument):
    """Install with ``trio.lowlevel.add_instrument``; ``register(task, charge)`` marks a task
    tree root (``charge=None`` excludes a subtree, e.g. the daemon's heartbeat tasks)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._roots: weakref.WeakKeyDictionary[trio.lowlevel.Task, Callable[[float], None] | None] = (
            weakref.WeakKeyDictionary()
        )
        self._owner: weakref.WeakKeyDictionary[trio.lowlevel.Task, Callable[[float], None] | None] = (
            weakref.WeakKeyDictionary()
        )
        self._started = 0.0

    def register(self, task: trio.lowlevel.Task, charge: Callable[[float], None] | None) -> None:
        self._roots[task] = charge
        self._owner.pop(task, None)

    def _find(self, task: trio.lowlevel.Task) -> Callable[[float], None] | None:
        probe: trio.lowlevel.Task | None = task
        while probe is not None:
            if probe in self._roots:
                return self._roots[probe]
            nursery = probe.parent_nursery
            probe = nursery.parent_task if nursery is not None else None
        return None

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = self._clock()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        elapsed = self._clock() - self._started
        try:
            charge = self._owner[task]
        except KeyError:
            charge = self._owner[task] = self._find(task)
        if charge is not None:
            charge(elapsed)
