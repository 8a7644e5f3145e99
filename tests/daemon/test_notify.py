"""Notifications: the policy and transitions (pure), and the sinks against a real HTTP receiver."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import pytest
import trio
import trio.testing

from supervisor._notify import Notice, NoticePolicy, transitions
from supervisor._notify_sinks import Sink, TelegramSink, WebhookSink, open_notifier, serve_transition_watch

from .receiver import Receiver

BOT_TOKEN = "123456:" + "b" * 35


@dataclass(frozen=True)
class View:
    name: str
    state: str
    restarts: int = 0


def test_transitions_name_crashes_quarantines_stalls_and_lost_sessions() -> None:
    seen, notices = transitions({}, [View("a", "running"), View("b", "running")])
    assert notices == []  # a first look tells nothing
    seen, notices = transitions(seen, [View("a", "running", 1), View("b", "quarantined", 5)])
    assert [(n.kind, n.strategy, n.severity) for n in notices] == [
        ("crash", "a", "warning"),
        ("crash", "b", "warning"),
        ("quarantine", "b", "critical"),
    ]
    assert "180 s" in notices[2].text  # the operator learns what the backend will do
    seen, notices = transitions(seen, [View("a", "stalled", 1), View("b", "quarantined", 5)])
    assert [(n.kind, n.strategy) for n in notices] == [("stall", "a")]  # no repeat for b
    _, notices = transitions(seen, [View("a", "session_lost", 1)])
    assert [(n.kind, n.strategy) for n in notices] == [("session_lost", "a")]


def test_the_policy_deduplicates_and_rate_limits_and_counts_both() -> None:
    policy = NoticePolicy(dedupe_s=300, per_minute=3)
    crash = Notice("crash", "a crashed", strategy="a")
    assert policy.admit(crash, 0.0) and not policy.admit(crash, 10.0)
    assert policy.admit(crash, 301.0)  # after the window the same notice goes again
    assert policy.admit(Notice("crash", "b", strategy="b"), 302.0)
    assert policy.admit(Notice("crash", "c", strategy="c"), 303.0)
    assert not policy.admit(Notice("crash", "d", strategy="d"), 304.0)  # 3 in the last minute
    assert policy.admit(Notice("crash", "d", strategy="d"), 361.5)
    stats = policy.statistics()
    assert (stats.sent, stats.deduplicated, stats.rate_limited) == (5, 1, 1)
    with pytest.raises(ValueError, match="per_minute"):
        NoticePolicy(per_minute=0)


async def test_webhook_and_telegram_receive_admitted_notices(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(200)
    base = await receiver.start(nursery)
    telegram_sink = TelegramSink(BOT_TOKEN, "42", api_base=base)
    sinks: list[Sink] = [WebhookSink(f"{base}/hooks/kite"), telegram_sink]
    with trio.fail_after(30):
        async with open_notifier(sinks, NoticePolicy(), wall_clock=lambda: 1_780_000_000.0) as notifier:
            notifier.notify(Notice("quarantine", "alpha quarantined", "critical", "alpha"))
            notifier.notify(Notice("quarantine", "alpha quarantined", "critical", "alpha"))  # duplicate
            webhook = await receiver.received.receive()
            telegram = await receiver.received.receive()
        await trio.sleep(1)
    assert webhook == ("/hooks/kite", {"kind": "quarantine", "severity": "critical", "strategy": "alpha",
                                       "text": "alpha quarantined",
                                       "at": "2026-05-28T20:26:40+00:00"})  # fmt: skip
    path, body = telegram
    assert path == f"/bot{BOT_TOKEN}/sendMessage" and body["chat_id"] == "42"
    assert body["text"].endswith("kite-supervisor: alpha quarantined")
    with pytest.raises(trio.WouldBlock):
        receiver.received.receive_nowait()  # the duplicate never went out
    assert BOT_TOKEN not in repr(telegram_sink) and base not in repr(sinks[0])


async def test_a_failing_sink_is_counted_and_never_leaks_the_bot_token(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(500)
    base = await receiver.start(nursery)
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(30):
        async with open_notifier(
            [TelegramSink(BOT_TOKEN, "42", api_base=base)], NoticePolicy(), wall_clock=trio.current_time
        ) as notifier:
            notifier.notify(Notice("crash", "beta crashed", "warning", "beta"))
            for _ in range(2):  # the send and its one retry
                await receiver.received.receive()
    assert notifier.failures == 1 and "notification to telegram failed" in caplog.text
    assert BOT_TOKEN not in caplog.text


async def test_the_watch_notifies_state_changes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(200)
    base = await receiver.start(nursery)
    views = [View("a", "running")]
    changed = [trio.Event()]  # as the Supervisor's: set once, then replaced
    async with open_notifier([WebhookSink(base)], NoticePolicy(), wall_clock=trio.current_time) as notifier:
        await nursery.start(partial(serve_transition_watch, lambda: views, notifier, lambda: changed[0]))
        views = [View("a", "quarantined", 3)]
        event, changed[0] = changed[0], trio.Event()
        event.set()
        with trio.fail_after(10):
            kinds = [(await receiver.received.receive())[1]["kind"] for _ in range(2)]
    assert kinds == ["crash", "quarantine"]


async def test_the_watch_looks_when_told_a_state_changed_and_not_on_a_timer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(200)
    base = await receiver.start(nursery)
    views = [View("a", "running")]
    changed = [trio.Event()]
    async with open_notifier([WebhookSink(base)], NoticePolicy(), wall_clock=trio.current_time) as notifier:
        await nursery.start(partial(serve_transition_watch, lambda: views, notifier, lambda: changed[0]))
        views = [View("a", "stalled")]
        await trio.sleep(3600)  # an hour of virtual time: nobody said anything changed
        assert receiver.received.statistics().current_buffer_used == 0
        event, changed[0] = changed[0], trio.Event()
        event.set()
        with trio.fail_after(10):
            kind = (await receiver.received.receive())[1]["kind"]
    assert kind == "stall"
