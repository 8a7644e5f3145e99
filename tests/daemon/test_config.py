"""Config: env expansion, strict validation, and messages that name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor._config import ConfigError, expand_env, load_config, parse_config

GOOD = """\
backend:
  base_url: ${KITE_ALGO_API_BASE:-embedded}
  token: ${KITE_ALGO_WORKER_TOKEN:-}
supervisor:
  heartbeat_interval_s: 5
  shutdown_grace_s: 10
  http: {host: 127.0.0.1, port: "${PORT:-9464}"}
  restart: {initial_backoff_s: 1, max_backoff_s: 60, max_restarts: 5, window_s: 300}
strategies:
  - name: infy-ema
    plugin: ema_crossover
    run:
      strategy_run_id: infy-ema-001
      template_id: ema-crossover
      account_scope: kite:paper-a
      execution_mode: paper
    params: {symbol: NSE:INFY, fast: 9, slow: 21}
"""


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="cfg.yaml", environ=environ or {})
    return [str(p) for p in info.value.problems]


def test_good_config_and_defaults() -> None:
    config, locator = parse_config(
        GOOD, file="cfg.yaml", environ={"PORT": "0", "KITE_ALGO_WORKER_TOKEN": "kwa_x"}
    )
    assert config.backend.embedded
    assert config.backend.token is not None and config.backend.token.get_secret_value() == "kwa_x"
    assert "kwa_x" not in repr(config)
    assert config.supervisor.http.port == 0
    assert config.strategies[0].run.strategy_run_id == "infy-ema-001"
    assert config.strategies[0].params == {"symbol": "NSE:INFY", "fast": 9, "slow": 21}
    assert locator.line_of(("strategies", 0, "params", "fast")) == 17
    empty, _ = parse_config("", file="e.yaml", environ={})
    assert empty.supervisor.heartbeat_interval_s == 10
    assert empty.supervisor.http.host == "127.0.0.1" and empty.supervisor.http.port == 9464
    assert empty.backend.base_url == "embedded"


def test_env_expansion() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert expand_env("${A}-${EMPTY}-${B:-dflt}-${EMPTY:-e}", env) == "1--dflt-e"
    # an unset ${B} is an error naming B (tests/faults/test_config_preflight.py has the cases)
    with pytest.raises(ValueError, match=r"\$\{B\} is not set"):
        expand_env("${B}", env)
    config, _ = parse_config(GOOD, file="cfg.yaml", environ={"KITE_ALGO_API_BASE": "http://10.0.0.1:18777"})
    assert config.backend.base_url == "http://10.0.0.1:18777"
    assert not config.backend.embedded and config.backend.token is None
    # an unquoted ${VAR} reads as if its value were written there; an empty one as null
    text = GOOD.replace(
        "params: {symbol: NSE:INFY, fast: 9, slow: 21}", "params:\n      fast: ${F:-9}\n      port: ${P:-}"
    )
    config, _ = parse_config(text, file="cfg.yaml", environ={})
    assert config.strategies[0].params == {"fast": 9, "port": None}
    quoted, _ = parse_config(GOOD, file="cfg.yaml", environ={"PORT": "8080"})
    assert quoted.supervisor.http.port == 8080  # pydantic turns the quoted "8080" into the int


def test_unknown_key_names_file_line_and_field() -> None:
    text = GOOD.replace("      execution_mode: paper\n", "      execution_mode: paper\n      colour: blue\n")
    assert problems(text) == ["cfg.yaml:17: strategies[0].run.colour: unknown field (not allowed here)"]


def test_bad_value_and_missing_field_positions() -> None:
    text = GOOD.replace("execution_mode: paper", "execution_mode: papr").replace(
        "      template_id: ema-crossover\n", ""
    )
    assert problems(text) == [
        "cfg.yaml:12: strategies[0].run.template_id: Field required",
        "cfg.yaml:15: strategies[0].run.execution_mode: Input should be 'paper', 'dry_run' or 'live'",
    ]


def test_heartbeat_interval_refused_at_45s() -> None:
    text = GOOD.replace("heartbeat_interval_s: 5", "heartbeat_interval_s: 45")
    assert problems(text) == ["cfg.yaml:5: supervisor.heartbeat_interval_s: Input should be less than 45"]


def test_literal_token_is_refused_without_echoing_it() -> None:
    text = GOOD.replace("${KITE_ALGO_WORKER_TOKEN:-}", "kwa_supersecretvalue")
    [message] = problems(text)
    assert message.startswith("cfg.yaml:3: backend.token: a literal token is not allowed")
    assert "supersecret" not in message


def test_live_mode_needs_the_environment_switch() -> None:
    text = GOOD.replace("execution_mode: paper", "execution_mode: live")
    assert problems(text) == [
        "cfg.yaml:16: strategies[0].run.execution_mode: live execution is refused unless "
        "KITE_ALGO_ENABLE_LIVE=1 is set in the environment"
    ]
    config, _ = parse_config(text, file="cfg.yaml", environ={"KITE_ALGO_ENABLE_LIVE": "1"})
    assert config.strategies[0].run.execution_mode == "live"


def test_a_loss_breaker_without_the_money_reader_is_refused() -> None:
    # the breaker reads the money reader's book: with the reader off it could never trip
    text = GOOD.replace("  shutdown_grace_s: 10\n", "  shutdown_grace_s: 10\n  money: {enabled: false}\n")
    text += "    loss_breaker: {max_loss_inr: 500}\n"
    assert problems(text) == [
        "cfg.yaml:19: strategies[0].loss_breaker: a loss breaker needs the money reader: "
        "remove supervisor.money.enabled: false"
    ]
    enabled = text.replace("money: {enabled: false}", "money: {enabled: true}")
    config, _ = parse_config(enabled, file="c", environ={})
    assert config.strategies[0].loss_breaker is not None


def test_duplicates_are_refused() -> None:
    second = GOOD[GOOD.index("  - name: infy-ema") :]
    assert problems(GOOD + second) == ["cfg.yaml:9: strategies: Value error, duplicate name 'infy-ema'"]
    renamed = second.replace("name: infy-ema", "name: other")
    assert problems(GOOD + renamed) == [
        "cfg.yaml:9: strategies: Value error, duplicate run.strategy_run_id 'infy-ema-001'"
    ]
    assert problems("a: 1\na: 2\n") == ["cfg.yaml:2: a: duplicate key"]


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    assert problems("strategies: [\n")[0].startswith("cfg.yaml:2: invalid YAML")
    with pytest.raises(ConfigError, match=r"nope.yaml: cannot read config"):
        load_config(tmp_path / "nope.yaml", environ={})
    assert problems("- 1\n") == ["cfg.yaml:1: the config must be a mapping"]


def test_order_rate_defaults_are_kites_limits_and_bad_values_name_their_line() -> None:
    config, _ = parse_config(GOOD, file="cfg.yaml", environ={})
    rate = config.supervisor.order_rate
    assert (rate.enabled, rate.per_second, rate.per_minute, rate.per_day) == (True, 10, 200, 3000)
    text = GOOD.replace(
        "  heartbeat_interval_s: 5\n",
        "  heartbeat_interval_s: 5\n  order_rate:\n    per_second: 0\n    burst: 3\n",
    )
    assert problems(text) == [
        "cfg.yaml:7: supervisor.order_rate.per_second: Input should be greater than or equal to 1",
        "cfg.yaml:8: supervisor.order_rate.burst: unknown field (not allowed here)",
    ]
