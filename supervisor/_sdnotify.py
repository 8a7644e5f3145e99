"""systemd notification protocol (``sd_notify``): READY, WATCHDOG, STATUS, STOPPING.

Sans-IO part (no sockets): :func:`notify_message` formats a datagram, :func:`notify_address`
turns ``$NOTIFY_SOCKET`` into a socket address (``@name`` is Linux's abstract namespace, sent as
``\\0name``), :func:`watchdog_period` reads ``$WATCHDOG_USEC``/``$WATCHDOG_PID`` and returns the
ping period (half the watchdog timeout, as systemd recommends).

I/O part: :class:`Notifier` (a connected unix datagram socket; ``await notifier.send(...)``) and
the daemon's service :func:`serve_sdnotify`::

    services.start_soon(serve_sdnotify, supervisor)      # the daemon's extra_services hook

which, when ``NOTIFY_SOCKET`` is set (otherwise it returns at once):

* sends ``STATUS=starting N strategies``;
* pings ``WATCHDOG=1`` every ``WATCHDOG_USEC/2`` from a task on the daemon's own event loop, so a
  loop hogged past the timeout stops the pings and systemd restarts the service;
* sends ``READY=1`` once ``await supervisor.wait_ready()`` returns (every strategy started);
* refreshes ``STATUS=`` with the count of strategies per state every ``status_interval_s``;
* sends ``STOPPING=1`` when a shutdown is requested, and keeps pinging the watchdog during the
  release phase (the daemon cancels this service after the shutdown report).

Send errors (socket gone) are logged once and the notifications stop; they never stop the daemon.
"""

from __future__ import annotations

import logging
import os
import socket as _stdlib_socket
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

import trio

__all__ = [
    "Notifier",
    "notify_address",
    "notify_message",
    "serve_sdnotify",
    "status_line",
    "watchdog_period",
]

log = logging.getLogger("supervisor.sdnotify")


# -- sans-IO ----------------------------------------------------------------------------------
def notify_message(
    *,
    ready: bool = False,
    stopping: bool = False,
    watchdog: bool = False,
    status: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> bytes:
    """One datagram: newline-separated ``KEY=VALUE`` assignments. Raises ``ValueError`` when a
    value contains a newline (it would inject another assignment) or nothing is to be sent."""
    fields: list[tuple[str, str]] = []
    if ready:
        fields.append(("READY", "1"))
    if stopping:
        fields.append(("STOPPING", "1"))
    if watchdog:
        fields.append(("WATCHDOG", "1"))
    if status is not None:
        fields.append(("STATUS", status))
    fields.extend((extra or {}).items())
    if not fields:
        raise ValueError("empty notification")
    for key, value in fields:
        if "\n" in key or "\n" in value or "=" in key:
            raise ValueError(f"invalid notification field {key!r}")
    return "\n".join(f"{k}={v}" for k, v in fields).encode()


def notify_address(value: str | None) -> str | bytes | None:
    """``$NOTIFY_SOCKET`` as a socket address: a path, ``b"\\0name"`` for ``@name`` (abstract
    namespace), or None when unset/empty. Raises ``ValueError`` for anything else (e.g. vsock)."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    raise ValueError(f"unsupported NOTIFY_SOCKET address {value!r}")


def watchdog_period(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between pings (half of ``WATCHDOG_USEC``), or None when the watchdog is off or
    meant for another process (``WATCHDOG_PID``)."""
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner and owner.isdigit() and int(owner) != pid:
        return None
    try:
        micros = int(usec)
    except ValueError:
        return None
    return micros / 2e6 if micros > 0 else None


def status_line(states: Mapping[str, int], *, ready: bool, shutting_down: bool) -> str:
    """``"ready: 3 running, 1 quarantined"``-style summary (stable order)."""
    phase = "stopping" if shutting_down else "ready" if ready else "starting"
    parts = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no strategies"
    return f"{phase}: {parts}"


# -- I/O --------------------------------------------------------------------------------------
class Notifier:
    """A unix datagram socket connected to systemd's notify socket. ``send`` never blocks for
    long (datagrams to a local socket); it raises ``OSError`` when the socket is gone."""

    def __init__(self, address: str | bytes) -> None:
        self._address = address
        self._sock = trio.socket.socket(_stdlib_socket.AF_UNIX, _stdlib_socket.SOCK_DGRAM)

    async def send(self, message: bytes) -> None:
        await self._sock.sendto(message, self._address)

    def close(self) -> None:
        self._sock.close()


class SupervisorLike(Protocol):
    async def wait_ready(self) -> None: ...
    async def wait_shutdown_requested(self) -> None: ...
    def statistics(self) -> Any: ...


async def serve_sdnotify(
    supervisor: SupervisorLike,
    *,
    environ: Mapping[str, str] | None = None,
    pid: int | None = None,
    status_interval_s: float = 10.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The daemon's sd_notify service (see the module docstring). Returns at once when
    ``NOTIFY_SOCKET`` is unset; otherwise runs until cancelled. Raises ``ValueError`` for an
    unsupported ``NOTIFY_SOCKET``."""
    env = os.environ if environ is None else environ
    address = notify_address(env.get("NOTIFY_SOCKET"))
    if address is None:
        task_status.started()
        return
    period = watchdog_period(env, os.getpid() if pid is None else pid)
    notifier = Notifier(address)
    failed = False

    async def send(**fields: Any) -> None:
        nonlocal failed
        if failed:
            return
        try:
            await notifier.send(notify_message(**fields))
        except OSError as exc:
            failed = True
            log.warning("sd_notify: cannot reach %r (%s); notifications stop", env.get("NOTIFY_SOCKET"), exc)

    def summary() -> str:
        stats = supervisor.statistics()
        states = Counter(s.state for s in stats.strategies)
        return status_line(states, ready=stats.ready, shutting_down=stats.shutting_down)

    async def watchdog(interval: float) -> None:
        # from the event loop on purpose: a hogged loop misses its pings and systemd notices
        deadline = trio.current_time()
        while True:
            await send(watchdog=True)
            deadline += interval
            if deadline <= trio.current_time():  # a hog made us miss pings: no burst after it
                deadline = trio.current_time() + interval
            await trio.sleep_until(deadline)

    async def status_and_stop() -> None:
        await supervisor.wait_shutdown_requested()
        await send(stopping=True, status=summary())

    try:
        async with trio.open_nursery() as nursery:
            if period is not None:
                nursery.start_soon(watchdog, period)
            nursery.start_soon(status_and_stop)
            await send(status=summary())
            task_status.started()
            await supervisor.wait_ready()
            await send(ready=True, status=summary())
            while True:
                await trio.sleep(status_interval_s)
                await send(status=summary())
    finally:
        notifier.close()
