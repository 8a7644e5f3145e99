"""kite-algo-supervisor: host many Kite Algo strategy workers in one trio process.

The package is split into:

* :mod:`supervisor.client` — the worker API client (trio-native, plus a sync facade for scripts);
* :mod:`supervisor.sandbox` — a paper backend that speaks the worker API over real HTTP;
* the daemon (this package's private modules) — plugins, managed runs, the stream hub,
  metrics and the CLI (``kite-supervisor``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kite-algo-supervisor")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

from ._config import ConfigError as ConfigError
from ._config import SupervisorConfig as SupervisorConfig
from ._config import load_config as load_config
from ._managed_run import StrategyRun as StrategyRun
from ._plugins import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from ._plugins import PluginRegistry as PluginRegistry
from ._strategy import NoParams as NoParams
from ._strategy import Strategy as Strategy
from ._strategy import StrategyContext as StrategyContext
from ._supervisor import ShutdownReport as ShutdownReport
from ._supervisor import StrategyStatistics as StrategyStatistics
from ._supervisor import Supervisor as Supervisor
from ._supervisor import SupervisorStatistics as SupervisorStatistics

__all__ = [
    "ENTRY_POINT_GROUP",
    "ConfigError",
    "NoParams",
    "PluginRegistry",
    "ShutdownReport",
    "Strategy",
    "StrategyContext",
    "StrategyRun",
    "StrategyStatistics",
    "Supervisor",
    "SupervisorConfig",
    "SupervisorStatistics",
    "__version__",
    "load_config",
]
