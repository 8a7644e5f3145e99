"""Sharding by StatefulSet ordinal: every strategy lands on exactly one shard, stably."""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor._shard import Shard, ShardConfigError, shard_from_env, shard_of


@given(st.lists(st.text(min_size=1, max_size=30), unique=True, max_size=50), st.integers(1, 8))
def test_every_strategy_is_hosted_by_exactly_one_shard(names: list[str], count: int) -> None:
    shards = [Shard(i, count) for i in range(count)]
    hosted = [s.select(names, str) for s in shards]
    assert sorted(n for part in hosted for n in part) == sorted(names)
    for part in hosted:
        assert part == [n for n in names if n in part]  # config order kept


def test_shard_is_stable_across_processes() -> None:
    # crc32, not hash(): these values are fixed forever (PYTHONHASHSEED cannot move a strategy)
    assert shard_of("basic-infy", 7) == zlib.crc32(b"basic-infy") % 7


def test_shard_from_env() -> None:
    assert shard_from_env({}) is None
    assert shard_from_env({"SUPERVISOR_SHARD_COUNT": "3", "SUPERVISOR_SHARD_INDEX": "1"}) == Shard(1, 3)
    # replicas = 2 x shards: ordinal 4 is the standby twin of ordinal 1
    assert shard_from_env({"SUPERVISOR_SHARD_COUNT": "3", "POD_NAME": "kite-supervisor-4"}) == Shard(1, 3)
    assert shard_from_env({"SUPERVISOR_SHARD_COUNT": "3", "HOSTNAME": "kite-supervisor-0"}) == Shard(0, 3)
    with pytest.raises(ShardConfigError, match="SUPERVISOR_SHARD_COUNT"):
        shard_from_env({"SUPERVISOR_SHARD_COUNT": "zero"})
    with pytest.raises(ShardConfigError, match="POD_NAME"):
        shard_from_env({"SUPERVISOR_SHARD_COUNT": "2", "HOSTNAME": "laptop"})
    with pytest.raises(ShardConfigError, match="SUPERVISOR_SHARD_INDEX"):
        shard_from_env({"SUPERVISOR_SHARD_COUNT": "2", "SUPERVISOR_SHARD_INDEX": "-1"})


def test_the_cli_refuses_an_inconsistent_shard_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from supervisor._commands import EXIT_CONFIG, cmd_run
    from supervisor._plugins import PluginRegistry
    from tests.daemon.strategies import Idle

    config = tmp_path / "c.yaml"
    config.write_text(
        "backend: {base_url: embedded}\nstrategies:\n"
        "  - name: a\n    plugin: idle\n"
        "    run: {strategy_run_id: r-a, template_id: t, account_scope: 'kite:paper-a'}\n"
    )
    monkeypatch.setenv("SUPERVISOR_SHARD_COUNT", "2")
    monkeypatch.setenv("HOSTNAME", "laptop")
    monkeypatch.delenv("SUPERVISOR_SHARD_INDEX", raising=False)
    monkeypatch.delenv("POD_NAME", raising=False)
    args = argparse.Namespace(config=str(config), state_dir=None)
    assert cmd_run(args, registry=PluginRegistry.from_classes({"idle": Idle})) == EXIT_CONFIG
    assert "SUPERVISOR_SHARD_INDEX" in capsys.readouterr().err
