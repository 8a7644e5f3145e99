"""sd_notify: message formatting (sans-IO) and the service against a real unix datagram socket."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import pytest
import trio
import trio.lowlevel
import trio.testing

from supervisor._sdnotify import notify_address, notify_message, serve_sdnotify, status_line, watchdog_period


def test_messages_and_addresses() -> None:
    assert notify_message(ready=True, status="ready: 2 running") == b"READY=1\nSTATUS=ready: 2 running"
    assert notify_message(watchdog=True) == b"WATCHDOG=1"
    assert notify_message(stopping=True) == b"STOPPING=1"
    assert notify_message(extra={"MAINPID": "42"}) == b"MAINPID=42"
    with pytest.raises(ValueError):
        notify_message()
    with pytest.raises(ValueError):
        notify_message(status="two\nREADY=1")  # no injection of a second assignment
    assert notify_address("@kite/notify") == b"\0kite/notify"
    assert notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify_address(None) is None and notify_address("") is None
    with pytest.raises(ValueError):
        notify_address("vsock:2:1234")


def test_watchdog_period_is_half_the_timeout_and_respects_the_pid() -> None:
    assert watchdog_period({"WATCHDOG_USEC": "30000000"}, pid=7) == 15.0
    assert watchdog_period({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, pid=7) == 15.0
    assert watchdog_period({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"}, pid=7) is None
    assert watchdog_period({}, pid=7) is None
    assert watchdog_period({"WATCHDOG_USEC": "junk"}, pid=7) is None
    assert watchdog_period({"WATCHDOG_USEC": "0"}, pid=7) is None
    assert status_line({"running": 2, "backoff": 1}, ready=True, shutting_down=False) == (
        "ready: 1 backoff, 2 running"
    )


@dataclass(frozen=True)
class S:
    state: str


@dataclass
class FakeSupervisor:
    """Stands in for the daemon's Supervisor: only the three calls the service makes."""

    states: list[str]
    ready_event: trio.Event = field(default_factory=trio.Event)
    stop_event: trio.Event = field(default_factory=trio.Event)

    async def wait_ready(self) -> None:
        await self.ready_event.wait()

    async def wait_shutdown_requested(self) -> None:
        await self.stop_event.wait()

    def statistics(self) -> object:
        @dataclass
        class Stats:
            strategies: tuple[S, ...]
            ready: bool
            shutting_down: bool

        return Stats(tuple(S(s) for s in self.states), self.ready_event.is_set(), self.stop_event.is_set())


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest) -> Iterator[tuple[str, socket.socket]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "abstract":
        name = f"kite-sdnotify-test-{os.getpid()}-{id(sock)}"
        sock.bind(b"\0" + name.encode())
        env_value = "@" + name
        cleanup = None
    else:
        directory = tempfile.mkdtemp(prefix="sdn")  # short: unix paths are limited to ~107 bytes
        env_value = os.path.join(directory, "notify")
        sock.bind(env_value)
        cleanup = directory
    sock.setblocking(False)
    yield env_value, sock
    sock.close()
    if cleanup:
        os.unlink(env_value)
        os.rmdir(cleanup)


async def received(sock: socket.socket) -> list[bytes]:
    await trio.lowlevel.checkpoint()  # let a sender that is due run first
    return drain(sock)


def drain(sock: socket.socket) -> list[bytes]:
    out: list[bytes] = []
    while True:
        try:
            out.append(sock.recv(4096))
        except BlockingIOError:
            return out


async def test_service_ready_watchdog_status_stopping(
    listener: tuple[str, socket.socket], autojump_clock: trio.testing.MockClock
) -> None:
    address, sock = listener
    sup = FakeSupervisor(["starting", "starting"])
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "123"}
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(serve_sdnotify, sup, environ=env, pid=123, status_interval_s=5))
            await trio.sleep(5)  # watchdog every 2 s: t=0, 2, 4
            early = await received(sock)
            assert early.count(b"WATCHDOG=1") == 3
            assert b"STATUS=starting: 2 starting" in early
            assert not any(m.startswith(b"READY") for m in early)  # not before every strategy started
            sup.states = ["running", "quarantined"]
            sup.ready_event.set()
            await trio.sleep(0.5)
            ready = await received(sock)
            assert b"READY=1\nSTATUS=ready: 1 quarantined, 1 running" in ready
            sup.stop_event.set()
            await trio.sleep(3)
            stopping = await received(sock)
            assert stopping[0].startswith(b"STOPPING=1\nSTATUS=stopping:")
            assert b"WATCHDOG=1" in stopping  # pings continue while sessions are released
            nursery.cancel_scope.cancel()


async def test_a_hogged_loop_stops_the_watchdog_pings(
    listener: tuple[str, socket.socket], autojump_clock: trio.testing.MockClock
) -> None:
    address, sock = listener
    sup = FakeSupervisor([])
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"}
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_sdnotify, sup, environ=env, pid=1))
        await trio.sleep(0.5)
        assert (await received(sock)).count(b"WATCHDOG=1") == 1
        autojump_clock.jump(10)  # 10 s of synchronous work: the loop runs nothing meanwhile
        assert drain(sock) == []  # during those 10 s (> the 2 s timeout) systemd got no ping
        await trio.sleep(0.01)
        assert drain(sock) == [b"WATCHDOG=1"]  # the loop is back: one ping at once, no burst
        nursery.cancel_scope.cancel()


async def test_without_notify_socket_the_service_returns_and_a_dead_socket_is_not_fatal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(1):
        await serve_sdnotify(FakeSupervisor([]), environ={})
    gone = os.path.join(tempfile.mkdtemp(prefix="sdn"), "nobody")
    sup = FakeSupervisor(["running"])
    sup.ready_event.set()
    with trio.move_on_after(3) as scope:
        await serve_sdnotify(
            sup, environ={"NOTIFY_SOCKET": gone, "WATCHDOG_USEC": "1000000"}, pid=os.getpid()
        )
    assert scope.cancelled_caught  # kept running (logged once), did not raise
