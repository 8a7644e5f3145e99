"""``python -m tests.daemon.launch CONFIG``: the daemon as a real process for the signal test.

Exactly ``kite-supervisor run`` (config, registry, run_daemon, real signal handling) except that
the worker client is the tests' stand-in and the plugins come from ``tests.daemon.strategies``.
"""

from __future__ import annotations

import os
import sys

import trio

from supervisor._config import load_config
from supervisor._daemon import run_daemon
from supervisor._logging import configure_logging
from supervisor._plugins import PluginRegistry, resolve_strategies

from .strategies import Hang, Idle
from .test_daemon import wire_factory


def main() -> int:
    configure_logging(level="INFO")
    config, locator = load_config(sys.argv[1], environ=os.environ)
    registry = PluginRegistry.from_classes({"idle": Idle, "hang": Hang})
    resolved, skipped = resolve_strategies(config, locator, registry)
    return trio.run(lambda: run_daemon(config, resolved, skipped=skipped, client_factory=wire_factory))


if __name__ == "__main__":
    sys.exit(main())
