"""kite-algo-supervisor: host many Kite Algo strategy workers in one trio process.

The package is split into:

* :mod:`supervisor.client` — the worker API client (trio-native, plus a sync facade for scripts);
* :mod:`supervisor.sandbox` — a paper backend that speaks the worker API over real HTTP;
* the daemon (this package's private modules) — plugins, managed runs, the stream hub,
  metrics and the CLI (``kite-supervisor``).

A strategy author needs only this package's names (``Strategy``, ``StrategyContext``, the
stream records ``Tick``, ``Candle``, ``StreamResumed``...) and :mod:`supervisor.client`'s
(order builders, errors, ``CandleInterval``); ``docs/guide.md`` is the author's guide.
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
from ._strategy import TickMode as TickMode
from ._strategy_run import DecisionAction as DecisionAction
from ._strategy_run import DecisionType as DecisionType
from ._supervisor import ShutdownReport as ShutdownReport
from ._supervisor import StrategyStatistics as StrategyStatistics
from ._supervisor import Supervisor as Supervisor
from ._supervisor import SupervisorStatistics as SupervisorStatistics
from .hub import Candle as Candle
from .hub import PnlUpdate as PnlUpdate
from .hub import StreamResumed as StreamResumed
from .hub import SubscriberLagged as SubscriberLagged
from .hub import Tick as Tick
from .hub import TimelineEvent as TimelineEvent

__all__ = [
    "ENTRY_POINT_GROUP",
    "Candle",
    "ConfigError",
    "DecisionAction",
    "DecisionType",
    "NoParams",
    "PluginRegistry",
    "PnlUpdate",
    "ShutdownReport",
    "Strategy",
    "StrategyContext",
    "StrategyRun",
    "StrategyStatistics",
    "StreamResumed",
    "SubscriberLagged",
    "Supervisor",
    "SupervisorConfig",
    "SupervisorStatistics",
    "Tick",
    "TickMode",
    "TimelineEvent",
    "__version__",
    "load_config",
]
