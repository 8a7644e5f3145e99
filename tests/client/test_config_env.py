"""The seed's environment variables (connection, run defaults) and the live-mode gate."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from supervisor.client import (
    AlgoWorkerConfig,
    AsyncKiteAlgoWorkerClient,
    ClientValidationError,
    LiveTradingRefusedError,
    RunConfig,
)
from supervisor.sandbox import SandboxHandle

from .conftest import RecordingTransport

SECRET = "kwa_" + "s" * 43


def test_connection_from_env_with_seed_defaults() -> None:
    config = AlgoWorkerConfig.from_env({"KITE_ALGO_WORKER_TOKEN": f" {SECRET} "})
    assert (config.base_url, config.timeout, config.api_prefix) == (
        "http://localhost:18777",
        10.0,
        "/api/algo-workers",
    )
    assert config.token.get_secret_value() == SECRET
    assert SECRET not in repr(config) and SECRET not in str(config) and SECRET not in config.model_dump_json()
    custom = AlgoWorkerConfig.from_env(
        {
            "KITE_ALGO_WORKER_TOKEN": SECRET,
            "KITE_ALGO_API_BASE": "http://127.0.0.1:9/",
            "KITE_ALGO_TIMEOUT": "2.5",
        }
    )
    assert (custom.base_url, custom.timeout, custom.api_base) == (
        "http://127.0.0.1:9",
        2.5,
        "http://127.0.0.1:9/api/algo-workers",
    )


@pytest.mark.parametrize(
    ("environ", "rule"),
    [
        ({}, "config.token"),
        ({"KITE_ALGO_WORKER_TOKEN": "  "}, "config.token"),
        ({"KITE_ALGO_WORKER_TOKEN": SECRET, "KITE_ALGO_TIMEOUT": "soon"}, "config.timeout"),
    ],
)
def test_connection_from_env_refuses(environ: dict[str, str], rule: str) -> None:
    with pytest.raises(ClientValidationError) as info:
        AlgoWorkerConfig.from_env(environ)
    assert info.value.rule == rule


def test_run_config_from_env() -> None:
    default = RunConfig.from_env({}, template_id="t")
    assert (default.account_scope, default.execution_mode) == ("kite:paper-a", "dry_run")
    env = {"KITE_ALGO_ACCOUNT_SCOPE": "kite:paper-b", "KITE_ALGO_EXECUTION_MODE": "PAPER"}
    paper = RunConfig.from_env(env, template_id="t", strategy_run_id="run_env_0001")
    assert (paper.account_scope, paper.execution_mode, paper.strategy_run_id) == (
        "kite:paper-b",
        "paper",
        "run_env_0001",
    )
    explicit = RunConfig.from_env(env, template_id="t", execution_mode="dry_run")
    assert explicit.execution_mode == "dry_run"  # explicit fields win over the environment
    not_live = RunConfig.from_env(
        {"KITE_ALGO_EXECUTION_MODE": "live"}, template_id="t", execution_mode="paper"
    )
    assert not_live.execution_mode == "paper"  # the gate judges the mode actually used
    with pytest.raises(ClientValidationError) as bad:
        RunConfig.from_env({"KITE_ALGO_EXECUTION_MODE": "yolo"}, template_id="t")
    assert bad.value.rule == "config.execution_mode"


@pytest.mark.parametrize(
    ("environ", "fields"),
    [
        ({"KITE_ALGO_EXECUTION_MODE": "live"}, {}),
        ({"KITE_ALGO_EXECUTION_MODE": "live", "KITE_ALGO_ENABLE_LIVE": "true"}, {}),
        ({}, {"execution_mode": "live"}),
    ],
)
def test_live_run_config_needs_the_gate(environ: dict[str, str], fields: dict[str, str]) -> None:
    with pytest.raises(LiveTradingRefusedError) as refused:
        RunConfig.from_env(environ, template_id="t", **fields)
    assert refused.value.rule == "live_gate"
    acknowledged = RunConfig.from_env({**environ, "KITE_ALGO_ENABLE_LIVE": "1"}, template_id="t", **fields)
    assert acknowledged.execution_mode == "live"


async def test_a_script_configured_by_env_runs_on_the_sandbox(
    sandbox: SandboxHandle, recorder: RecordingTransport, autojump_clock: trio.testing.MockClock
) -> None:
    environ = {
        "KITE_ALGO_API_BASE": sandbox.base_url,
        "KITE_ALGO_WORKER_TOKEN": sandbox.token,
        "KITE_ALGO_ACCOUNT_SCOPE": "kite:paper-a",
        "KITE_ALGO_EXECUTION_MODE": "paper",
    }
    config = AlgoWorkerConfig.from_env(environ)
    run_config = RunConfig.from_env(environ, template_id="env-demo", strategy_run_id="run_env_script")
    async with AsyncKiteAlgoWorkerClient(config, transport=recorder, environ=environ) as client:
        with trio.fail_after(30):
            async with client.run(run_config) as run:
                assert run.run["execution_mode"] == "paper"
                assert run.run["account_scope"] == "kite:paper-a"
            funds = await client.get_funds()  # the account scope comes from the environment too
    assert funds["account_scope"] == "kite:paper-a"
    with pytest.raises(LiveTradingRefusedError):
        RunConfig.from_env({**environ, "KITE_ALGO_EXECUTION_MODE": "live"}, template_id="env-demo")
    assert all(sandbox.token not in path for _, path in recorder.seen)


async def test_get_funds_reads_the_tokens_account_and_smooths_an_unscoped_token(
    sandbox: SandboxHandle, autojump_clock: trio.testing.MockClock
) -> None:
    """The seed's ``get_funds(mode="paper")``: the token's account; ``KITE_ALGO_ACCOUNT_SCOPE``
    when set; an unscoped token (the server's 400) is asked again for the seed's default."""
    scoped = sandbox.mint_token(account_scope="kite:paper-b")
    unscoped = sandbox.mint_token(account_scope=None)
    with trio.fail_after(30):
        for token, environ, expected in (
            (scoped, {}, "kite:paper-b"),
            (unscoped, {}, "kite:paper-a"),
            (unscoped, {"KITE_ALGO_ACCOUNT_SCOPE": "kite:paper-q"}, "kite:paper-q"),
        ):
            config = AlgoWorkerConfig(base_url=sandbox.base_url, token=token)
            async with AsyncKiteAlgoWorkerClient(config, environ=environ) as client:
                funds = await client.get_funds(mode="paper")
                assert funds["account_scope"] == expected
                assert funds["net"] == funds["segments"]["equity"]["net"]  # the seed's key, added here
                health = await client.health()
                assert health["status"] == "healthy"  # the seed's word for the server's "ok"
