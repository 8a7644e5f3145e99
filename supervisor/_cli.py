"""The ``kite-supervisor`` command line.

This is the composition root for processes: it parses arguments, configures logging (the only
place that does) and hands over to the command's module. Commands are imported lazily so that
``kite-supervisor sandbox`` does not pay for the daemon's imports and vice versa.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# command name -> (module, function); each function takes the parsed namespace and returns
# the process exit code.
_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("supervisor._commands", "cmd_run"),
    "check": ("supervisor._commands", "cmd_check"),
    "plugins": ("supervisor._commands", "cmd_plugins"),
    "status": ("supervisor._commands", "cmd_status"),
    "restart": ("supervisor._commands", "cmd_control"),
    "pause": ("supervisor._commands", "cmd_control"),
    "resume": ("supervisor._commands", "cmd_control"),
    "stop": ("supervisor._commands", "cmd_control"),
    "reload": ("supervisor._commands", "cmd_control"),
    "sandbox": ("supervisor.sandbox._standalone", "cmd_sandbox"),
    "backtest": ("supervisor.backtest._command", "cmd_backtest"),
    "record": ("supervisor.backtest._record", "cmd_record"),
    "new-strategy": ("supervisor._scaffold", "cmd_new_strategy"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kite-supervisor",
        description="Host many Kite Algo strategy workers in one process.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--log-format", choices=("human", "json"), default="human", help="log line format")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", required=True, help="YAML config file")
    run.add_argument("--state-dir", default=None, help="override supervisor.state_dir")

    check = sub.add_parser("check", help="validate a config file and its plugins")
    check.add_argument("--config", required=True, help="YAML config file")
    check.add_argument("--state-dir", default=None, help="override supervisor.state_dir (as run does)")

    plugins = sub.add_parser("plugins", help="list installed strategy plugins and their parameters")
    plugins.add_argument("--json", action="store_true", help="print each plugin's parameter JSON schema")

    new = sub.add_parser("new-strategy", help="scaffold an installable strategy package")
    new.add_argument("name", help="the plugin and package name, a lower-case identifier (my_strategy)")
    new.add_argument("--dir", default=".", help="where to create the package directory (default: .)")

    status = sub.add_parser("status", help="show a running daemon's strategies")
    status.add_argument("--url", default="http://127.0.0.1:9464", help="the daemon's HTTP address")

    for verb, text in (
        ("restart", "restart a strategy (a quarantined or stopped one starts again)"),
        ("pause", "end a strategy's body, keep its session heartbeating"),
        ("resume", "start a paused strategy's body again"),
        ("stop", "end a strategy and release its session (the backend acts ~180 s later)"),
    ):
        control = sub.add_parser(verb, help=text + "; needs $KITE_SUPERVISOR_OPERATOR_TOKEN")
        control.add_argument("name", help="the strategy's name")
        control.add_argument("--url", default="http://127.0.0.1:9464", help="the daemon's HTTP address")
    reload = sub.add_parser(
        "reload", help="re-read the daemon's config (as SIGHUP does); needs $KITE_SUPERVISOR_OPERATOR_TOKEN"
    )
    reload.add_argument("--url", default="http://127.0.0.1:9464", help="the daemon's HTTP address")

    backtest = sub.add_parser("backtest", help="run the strategies over history in virtual time")
    backtest.add_argument("--config", required=True, help="YAML config file (its backend is ignored)")
    backtest.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD (IST)")
    backtest.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD, included")
    backtest.add_argument(
        "--data", default=None, help="candles: DIR/NSE/INFY/minute.csv (default: seeded market)"
    )
    backtest.add_argument(
        "--fetch",
        default=None,
        metavar="URL",
        help="candles from this backend's history (token: $KITE_ALGO_WORKER_TOKEN)",
    )
    backtest.add_argument("--instruments", default=None, help="with --fetch: e.g. NSE:INFY,NSE:TCS")
    backtest.add_argument(
        "--cache", default="backtest-cache", help="with --fetch: the history cache directory"
    )
    backtest.add_argument("--interval", default="minute", help="the candles' interval (minute, 5minute, ...)")
    backtest.add_argument(
        "--warmup-days",
        type=int,
        default=None,
        help="with --data or --fetch: calendar days before --from loaded (or fetched) as history "
        "(default: the interval's default history window, 7 days of minute, 30 of 5minute)",
    )
    backtest.add_argument("--report", default="backtest-report", help="directory for the report files")
    backtest.add_argument(
        "--seed", type=int, default=1, help="seed of the sandbox's market and trio's scheduler"
    )

    record = sub.add_parser("record", help="record a backend's live ticks and candles for backtest --data")
    record.add_argument("--url", required=True, help="the backend's base URL; token: $KITE_ALGO_WORKER_TOKEN")
    record.add_argument("--instruments", required=True, help="comma-separated, e.g. NSE:INFY,NSE:TCS")
    record.add_argument("--minutes", type=float, required=True, help="how long to record")
    record.add_argument("--out", required=True, help="directory: OUT/NSE/INFY/minute.parquet, ticks.parquet")
    record.add_argument("--interval", default="minute", help="the candles' interval (minute, 5minute, ...)")
    record.add_argument(
        "--format",
        choices=("auto", "parquet", "csv"),
        default="auto",
        help="auto: Parquet when pyarrow is installed",
    )

    sandbox = sub.add_parser("sandbox", help="serve the paper sandbox backend")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=18777)
    sandbox.add_argument(
        "--token", default=None, help="worker token to accept (default: $KITE_ALGO_WORKER_TOKEN or generated)"
    )
    sandbox.add_argument("--db", default=None, help="SQLite file for persistence (default: in memory)")
    sandbox.add_argument("--seed", type=int, default=1, help="seed of the synthetic market")
    sandbox.add_argument("--tick-interval", type=float, default=1.0, help="seconds between market ticks")
    sandbox.add_argument(
        "--tick-phases",
        type=int,
        default=1,
        choices=range(1, 101),
        metavar="K",
        help="phases per tick (token mod K)",
    )
    sandbox.add_argument("--market-hours", choices=("always", "nse"), default="always", help="market clock")
    sandbox.add_argument("--asyncio", action="store_true", help="serve on asyncio/uvloop instead of trio")
    sandbox.add_argument(
        "--account-scope",
        default="kite:paper-a",
        help="account scope of the sandbox's worker token (default: kite:paper-a, the seed's default)",
    )
    sandbox.add_argument(
        "--epoch",
        default=None,
        help="the sandbox's wall time at start, ISO-8601 with offset (default: now); pins the day",
    )
    return parser


def _load(command: str) -> Callable[[argparse.Namespace], int]:
    module_name, attr = _COMMANDS[command]
    module = importlib.import_module(module_name)
    func: Callable[[argparse.Namespace], int] = getattr(module, attr)
    return func


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from supervisor._logging import configure_logging

    configure_logging(level=args.log_level, fmt=args.log_format)
    try:
        return _load(args.command)(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
