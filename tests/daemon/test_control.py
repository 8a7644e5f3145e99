"""Operator control over HTTP: pause keeps the session heartbeating, resume restarts the body
(recovered), stop releases the session and says what the backend will do; all need the token."""

from __future__ import annotations

import argparse
import io
from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from supervisor._commands import cmd_control
from supervisor._http import serve_http
from supervisor._strategy import StrategyContext
from supervisor._supervisor import Supervisor
from supervisor.sandbox import SandboxHandle

from .conftest import resolved, settings
from .strategies import Idle

OPERATOR = {"Authorization": "Bearer op-token"}


class Counting(Idle):
    """Idle, remembering each incarnation's ``recovered`` flag."""

    starts: list[bool] = []

    async def run(self, ctx: StrategyContext) -> None:
        Counting.starts.append(ctx.recovered)
        await super().run(ctx)


async def test_pause_resume_stop_and_restart(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    Counting.starts = []
    sup = Supervisor([resolved("c", Counting), resolved("other", Idle)], client=client, settings=settings())
    await nursery.start(sup.serve)
    url = await nursery.start(partial(serve_http, sup, port=0, operator_token="op-token"))
    runner = sup.runners["c"]
    await trio.sleep(3)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert (await http.post("/strategies/c/pause")).status_code == 401  # no token, no action
        paused = await http.post("/strategies/c/pause", headers=OPERATOR)
        assert paused.status_code == 202 and paused.json()["result"] == "pausing"
        await trio.sleep(0.1)
        assert runner.state == "paused" and not runner._body_running
        beats, progress = runner.heartbeats.ok, runner.progress.count
        await trio.sleep(30)  # paused: the session keeps heartbeating, the body makes no progress
        assert runner.heartbeats.ok >= beats + 5 and runner.progress.count == progress
        run = sandbox.state.runs["run-c"]
        assert run.worker_session_nonce == runner.nonce is not None
        again = await http.post("/strategies/c/pause", headers=OPERATOR)
        assert again.status_code == 409 and "state paused" in again.json()["detail"]
        assert (await http.post("/strategies/c/resume", headers=OPERATOR)).json()["result"] == "resuming"
        await trio.sleep(2)
        assert runner.state == "running" and Counting.starts == [False, True]  # resumed: recovered
        assert runner.restarts == 0  # a pause is no crash
        stopped = await http.post("/strategies/c/stop", headers=OPERATOR)
        assert stopped.status_code == 202 and "180 s" in stopped.json()["detail"]
        await trio.sleep(1)
        assert runner.state == "stopped" and "180 s" in (runner.reason or "")
        assert sandbox.state.runs["run-c"].worker_session_nonce is None  # released
        status = (await http.get("/status")).json()
        assert {s["name"]: s["state"] for s in status["strategies"]} == {"c": "stopped", "other": "running"}
        assert (await http.post("/strategies/c/resume", headers=OPERATOR)).status_code == 409
        assert (await http.post("/strategies/c/restart", headers=OPERATOR)).status_code == 202
        await trio.sleep(2)
        assert runner.state == "running" and len(Counting.starts) == 3
        assert (await http.post("/strategies/nobody/pause", headers=OPERATOR)).status_code == 404
        # Starlette's routing, answered in JSON like the rest, never cached
        wrong = await http.get("/strategies/c/pause")
        assert wrong.status_code == 405 and wrong.json() == {"detail": "Method Not Allowed"}
        unknown = await http.post("/strategies/c/jump", headers=OPERATOR)
        assert unknown.status_code == 404 and unknown.headers["cache-control"] == "no-store"
    assert sup.runners["other"].restarts == 0 and sup.runners["other"].state == "running"


async def test_the_cli_verbs_use_the_operator_token_from_the_environment(
    nursery: trio.Nursery,
    sandbox: SandboxHandle,
    client: Any,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sup = Supervisor([resolved("c", Idle)], client=client, settings=settings())
    await nursery.start(sup.serve)
    url = await nursery.start(partial(serve_http, sup, port=0, operator_token="op-token"))
    await trio.sleep(2)

    async def verb(command: str) -> tuple[int, str]:
        out = io.StringIO()
        args = argparse.Namespace(command=command, name="c", url=url)
        # a blocking CLI call in a thread: virtual time must not jump (and time out the
        # server's connection) while the loop waits for the thread
        autojump_clock.autojump_threshold = 30.0
        try:
            code = await trio.to_thread.run_sync(partial(cmd_control, args, out=out))
        finally:
            autojump_clock.autojump_threshold = 0.0
        return code, out.getvalue().strip()

    monkeypatch.delenv("KITE_SUPERVISOR_OPERATOR_TOKEN", raising=False)
    code, text = await verb("pause")
    assert code == 2 and text.startswith("error: pause c refused (401)")
    monkeypatch.setenv("KITE_SUPERVISOR_OPERATOR_TOKEN", "op-token")
    assert await verb("pause") == (0, "c: pausing")
    await trio.sleep(0.5)
    assert sup.runners["c"].state == "paused"
    assert await verb("resume") == (0, "c: resuming")
    code, text = await verb("stop")
    assert code == 0 and text.startswith("c: stopping: the session is released")
