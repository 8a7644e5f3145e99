"""Tokens carry an account scope and every route applies it the same way (contract §2.4, §4.10):
the sandbox's own token has ``kite:paper-a``; minted tokens have their own; options runs act on
the token's account, in the mode asked, and a dry_run options run places nothing."""

from __future__ import annotations

from typing import Any

import httpx
import trio
from trio.testing import MockClock

from supervisor.sandbox import SandboxHandle

from .conftest import api_client


async def _options_run(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    selection = {"expiry": "nearest", "legs": [{"option_type": "CE", "offset": "ATM"}]}
    leg = (await api.post("/worker/options/underlyings/NIFTY/selection/resolve", json=selection)).json()[
        "resolved"
    ][0]
    body = {"strategy_run_id": run_id, "strategy_name": "ATM call", "product": "NRML",
            "legs": [{"tradingsymbol": leg["tradingsymbol"], "transaction_type": "BUY",
                      "quantity": leg["lot_size"]}]}  # fmt: skip
    r = await api.post("/worker/options/runs", json=body)
    assert r.status_code == 200, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_tokens_have_scopes(
    api: httpx.AsyncClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(30):
        health = (await api.get("/worker/health")).json()
        assert health["status"] == "ok" and health["account_scope"] == "kite:paper-a" == sandbox.account_scope
        tokens = {
            "inherited": sandbox.mint_token(modes=["paper"]),
            "own": sandbox.mint_token(account_scope="kite:paper-b", actions=["funds:read"]),
            "unscoped": sandbox.mint_token(account_scope=None),
        }
        grants = {}
        for name, token in tokens.items():
            async with api_client(sandbox, token) as client:
                grants[name] = (await client.get("/worker/health")).json()
        assert grants["inherited"]["account_scope"] == "kite:paper-a"
        assert grants["inherited"]["allowed_modes"] == ["paper"]
        assert grants["own"]["account_scope"] == "kite:paper-b" and grants["own"]["allowed_actions"] == [
            "funds:read"
        ]
        assert grants["unscoped"]["account_scope"] is None
        # the funds of each token's own account; a paper scope reaches no other paper scope
        async with api_client(sandbox, tokens["own"]) as b:
            assert (await b.get("/worker/funds")).json()["account_scope"] == "kite:paper-b"
            r = await b.get("/worker/funds", params={"account_scope": "kite:paper-a"})
            assert r.status_code == 403
            r = await b.get("/worker/market/calendar/status")
            assert r.status_code == 403  # actions too are the token's own


async def test_runs_use_the_tokens_scope_rule(sandbox: SandboxHandle, autojump_clock: MockClock) -> None:
    with trio.fail_after(30):
        async with api_client(sandbox, sandbox.mint_token(account_scope="kite:paper-b")) as b:
            run = {
                "strategy_run_id": "run_b",
                "template_id": "t",
                "account_scope": "kite:paper-a",
                "execution_mode": "paper",
            }
            r = await b.post("/worker/runs", json=run)
            assert r.status_code == 403
            assert r.json() == {"detail": "Worker token cannot create runs for this account scope"}
            assert (
                await b.post("/worker/runs", json={**run, "account_scope": "kite:paper-b"})
            ).status_code == 200


async def test_dry_run_options_enter_places_nothing(
    api: httpx.AsyncClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        await _options_run(api, "opt_dry")
        r = await api.post("/worker/options/runs/opt_dry/enter", json={"execution_mode": "dry_run"})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["status"] == "entered" and doc["result"]["status"] == "validated"
        assert doc["result"]["mutated_state"] is False and len(doc["result"]["orders"]) == 1
        assert sandbox.engine.orders("opt_dry") == []  # no paper order, no fill
        # a worker run of the same id in dry_run decides the mode when the request names none
        run = {
            "strategy_run_id": "opt_wr",
            "template_id": "t",
            "account_scope": "kite:paper-a",
            "execution_mode": "dry_run",
        }
        await api.post("/worker/runs", json=run)
        await _options_run(api, "opt_wr")
        assert (await api.post("/worker/options/runs/opt_wr/enter", json={})).json()["result"][
            "mode"
        ] == "dry_run"
        assert sandbox.engine.orders("opt_wr") == []
        # paper (the default) fills on the token's account
        created = await _options_run(api, "opt_paper")
        assert created["account_scope"] == "kite:paper-a"
        entered = (await api.post("/worker/options/runs/opt_paper/enter", json={})).json()
        assert entered["result"]["status"] == "success"
        assert [o["status"] for o in sandbox.engine.orders("opt_paper")] == ["filled"]


async def test_options_runs_belong_to_the_tokens_account(
    api: httpx.AsyncClient, sandbox: SandboxHandle, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        await _options_run(api, "opt_a")
        async with api_client(sandbox, sandbox.mint_token(account_scope="kite:paper-b")) as b:
            r = await b.get("/worker/options/runs/opt_a/state")
            assert r.status_code == 403
            assert r.json()["detail"]["code"] == "OPTION_ACCOUNT_SCOPE_FORBIDDEN"
            r = await b.post("/worker/options/runs/opt_a/enter", json={})
            assert r.status_code == 403
        async with api_client(
            sandbox, sandbox.mint_token(account_scope="kite:paper-a", modes=["paper"])
        ) as a:
            r = await a.post("/worker/options/runs/opt_a/enter", json={"execution_mode": "dry_run"})
            assert r.status_code == 403  # the mode is not one of the token's
            assert r.json()["detail"]["code"] == "OPTION_EXECUTION_MODE_FORBIDDEN"
        async with api_client(sandbox, sandbox.mint_token(account_scope=None)) as unscoped:
            await _options_run(unscoped, "opt_u")
            r = await unscoped.post("/worker/options/runs/opt_u/enter", json={})
            assert r.status_code == 400  # no scope anywhere: the account must be named
            r = await unscoped.post(
                "/worker/options/runs/opt_u/enter", json={"account_scope": "kite:paper-u"}
            )
            assert r.json()["status"] == "entered"
            assert {o["account_scope"] for o in sandbox.engine.orders("opt_u")} == {"kite:paper-u"}
