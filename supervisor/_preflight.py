"""One validation for ``kite-supervisor check`` and ``run``: what the daemon would refuse, found
before anything starts, each problem naming the file, the line and the field.

:func:`preflight` runs every check below on a loaded config and raises with *all* the problems
found, so an operator fixes a config in one round:

* a remote backend needs ``backend.token``, and the message names the variable the config
  actually reads (``${MY_TOKEN}``), never a value;
* ``backend.base_url`` is ``embedded`` or an ``http(s)://`` URL;
* the state directory (``supervisor.state_dir``, or ``--state-dir``) is a directory this process
  can write, or can be created; nothing is created here (``check`` leaves no trace);
* ``supervisor.http`` names a host and port this process can bind now (``check`` next to a
  running daemon therefore reports its port as taken);
* the shard environment (``SUPERVISOR_SHARD_*``) is consistent;
* every strategy's plugin loads and its ``params`` validate: these are reported as skipped
  strategies, which ``check`` refuses and ``run`` logs while hosting the others.

Problems with the config itself raise :class:`~supervisor._config.ConfigError` (exit code 2);
when the config is fine but this host cannot run it (state directory, port), :class:`SetupError`
(exit code 3). Blocks briefly: it binds and closes a socket, and writes and removes a probe file.
"""

from __future__ import annotations

import errno
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ._config import ConfigError, ConfigProblem, Locator, SupervisorConfig
from ._plugins import PluginRegistry, ResolvedStrategy, SkippedStrategy, resolve_strategies
from ._shard import Shard, ShardConfigError, shard_from_env

__all__ = ["Preflight", "SetupError", "preflight"]

TOKEN_VARIABLE = "KITE_ALGO_WORKER_TOKEN"  # what the examples and the sandbox read


class SetupError(ConfigError):
    """The config is valid but this host cannot run it (state directory, HTTP port)."""


@dataclass(frozen=True)
class Preflight:
    """What passed: the strategies to host, those skipped (and why), this daemon's shard."""

    resolved: list[ResolvedStrategy]
    skipped: list[SkippedStrategy]
    shard: Shard | None


def preflight(
    config: SupervisorConfig,
    locator: Locator,
    registry: PluginRegistry,
    *,
    environ: Mapping[str, str],
    state_dir: str | None = None,
) -> Preflight:
    """Check everything ``run`` needs before it starts (module docstring).

    ``state_dir`` is the ``--state-dir`` override. Raises :class:`ConfigError` or
    :class:`SetupError` listing every problem; a bad plugin or params is not raised but
    returned in ``skipped``.
    """
    problems = _backend_problems(config, locator)
    shard = None
    try:
        shard = shard_from_env(environ)
    except ShardConfigError as exc:
        problems.append(ConfigProblem("environment", None, "", str(exc)))
    host = _state_dir_problems(config, locator, state_dir) + _http_problems(config, locator)
    if problems:  # a config problem is the one to fix first (exit 2); the host's are listed too
        raise ConfigError(problems + host)
    if host:
        raise SetupError(host)
    resolved, skipped = resolve_strategies(config, locator, registry)
    return Preflight(resolved, skipped, shard)


def _backend_problems(config: SupervisorConfig, locator: Locator) -> list[ConfigProblem]:
    backend = config.backend
    if backend.embedded:
        return []
    problems = []
    if not backend.base_url.strip().startswith(("http://", "https://")):
        message = "expected 'embedded' or an http:// or https:// URL"
        problems.append(locator.problem(("backend", "base_url"), message))
    if backend.token is None:
        names = locator.variables.get(("backend", "token"))
        if names:
            listed = " or ".join(names)
            message = f"is empty: set {listed} in the environment (a remote backend needs the worker token)"
        else:
            message = (
                f"a remote backend needs the worker token: write token: ${{{TOKEN_VARIABLE}}} "
                f"and set {TOKEN_VARIABLE} in the environment"
            )
        problems.append(locator.problem(("backend", "token"), message))
    return problems


def _state_dir_problems(
    config: SupervisorConfig, locator: Locator, override: str | None
) -> list[ConfigProblem]:
    raw = override or config.supervisor.state_dir
    if not raw:
        return []
    reason = state_dir_unusable(Path(raw))
    if reason is None:
        return []
    if override:
        return [ConfigProblem("--state-dir", None, "", f"state directory {raw}: {reason}")]
    return [locator.problem(("supervisor", "state_dir"), f"state directory {raw}: {reason}")]


def state_dir_unusable(path: Path) -> str | None:
    """Why ``path`` cannot be the state directory, or None. Creates nothing that stays."""
    probe = path
    while not probe.exists():  # the nearest existing ancestor must let us create the rest
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if probe == path and (path / "runs").exists() and not (path / "runs").is_dir():
        return f"{path / 'runs'} is not a directory"
    try:
        # a real write, not os.access: root passes access checks on a read-only mount
        with tempfile.TemporaryFile(dir=probe, prefix=".kite-supervisor-probe-"):
            pass
    except OSError as exc:
        return f"{probe} is not writable ({exc.strerror or exc})"
    return None


def _http_problems(config: SupervisorConfig, locator: Locator) -> list[ConfigProblem]:
    http = config.supervisor.http
    reason = address_unbindable(http.host, http.port)
    if reason is None:
        return []
    field = "host" if reason.startswith("unknown host") else "port"
    message = f"cannot serve on {http.host}:{http.port}: {reason}"
    return [locator.problem(("supervisor", "http", field), message)]


def address_unbindable(host: str, port: int) -> str | None:
    """Why a listener cannot bind ``host:port`` now, or None (binds and closes a socket)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        return f"unknown host ({getattr(exc, 'strerror', None) or exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # as the HTTP server binds: SO_REUSEADDR, so a socket in TIME_WAIT is no conflict
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            hint = " (is another daemon running?)" if exc.errno == errno.EADDRINUSE else ""
            return f"{exc.strerror or exc}{hint}"
    return None
