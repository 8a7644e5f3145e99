"""`check` refuses whatever `run` would, through one preflight, each problem at file:line: field.

Every case runs the real CLI (``python -m supervisor check|run`` in a subprocess, a config file in
``tmp_path``) and then the shared function, :func:`supervisor._preflight.preflight`. A failing
``run`` exits before it starts anything, so these subprocesses return at once.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor._config import ConfigError, expand_env, load_config, parse_config
from supervisor._plugins import PluginRegistry
from supervisor._preflight import SetupError, preflight
from supervisor._strategy import Strategy, StrategyContext

CLI = [sys.executable, "-m", "supervisor"]
REMOTE = """\
backend:
  base_url: {base_url}
  token: {token}
supervisor:
  state_dir: {state_dir}
  http: {{host: 127.0.0.1, port: {port}}}
strategies: []
"""


class Idle(Strategy):
    async def run(self, ctx: StrategyContext) -> None:
        await ctx.stopping.wait()


def environment(**extra: str) -> dict[str, str]:
    """The test process's environment without the variables a config may read, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_", "SIGNAL_", "SUPERVISOR_"))}
    env.update(extra)
    return env


def write(tmp_path: Path, **fields: object) -> Path:
    values: dict[str, object] = {
        "base_url": "http://127.0.0.1:9",
        "token": "${KITE_ALGO_WORKER_TOKEN}",
        "state_dir": '""',
        "port": 0,
    }
    values.update(fields)
    path = tmp_path / "cfg.yaml"
    path.write_text(REMOTE.format(**values))
    return path


def cli(command: str, config: Path, env: dict[str, str], *extra: str) -> tuple[int, str]:
    done = subprocess.run(
        [*CLI, command, "--config", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def both(config: Path, env: dict[str, str], *extra: str) -> Iterator[tuple[str, int, str]]:
    for command in ("check", "run"):
        code, output = cli(command, config, env, *extra)
        yield command, code, output


def run_preflight(config: Path, env: dict[str, str], state_dir: str | None = None) -> None:
    loaded, locator = load_config(config, environ=env)
    preflight(loaded, locator, PluginRegistry.from_classes({}), environ=env, state_dir=state_dir)


def test_an_unset_token_variable_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path, token="${SOME_UNSET_VAR}")
    expected = f"{config}:3: backend.token: ${{SOME_UNSET_VAR}} is not set in the environment"
    for command, code, output in both(config, environment()):
        assert code == 2, (command, output)
        assert expected in output, (command, output)
        assert "KITE_ALGO_WORKER_TOKEN" not in output, (command, output)
    with pytest.raises(ConfigError, match=r"cfg.yaml:3: backend.token: \$\{SOME_UNSET_VAR\} is not set"):
        run_preflight(config, environment())


def test_an_empty_token_names_the_variable_the_config_reads(tmp_path: Path) -> None:
    config = write(tmp_path, token="${MY_WORKER_TOKEN}")
    env = environment(MY_WORKER_TOKEN="")
    expected = f"{config}:3: backend.token: is empty: set MY_WORKER_TOKEN in the environment"
    for command, code, output in both(config, env):
        assert code == 2, (command, output)
        assert expected in output, (command, output)
    with pytest.raises(ConfigError, match=r"cfg\.yaml:3: backend\.token: is empty: set MY_WORKER_TOKEN"):
        run_preflight(config, env)


def test_an_unset_base_url_variable_is_an_error_not_a_type_error(tmp_path: Path) -> None:
    config = write(tmp_path, base_url="${KITE_ALGO_API_BASE}")
    env = environment(KITE_ALGO_WORKER_TOKEN="kwa_" + "t" * 43)
    for command, code, output in both(config, env):
        assert code == 2, (command, output)
        expected = f"{config}:2: backend.base_url: ${{KITE_ALGO_API_BASE}} is not set"
        assert expected in output, (command, output)
        assert "valid string" not in output
        assert "t" * 43 not in output  # the token never appears


def test_question_mark_form_fails_with_its_message(tmp_path: Path) -> None:
    config = write(tmp_path, state_dir="${STATE:?point STATE at the state directory}")
    env = environment(KITE_ALGO_WORKER_TOKEN="kwa_" + "t" * 43)
    for command, code, output in both(config, env):
        assert code == 2, (command, output)
        assert f"{config}:5: supervisor.state_dir: STATE: point STATE at the state directory" in output
    # set, it expands like ${VAR}; empty, it fails like unset (POSIX ':?')
    loaded, _ = load_config(config, environ={**env, "STATE": str(tmp_path / "s")})
    assert loaded.supervisor.state_dir == str(tmp_path / "s")
    with pytest.raises(ConfigError, match="STATE: point STATE"):
        load_config(config, environ={**env, "STATE": ""})


def test_a_token_may_use_the_question_mark_form(tmp_path: Path) -> None:
    config = write(tmp_path, token="${KITE_ALGO_WORKER_TOKEN:?export the worker token}")
    env = environment(KITE_ALGO_WORKER_TOKEN="kwa_" + "t" * 43)
    code, output = cli("check", config, env)
    assert code == 0, output
    code, output = cli("check", config, environment())
    assert code == 2, output
    assert f"{config}:3: backend.token: KITE_ALGO_WORKER_TOKEN: export the worker token" in output


def test_default_form_keeps_working(tmp_path: Path) -> None:
    config = write(tmp_path, base_url="${KITE_ALGO_API_BASE:-http://127.0.0.1:9}", port='"${HTTP_PORT:-0}"')
    code, output = cli("check", config, environment(KITE_ALGO_WORKER_TOKEN="kwa_x"))
    assert code == 0, output
    assert "backend http://127.0.0.1:9" in output


def test_every_unset_variable_is_reported_at_once() -> None:
    text = "backend:\n  base_url: ${A_URL}\nsupervisor:\n  state_dir: ${A_DIR}/x\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="c.yaml", environ={})
    hint = "is not set in the environment (write ${{{0}:-default}} for a default)"
    assert [str(p) for p in info.value.problems] == [
        "c.yaml:2: backend.base_url: ${A_URL} " + hint.format("A_URL"),
        "c.yaml:4: supervisor.state_dir: ${A_DIR} " + hint.format("A_DIR"),
    ]


def test_expand_env_forms() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert expand_env("${A}-${EMPTY}-${B:-dflt}-${EMPTY:-e}-${A:?unused}", env) == "1--dflt-e-1"
    with pytest.raises(ValueError, match=r"\$\{B\} is not set") as info:
        expand_env("x ${B} y", env)
    assert getattr(info.value, "variable", None) == "B"
    with pytest.raises(ValueError, match=r"^EMPTY: is not set$"):
        expand_env("${EMPTY:?}", env)


def test_an_unusable_state_dir_is_refused_with_its_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = write(tmp_path, state_dir=str(blocker / "state"))
    env = environment(KITE_ALGO_WORKER_TOKEN="kwa_x")
    for command, code, output in both(config, env):
        assert code == 3, (command, output)
        assert f"{config}:5: supervisor.state_dir: state directory {blocker / 'state'}: " in output
        assert "is not a directory" in output
    with pytest.raises(SetupError, match=r"cfg\.yaml:5: supervisor\.state_dir"):
        run_preflight(config, env)
    # the command-line override is checked the same way, and named as such
    fine = write(tmp_path, state_dir=str(tmp_path / "state"))
    for command, code, output in both(fine, env, "--state-dir", str(blocker)):
        assert code == 3, (command, output)
        assert f"--state-dir: state directory {blocker}: {blocker} is not a directory" in output
    assert not (tmp_path / "state").exists()  # check and the failed runs created nothing


def test_a_taken_http_port_is_refused_with_its_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write(tmp_path, port=port)
        env = environment(KITE_ALGO_WORKER_TOKEN="kwa_x")
        for command, code, output in both(config, env):
            assert code == 3, (command, output)
            assert f"{config}:6: supervisor.http.port: cannot serve on 127.0.0.1:{port}: " in output
            assert "another daemon" in output
        expected = re.escape(f"cfg.yaml:6: supervisor.http.port: cannot serve on 127.0.0.1:{port}")
        with pytest.raises(SetupError, match=expected):
            run_preflight(config, env)


def test_an_unknown_http_host_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path)
    config.write_text(config.read_text().replace("host: 127.0.0.1", "host: no-such-host.invalid"))
    expected = re.escape("cfg.yaml:6: supervisor.http.host: cannot serve on no-such-host.invalid")
    with pytest.raises(SetupError, match=expected):
        run_preflight(config, environment(KITE_ALGO_WORKER_TOKEN="kwa_x"))


def test_a_bad_shard_environment_is_refused_by_check_too(tmp_path: Path) -> None:
    config = write(tmp_path)
    env = environment(KITE_ALGO_WORKER_TOKEN="kwa_x", SUPERVISOR_SHARD_COUNT="two")
    for command, code, output in both(config, env):
        assert code == 2, (command, output)
        assert "SUPERVISOR_SHARD_COUNT='two'" in output


def test_a_missing_plugin_and_bad_params_are_reported_by_file_and_line(tmp_path: Path) -> None:
    run = "{strategy_run_id: r-%s, template_id: t, account_scope: kite:paper-a}"
    text = (
        "strategies:\n"
        f"  - name: a\n    plugin: idle\n    run: {run % 'a'}\n"
        "    params: {nope: 1}\n"
        f"  - name: b\n    plugin: missing\n    run: {run % 'b'}\n"
    )
    config, locator = parse_config(text, file="p.yaml", environ={})
    checked = preflight(config, locator, PluginRegistry.from_classes({"idle": Idle}), environ={})
    assert checked.resolved == []
    assert [s.reason for s in checked.skipped] == [
        "p.yaml:5: strategies[0].params.nope: unknown field (not allowed here)",
        "p.yaml:7: no such plugin 'missing'; known: idle",
    ]
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("plugin: idle", "plugin: basic_equity"))
    code, output = cli("check", path, environment())
    assert code == 2 and f"{path}:7: no such plugin" in output, output


def test_config_and_host_problems_are_listed_together(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = write(tmp_path, token="${EMPTY_TOKEN}", state_dir=str(blocker))
    code, output = cli("check", config, environment(EMPTY_TOKEN=""))
    assert code == 2, output  # the config's own problem decides the exit code
    assert f"{config}:3: backend.token: is empty: set EMPTY_TOKEN" in output
    assert (
        f"{config}:5: supervisor.state_dir: state directory {blocker}: {blocker} is not a directory" in output
    )
