"""The daemon's YAML configuration: loading, ``${VAR}`` expansion and strict validation.

A config file is parsed into a node tree that remembers where every value came from, expanded
against an *injected* environment (``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``), then
validated by strict pydantic models (unknown keys are errors). Every error names the file, the
line and the field::

    deploy/examples.yaml:14: strategies[0].run.execution_mode: Input should be 'paper', ...

Rules beyond the models:

* ``${VAR}`` with ``VAR`` unset is an error naming ``VAR`` (a silent ``""`` surfaced later as a
  puzzling type error, or as a daemon talking to the wrong place); ``${VAR:?message}`` is an
  error with ``message`` when ``VAR`` is unset or empty; ``${VAR:-default}`` never fails;
* secrets come only from the environment: ``backend.token`` must be a ``${VAR}`` reference, a
  literal token in the file is refused;
* ``execution_mode: live`` is refused unless ``KITE_ALGO_ENABLE_LIVE=1`` is in the environment;
* strategy names and ``run.strategy_run_id`` values must be unique;
* ``supervisor.order_rate`` is the order-rate budget every strategy on the token shares; its
  defaults are Kite's published per-user limits (``supervisor/client/_order_budget.py``);
* ``supervisor.heartbeat_interval_s`` must stay below 45 s, the backend's ``healthy`` ceiling
  (contract §7.5); the default is 10 s.

Nothing here does I/O except :func:`load_config` reading the file it is given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ._cockpit_config import LossBreakerConfig, MoneyConfig, NotificationsConfig
from .client._order_budget import KITE_ORDER_LIMITS, OrderRateLimits
from .hub import HubTransport

__all__ = [
    "EMBEDDED",
    "BackendConfig",
    "ConfigError",
    "ConfigProblem",
    "HttpConfig",
    "Locator",
    "MissingVariableError",
    "OrderRateConfig",
    "RestartConfig",
    "RunSection",
    "StrategyConfig",
    "SupervisorConfig",
    "SupervisorSection",
    "expand_env",
    "format_validation_error",
    "load_config",
    "parse_config",
]

EMBEDDED = "embedded"
HEARTBEAT_CEILING_S = 45.0  # the backend's "healthy" ceiling (contract §7.5)
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# ${VAR}, ${VAR:-default}, ${VAR:?message} (the POSIX shell forms a deployment already knows)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}")
_ONLY_VAR = re.compile(r"^\s*\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::-|:\?)[^}]*)?\}\s*$")

Path_ = tuple[str | int, ...]


# -- models ----------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackendConfig(_Strict):
    """Where the Kite Algo backend is; ``embedded`` starts the paper sandbox in-process."""

    base_url: str = EMBEDDED
    token: SecretStr | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=60)

    @field_validator("token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def embedded(self) -> bool:
        return self.base_url.strip() in ("", EMBEDDED)


class HttpConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    # mutating endpoints (restart, pause, resume, stop, reload) need it as a bearer token;
    # without one they are refused (read-only console)
    operator_token: SecretStr | None = None

    @field_validator("operator_token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class RestartConfig(_Strict):
    initial_backoff_s: float = Field(default=1.0, ge=0)
    max_backoff_s: float = Field(default=60.0, gt=0)
    max_restarts: int = Field(default=5, ge=0)
    window_s: float = Field(default=300.0, gt=0)


class OrderRateConfig(_Strict):
    """The order-rate budget shared by every strategy on the worker token (fair between them).

    An order call waits for a slot up to ``max_wait_s``, then raises ``OrderRateLimitedError``.
    """

    enabled: bool = True
    per_second: int = Field(default=KITE_ORDER_LIMITS.per_second, ge=1)
    per_minute: int = Field(default=KITE_ORDER_LIMITS.per_minute, ge=1)
    per_day: int = Field(default=KITE_ORDER_LIMITS.per_day, ge=1)
    max_wait_s: float = Field(default=10.0, ge=0, le=3600)

    def limits(self) -> OrderRateLimits:
        return OrderRateLimits(self.per_second, self.per_minute, self.per_day)


class HubConfig(_Strict):
    """The stream hub's upstream transport: the SSE streams, or the §5.6 WebSockets (timeline
    topics stay on SSE); retries, resume markers and failures are the same (``supervisor.hub``)."""

    transport: HubTransport = "sse"


class SupervisorSection(_Strict):
    heartbeat_interval_s: float = Field(default=10.0, gt=0, lt=HEARTBEAT_CEILING_S)
    heartbeat_timeout_s: float | None = Field(default=None, gt=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    release_timeout_s: float = Field(default=5.0, gt=0)
    standby_poll_s: float = Field(default=10.0, gt=0)
    startup_concurrency: int = Field(default=16, ge=1, le=1024)
    # gc.freeze() once every strategy has started: see supervisor/_daemon.py
    gc_freeze: bool = True
    state_dir: str | None = None
    http: HttpConfig = HttpConfig()
    restart: RestartConfig = RestartConfig()
    money: MoneyConfig = MoneyConfig()
    order_rate: OrderRateConfig = OrderRateConfig()
    hub: HubConfig = HubConfig()

    @property
    def beat_timeout_s(self) -> float:
        """How long one heartbeat may take: explicit, else 80 % of the interval capped at 10 s."""
        if self.heartbeat_timeout_s is not None:
            return min(self.heartbeat_timeout_s, self.heartbeat_interval_s)
        return min(10.0, 0.8 * self.heartbeat_interval_s)


class RunSection(_Strict):
    """The backend run a strategy drives (``RunConfig`` in the seed's words)."""

    strategy_run_id: str = Field(min_length=1, max_length=128)
    template_id: str = Field(min_length=1)
    account_scope: str = Field(min_length=1)
    execution_mode: Literal["paper", "dry_run", "live"] = "paper"
    metadata: dict[str, Any] = {}
    summary_fields: list[dict[str, Any]] = []
    risk_schema: list[dict[str, Any]] = []
    runtime_state: dict[str, Any] = {}


class StrategyConfig(_Strict):
    name: str = Field(pattern=_NAME_PATTERN)
    plugin: str = Field(min_length=1)
    run: RunSection
    params: dict[str, Any] = {}
    # no ctx.progress() for this long -> reported stalled (and restarted if restart_on_stall)
    progress_deadline_s: float | None = Field(default=None, gt=0)
    restart_on_stall: bool = False
    loss_breaker: LossBreakerConfig | None = None  # pause past a loss (supervisor/_breaker.py)


class SupervisorConfig(_Strict):
    backend: BackendConfig = BackendConfig()
    supervisor: SupervisorSection = SupervisorSection()
    notifications: NotificationsConfig = NotificationsConfig()
    strategies: list[StrategyConfig] = []

    @field_validator("strategies")
    @classmethod
    def _unique(cls, strategies: list[StrategyConfig]) -> list[StrategyConfig]:
        for attr in ("name", "run.strategy_run_id"):
            seen: set[str] = set()
            for strategy in strategies:
                value = strategy.name if attr == "name" else strategy.run.strategy_run_id
                if value in seen:
                    raise ValueError(f"duplicate {attr} {value!r}")
                seen.add(value)
        return strategies


# -- errors with positions -------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigProblem:
    """One problem: ``file:line: field: message``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(ValueError):
    """The config is invalid; ``problems`` lists each one with file, line and field."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def dotted(path: Path_) -> str:
    """``("strategies", 0, "run", "x")`` -> ``strategies[0].run.x``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Locator:
    """Maps a value's path in the document to its (1-based) line in ``file``, and remembers
    which environment variables each expanded value came from (for messages: never values)."""

    file: str
    lines: dict[Path_, int] = field(default_factory=dict)
    variables: dict[Path_, tuple[str, ...]] = field(default_factory=dict)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        # the deepest known ancestor: a missing key is reported where its parent is
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), None)

    def problem(self, path: Sequence[str | int], message: str) -> ConfigProblem:
        return ConfigProblem(self.file, self.line_of(path), dotted(tuple(path)), message)


def format_validation_error(
    exc: ValidationError, locator: Locator, prefix: Sequence[str | int] = ()
) -> list[ConfigProblem]:
    """Turn pydantic errors into positioned problems (``prefix`` = where the model sits)."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = [*prefix, *(p for p in error["loc"] if isinstance(p, str | int))]
        message = str(error["msg"])
        if error["type"] == "extra_forbidden":
            message = "unknown field (not allowed here)"
        problems.append(locator.problem(loc, message))
    return problems


# -- environment expansion --------------------------------------------------------------------
class MissingVariableError(ValueError):
    """``${VAR}`` (or ``${VAR:?message}``) met an unset variable; ``variable`` names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(message)
        self.variable = variable


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` (pure, never blocks).

    ``:-`` uses the default when the variable is unset *or empty*, and ``:?`` fails when it is
    unset or empty, as in POSIX shells. Raises :class:`MissingVariableError` for the first
    ``${VAR}`` whose variable is unset, or ``${VAR:?message}`` whose variable is unset or empty.
    """

    def repl(match: re.Match[str]) -> str:
        name, operator, word = match.group(1), match.group(2), match.group(3)
        value = environ.get(name)
        if operator == ":-":
            return value if value else word
        if operator == ":?":
            if not value:
                raise MissingVariableError(name, f"{name}: {word.strip() or 'is not set'}")
            return value
        if value is None:
            raise MissingVariableError(
                name, f"${{{name}}} is not set in the environment (write ${{{name}:-default}} for a default)"
            )
        return value

    return _VAR.sub(repl, text)


def variables_in(text: str) -> list[str]:
    """The names of the variables ``text`` refers to, in order."""
    return [match.group(1) for match in _VAR.finditer(text)]


# libyaml's parser when PyYAML was built with it: ten times faster on a 1,000-strategy config,
# which a restarted daemon parses before it can re-attach
_LOADER: type[yaml.SafeLoader] = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader  # type: ignore[assignment]


def _build(  # noqa: PLR0917 (a recursive helper; the parameters are its state)
    node: yaml.Node,
    path: Path_,
    locator: Locator,
    environ: Mapping[str, str],
    raw: dict[Path_, str],
    missing: list[ConfigProblem],
) -> Any:
    locator.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, (*path, "<key>"), locator, environ, raw, missing)
            locator.lines.pop((*path, "<key>"), None)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise ConfigError(
                    [
                        ConfigProblem(
                            locator.file, key_node.start_mark.line + 1, dotted((*path, key)), "duplicate key"
                        )
                    ]
                )
            # the key's own line (where the field is written) is the most useful position
            out[key] = _build(value_node, (*path, key), locator, environ, raw, missing)
            locator.lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), locator, environ, raw, missing) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    if node.tag == "tag:yaml.org,2002:str" or "${" in node.value:
        raw[path] = node.value
        if "${" in node.value:
            locator.variables[path] = tuple(variables_in(node.value))
            try:
                expanded = expand_env(node.value, environ)
            except MissingVariableError as exc:
                missing.append(locator.problem(path, str(exc)))
                return None
            if not node.style and path != ("backend", "token"):  # plain: None, or "" from libyaml
                # an unquoted ${VAR} behaves as if the value had been written there (a port
                # becomes an int); anything that is not a plain scalar stays a string, and the
                # value never reaches an error message (it may be a secret)
                if not expanded.strip():
                    return None
                try:
                    value = yaml.safe_load(expanded)
                except yaml.YAMLError:
                    return expanded
                return value if isinstance(value, int | float | bool | str) else expanded
            return expanded
        return node.value
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def parse_config(
    text: str, *, file: str = "<config>", environ: Mapping[str, str]
) -> tuple[SupervisorConfig, Locator]:
    """Parse and validate config ``text``; returns the config and its line locator.

    Never blocks. Raises :class:`ConfigError` with every problem found (file, line, field).
    """
    locator = Locator(file)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(file, line, "", f"invalid YAML: {problem}")]) from None
    if root is None:
        data: Any = {}
    else:
        raw: dict[Path_, str] = {}
        missing: list[ConfigProblem] = []
        data = _build(root, (), locator, environ, raw, missing)
        _check_secrets(raw, locator)
        if missing:  # every unset variable at once, each at its line
            raise ConfigError(missing)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(file, locator.line_of(()), "", "the config must be a mapping")])
    try:
        config = SupervisorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, locator)) from None
    problems = []
    if environ.get("KITE_ALGO_ENABLE_LIVE") != "1":
        for i, strategy in enumerate(config.strategies):
            if strategy.run.execution_mode == "live":
                problems.append(
                    locator.problem(
                        ("strategies", i, "run", "execution_mode"),
                        "live execution is refused unless KITE_ALGO_ENABLE_LIVE=1 is set in the environment",
                    )
                )
    if not config.supervisor.money.enabled:
        for i, strategy in enumerate(config.strategies):
            if strategy.loss_breaker is not None:  # it would never trip: it reads the money book
                problems.append(
                    locator.problem(
                        ("strategies", i, "loss_breaker"),
                        "a loss breaker needs the money reader: remove supervisor.money.enabled: false",
                    )
                )
    if problems:
        raise ConfigError(problems)
    return config, locator


def _check_secrets(raw: Mapping[Path_, str], locator: Locator) -> None:
    value = raw.get(("backend", "token"))
    if value is not None and value.strip() and not _ONLY_VAR.match(value):
        # never echo the value: it is presumably a real token
        raise ConfigError(
            [
                locator.problem(
                    ("backend", "token"),
                    "a literal token is not allowed in the config file; write ${KITE_ALGO_WORKER_TOKEN} "
                    "and set the variable in the environment",
                )
            ]
        )


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str]
) -> tuple[SupervisorConfig, Locator]:
    """Read and validate the config file at ``path`` (blocks briefly on file I/O).

    Raises :class:`ConfigError` (also for a missing or unreadable file).
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(name, None, "", f"cannot read config: {exc.strerror or exc}")]
        ) from None
    return parse_config(text, file=name, environ=environ)
