"""The package's public surface is curated: guard it."""

from __future__ import annotations

import supervisor

EXPECTED = [
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


def test_all_is_sorted_and_complete() -> None:
    assert supervisor.__all__ == EXPECTED
    for name in supervisor.__all__:
        assert hasattr(supervisor, name), name
    assert supervisor.ENTRY_POINT_GROUP == "kite_algo_supervisor.strategies"


def test_the_testing_helpers_are_public() -> None:
    import supervisor.testing

    assert supervisor.testing.__all__ == ["StrategyHarness", "open_strategy_sandbox"]
    for name in supervisor.testing.__all__:
        assert getattr(supervisor.testing, name).__module__ == "supervisor.testing"
