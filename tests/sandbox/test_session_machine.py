"""The pure session state machine (contract §8) under random operation sequences (hypothesis).

The model restates the contract's rules; the machine under test is ``supervisor.sandbox._runs``.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from supervisor.sandbox._errors import ApiError
from supervisor.sandbox._runs import Run, claim, claimable, health_fields, heartbeat, release, session_guard

T0 = dt.datetime(2026, 5, 8, 9, 15, tzinfo=dt.UTC)


class Sessions(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.run = Run(strategy_run_id="r", token_id="w", template_id="t", account_scope="kite:paper",
                       execution_mode="paper", created_at=T0, updated_at=T0)  # fmt: skip
        self.nonce: str | None = None
        self.claimed_at: dt.datetime | None = None
        self.last_hb: dt.datetime | None = None
        self.old_nonces: list[str] = []

    def _claimable(self) -> bool:
        if self.nonce is None:
            return True
        if self.last_hb is not None:
            return (self.now - self.last_hb).total_seconds() > 60
        assert self.claimed_at is not None
        return (self.now - self.claimed_at).total_seconds() > 120

    @rule(seconds=st.sampled_from([1, 10, 30, 45, 59, 60, 61, 119, 120, 121, 200]))
    def advance(self, seconds: int) -> None:
        self.now += dt.timedelta(seconds=seconds)

    @rule()
    def do_claim(self) -> None:
        expected = self._claimable()
        try:
            result = claim(self.run, self.now)
        except ApiError as exc:
            assert not expected
            assert exc.detail["rejection_reason"] == "WORKER_SESSION_CONFLICT"
            return
        assert expected
        assert result["worker_session_nonce"] != self.nonce
        if self.nonce:
            self.old_nonces.append(self.nonce)
        self.nonce, self.claimed_at = result["worker_session_nonce"], self.now

    @rule(which=st.sampled_from(["current", "old", "none"]))
    def do_heartbeat(self, which: str) -> None:
        header = {
            "current": self.nonce,
            "old": self.old_nonces[-1] if self.old_nonces else "wsn_x",
            "none": None,
        }[which]
        try:
            heartbeat(self.run, header, self.now)
        except ApiError as exc:
            reason = exc.detail["rejection_reason"]
            assert reason == ("WORKER_SESSION_REQUIRED" if not header else "WORKER_SESSION_CONFLICT")
            assert not (header and header == self.nonce)
            return
        assert header is not None and header == self.nonce
        self.last_hb = self.now

    @rule(current=st.booleans())
    def do_release(self, current: bool) -> None:
        header = self.nonce if current else "wsn_other"
        try:
            release(self.run, header, self.now)
        except ApiError:
            assert not (current and self.nonce)
            return
        assert current and self.nonce
        self.old_nonces.append(self.nonce)
        self.nonce = self.claimed_at = None  # last_hb survives a release

    @invariant()
    def matches_model(self) -> None:
        assert self.run.worker_session_nonce == self.nonce
        assert self.run.last_heartbeat_at == self.last_hb
        health = health_fields(self.run, self.now)
        if self.nonce is None:
            assert health["session_status"] == "missing"
            session_guard(self.run, None)  # no session: anything passes
        else:
            session_guard(self.run, f"  {self.nonce} ")  # stripped before comparison
        if self.last_hb is None:
            assert health["health_status"] == "unknown"


Sessions.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestSessions = Sessions.TestCase


def test_a_backtests_age_cap_holds_only_while_the_session_is_held() -> None:
    # held_session_age_cap_s (a backtest's): its in-process daemon beats sparsely but is alive
    run = Run(strategy_run_id="r", token_id="w", template_id="t", account_scope="kite:paper",
              execution_mode="paper", created_at=T0, updated_at=T0)  # fmt: skip
    nonce = claim(run, T0)["worker_session_nonce"]
    heartbeat(run, nonce, T0)
    later = T0 + dt.timedelta(seconds=600)
    assert health_fields(run, later)["health_status"] == "disconnected"
    assert claimable(run, later)
    capped = health_fields(run, later, held_cap_s=10.0)
    assert (capped["health_status"], capped["heartbeat_age_sec"], capped["session_status"]) == (
        "healthy",
        10,
        "claimed",
    )
    assert not claimable(run, later, held_cap_s=10.0)  # a rival waits, as for a live worker
    release(run, nonce, later)  # gone: its real age shows again
    assert health_fields(run, later, held_cap_s=10.0)["heartbeat_age_sec"] == 600
