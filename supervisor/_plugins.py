"""Strategy plugins: discovery through entry points, loading, and parameter validation.

Plugins register in the entry point group ``kite_algo_supervisor.strategies`` (name ->
``"module:Class"``). The registry is a parameter everywhere (tests build one from classes with
:meth:`PluginRegistry.from_classes`); only the CLI reads the installed entry points.

A plugin that cannot be imported, is not a strategy, or whose ``params`` fail validation is
reported (:class:`SkippedStrategy`: name and reason) and skipped; the other strategies run.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from ._config import Locator, StrategyConfig, SupervisorConfig, format_validation_error
from ._strategy import NoParams, Strategy

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginError",
    "PluginInfo",
    "PluginRegistry",
    "ResolvedStrategy",
    "SkippedStrategy",
    "resolve_strategies",
]

ENTRY_POINT_GROUP = "kite_algo_supervisor.strategies"


class PluginError(Exception):
    """A plugin could not be loaded; ``name`` and ``reason`` say which and why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"plugin {name!r}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class PluginInfo:
    name: str
    target: str  # "module:Class"
    distribution: str | None


class PluginRegistry:
    """Plugin name -> a loader returning the strategy class. Loading never blocks on I/O
    beyond importing the plugin's module."""

    def __init__(self, loaders: Mapping[str, Callable[[], Any]], infos: Iterable[PluginInfo] = ()) -> None:
        self._loaders = dict(loaders)
        self._infos = {info.name: info for info in infos}

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> PluginRegistry:
        """The installed plugins (reads distribution metadata; imports nothing yet)."""
        loaders: dict[str, Callable[[], Any]] = {}
        infos = []
        for ep in entry_points(group=group):
            loaders.setdefault(ep.name, ep.load)
            dist = getattr(ep, "dist", None)
            infos.append(PluginInfo(ep.name, ep.value, getattr(dist, "name", None)))
        return cls(loaders, infos)

    @classmethod
    def from_classes(cls, classes: Mapping[str, Any]) -> PluginRegistry:
        """A registry of given classes (tests, embedding); values may also be zero-arg loaders."""

        def loader(value: Any) -> Callable[[], Any]:
            if inspect.isclass(value):
                return lambda: value
            return value  # type: ignore[no-any-return]

        return cls(
            {name: loader(value) for name, value in classes.items()},
            [PluginInfo(name, _target(value), None) for name, value in classes.items()],
        )

    def names(self) -> list[str]:
        return sorted(self._loaders)

    def info(self, name: str) -> PluginInfo:
        return self._infos.get(name, PluginInfo(name, "?", None))

    def load(self, name: str) -> type[Strategy]:
        """Import and check plugin ``name``. Raises :class:`PluginError` with the reason."""
        loader = self._loaders.get(name)
        if loader is None:
            raise PluginError(name, unknown_plugin_reason(name, self.names()))
        try:
            obj = loader()
        except Exception as exc:  # isolation boundary: a broken plugin must not stop the others
            raise PluginError(name, f"failed to import: {type(exc).__name__}: {exc}") from exc
        return _check_strategy_class(name, obj)


def unknown_plugin_reason(name: str, known: Sequence[str]) -> str:
    """``no such plugin 'basic_equty' (did you mean 'basic_equity'?); known: ...``: the closest
    installed names by :func:`difflib.get_close_matches` (up to three), then every known one. Pure."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"no such plugin {name!r}{hint}; known: {', '.join(known) or 'none installed'}"


def _target(value: Any) -> str:
    return f"{getattr(value, '__module__', '?')}:{getattr(value, '__qualname__', '?')}"


def _check_strategy_class(name: str, obj: Any) -> type[Strategy]:
    if not inspect.isclass(obj):
        raise PluginError(name, f"entry point is not a class but {type(obj).__name__}")
    run = getattr(obj, "run", None)
    if run is None or not inspect.iscoroutinefunction(run):
        raise PluginError(name, f"{obj.__qualname__} has no `async def run(self, ctx)`")
    params = getattr(obj, "Params", NoParams)
    if not (inspect.isclass(params) and issubclass(params, BaseModel)):
        raise PluginError(name, f"{obj.__qualname__}.Params is not a pydantic model")
    result: type[Strategy] = cast("type[Strategy]", obj)
    return result


def params_model(cls: type[Any]) -> type[BaseModel]:
    model: type[BaseModel] = getattr(cls, "Params", NoParams)
    return model


def params_schema(cls: type[Any]) -> str:
    """The JSON schema of a strategy's parameters (pretty JSON)."""
    return json.dumps(params_model(cls).model_json_schema(), indent=2, sort_keys=True)


@dataclass(frozen=True)
class ResolvedStrategy:
    """A configured strategy whose plugin loaded and whose params validated."""

    config: StrategyConfig
    strategy_cls: type[Strategy]
    params: BaseModel

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class SkippedStrategy:
    """A configured strategy that will not run, and why (plugin import/shape or params)."""

    name: str
    plugin: str
    reason: str

    def __str__(self) -> str:
        return f"strategy {self.name!r} (plugin {self.plugin!r}) skipped: {self.reason}"


def resolve_strategies(
    config: SupervisorConfig, locator: Locator, registry: PluginRegistry
) -> tuple[list[ResolvedStrategy], list[SkippedStrategy]]:
    """Load each strategy's plugin and validate its params; never raises for one bad strategy.

    A params problem reads like a config problem: ``file:line: strategies[i].params.x: msg``.
    """
    resolved: list[ResolvedStrategy] = []
    skipped: list[SkippedStrategy] = []
    for index, strategy in enumerate(config.strategies):
        try:
            cls = registry.load(strategy.plugin)
        except PluginError as exc:
            line = locator.line_of(("strategies", index, "plugin"))
            where = f"{locator.file}:{line}" if line else locator.file
            skipped.append(SkippedStrategy(strategy.name, strategy.plugin, f"{where}: {exc.reason}"))
            continue
        try:
            params = params_model(cls).model_validate(strategy.params)
        except ValidationError as exc:
            problems = format_validation_error(exc, locator, ("strategies", index, "params"))
            skipped.append(
                SkippedStrategy(strategy.name, strategy.plugin, "; ".join(str(p) for p in problems))
            )
            continue
        resolved.append(ResolvedStrategy(strategy, cls, params))
    return resolved, skipped
