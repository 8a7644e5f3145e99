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

__all__ = ["__version__"]
