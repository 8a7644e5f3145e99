"""Protocol logic stays free of I/O (style rule 2).

For each module listed here, the imports of the module and of every project module it
imports (transitively, by reading the source, not the packages' ``__init__``) may not reach an
I/O library. Add every new protocol module to the list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SANS_IO_MODULES = [
    "supervisor.client._backoff",
    "supervisor.client._config",
    "supervisor.client._endpoints",
    "supervisor.client._errors",
    "supervisor.client._models",
    "supervisor.client._order_budget",
    "supervisor.client._order_rules",
    "supervisor.client._orders",
    "supervisor.client._protection",
    "supervisor.client._sse",
    "supervisor.client._ws_messages",
    "supervisor._money",
    "supervisor._notify",
    "supervisor._restart",
    "supervisor._shard",
    "supervisor.backtest._bars",
    "supervisor.backtest._png",
    "supervisor.backtest._replay",
    "supervisor.backtest._report",
    "supervisor.backtest._result",
    "supervisor.hub._buffer",
    "supervisor.hub._models",
    "supervisor.hub._union",
    "supervisor.sandbox._auth",
    "supervisor.sandbox._calendar",
    "supervisor.sandbox._candles",
    "supervisor.sandbox._errors",
    "supervisor.sandbox._gtt",
    "supervisor.sandbox._http_errors",
    "supervisor.sandbox._intents",
    "supervisor.sandbox._loops",
    "supervisor.sandbox._market",
    "supervisor.sandbox._market_hours",
    "supervisor.sandbox._options_chain",
    "supervisor.sandbox._options_protection",
    "supervisor.sandbox._orders_view",
    "supervisor.sandbox._paper",
    "supervisor.sandbox._paper_orders",
    "supervisor.sandbox._portfolio",
    "supervisor.sandbox._protection_config",
    "supervisor.sandbox._quotes",
    "supervisor.sandbox._reference",
    "supervisor.sandbox._runs",
    "supervisor.sandbox._safety",
    "supervisor.sandbox._state",
    "supervisor.sandbox._timeline",
    "supervisor.sandbox._universe",
]

FORBIDDEN = {
    "trio",
    "httpx",
    "httpcore",
    "anyio",
    "sqlite3",
    "hypercorn",
    "socket",
    "asyncio",
    "requests",
    "trio_websocket",
    "websockets",
}


def _module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(name: str) -> set[str]:
    path = _module_path(name)
    assert path is not None, f"no source for {name}"
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{anchor}.{node.module}" if node.module else anchor
                if node.module is None:
                    found.update(f"{anchor}.{alias.name}" for alias in node.names)
                found.add(target)
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _reachable_libraries(module: str) -> dict[str, str]:
    """Top-level libraries reachable from ``module`` -> the project module that imports them."""
    seen: set[str] = set()
    libraries: dict[str, str] = {}
    stack = [module]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        for imported in _imports(current):
            if imported.split(".")[0] == "supervisor":
                if _module_path(imported) is not None and not imported.endswith("__init__"):
                    path = _module_path(imported)
                    if path is not None and path.name != "__init__.py":
                        stack.append(imported)
            else:
                libraries.setdefault(imported.split(".")[0], current)
    return libraries


@pytest.mark.parametrize("module", SANS_IO_MODULES)
def test_module_imports_no_io_library(module: str) -> None:
    libraries = _reachable_libraries(module)
    bad = {lib: via for lib, via in libraries.items() if lib in FORBIDDEN}
    assert not bad, f"{module} reaches I/O libraries: {bad}"


def test_the_checker_catches_io_imports() -> None:
    # _cli imports argparse itself and logging through supervisor._logging
    libraries = _reachable_libraries("supervisor._cli")
    assert libraries["argparse"] == "supervisor._cli"
    assert libraries["logging"] in {"supervisor._cli", "supervisor._logging"}
