"""Backtest and replay: the configured strategies, unchanged, through the real daemon against
the paper sandbox fed by history, in virtual time (``kite-supervisor backtest``).

The pieces: ``_data`` (the candle files, sans-IO parsing), ``_replay`` (the market steps a
history is replayed through), ``_bars`` (the candles cut from those steps), ``_clock`` (the
market clock on trio's virtual time), ``_transport`` (the daemon's clients served by the
sandbox's app in-process), ``_run`` (the composition), ``_report`` (metrics, pure) and
``_render`` (CSV, HTML, PNG), ``_command`` (the CLI).
"""

from ._data import Candle as Candle
from ._data import DataError as DataError
from ._data import load_history as load_history
from ._data import parse_candles_csv as parse_candles_csv
from ._replay import Step as Step
from ._replay import replay_steps as replay_steps
from ._replay import synthetic_steps as synthetic_steps
from ._result import BacktestResult as BacktestResult
from ._run import HEARTBEAT_S as HEARTBEAT_S
from ._run import run_backtest as run_backtest

__all__ = [
    "HEARTBEAT_S",
    "BacktestResult",
    "Candle",
    "DataError",
    "Step",
    "load_history",
    "parse_candles_csv",
    "replay_steps",
    "run_backtest",
    "synthetic_steps",
]
