"""The daemon's CLI commands: ``run``, ``check``, ``plugins``, ``status``.

Each takes the parsed arguments and returns the exit code. Exit codes: 0 fine, 1 the daemon
stopped with sessions it could not release (or ``status`` found a daemon unreachable), 2 the
config or a plugin is invalid (the message names file, line and field), 3 the daemon could not
start (an address in use, an unusable state directory), 4 the backend refused the worker token
(401/403 on the start-up probe), 5 a strategy could not be cancelled by the shutdown deadline
(named in the log; the process exits anyway), 6 (``status``) a strategy needs attention
(quarantined, stalled, session lost, failed). See ``supervisor._daemon.EXIT_CODES``.


``check`` and ``run`` validate through the same :func:`~supervisor._preflight.preflight`, so
``check`` refuses whatever ``run`` would; ``check`` also refuses a skipped strategy, which
``run`` logs while hosting the others.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, NoReturn, TextIO

import trio

from ._config import ConfigError, load_config
from ._daemon import DaemonSetupError, run_daemon
from ._ops import ops_hooks
from ._plugin_table import PluginRow, format_plugins_json, format_plugins_table
from ._plugins import (
    PluginError,
    PluginRegistry,
    ResolvedStrategy,
    SkippedStrategy,
    params_model,
    resolve_strategies,
)
from ._preflight import Preflight, SetupError, preflight

__all__ = ["cmd_check", "cmd_plugins", "cmd_run", "cmd_status", "format_status"]

log = logging.getLogger("supervisor.cli")

EXIT_CONFIG = 2
EXIT_SETUP = 3


def _validate(
    args: argparse.Namespace,
    registry: PluginRegistry | None,
    environ: Mapping[str, str],
    out: TextIO,
    *,
    state_dir: str | None = None,
) -> tuple[Any, Preflight] | int:
    """Load the config and run the preflight shared by ``check`` and ``run``: the config and
    what passed, or the exit code after printing every problem."""
    try:
        config, locator = load_config(args.config, environ=environ)
        checked = preflight(
            config,
            locator,
            registry or PluginRegistry.from_entry_points(),
            environ=environ,
            state_dir=state_dir,
        )
    except SetupError as exc:
        print(f"error: cannot run this config here\n{exc}", file=out)
        return EXIT_SETUP
    except ConfigError as exc:
        print(f"error: invalid config\n{exc}", file=out)
        return EXIT_CONFIG
    return config, checked


def cmd_check(
    args: argparse.Namespace,
    *,
    registry: PluginRegistry | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Validate the config, the host (state directory, HTTP port) and every strategy's plugin
    and params, as ``run`` would; 0 when all is well (blocks briefly on file and socket probes)."""
    out = out or sys.stdout
    environ = environ if environ is not None else os.environ
    state_dir = getattr(args, "state_dir", None)
    validated = _validate(args, registry, environ, out, state_dir=state_dir)
    if isinstance(validated, int):
        return validated
    config, checked = validated
    for skip in checked.skipped:
        print(f"error: {skip}", file=out)
    if checked.skipped:
        return EXIT_CONFIG
    backend = "embedded sandbox" if config.backend.embedded else config.backend.base_url
    print(f"ok: {args.config}: {len(checked.resolved)} strategies, backend {backend}", file=out)
    for item in checked.resolved:
        run = item.config.run
        print(
            f"  {item.name}: plugin {item.config.plugin}, run {run.strategy_run_id} ({run.execution_mode})",
            file=out,
        )
    return 0


def cmd_plugins(
    args: argparse.Namespace, *, registry: PluginRegistry | None = None, out: TextIO | None = None
) -> int:
    """List installed strategy plugins: a table of names, distributions and parameters (types,
    defaults, constraints), or with ``--json`` their parameter JSON schemas. Exit 2 when a
    plugin is broken (listed with the reason). Blocks only on importing the plugins."""
    out = out or sys.stdout
    registry = registry or PluginRegistry.from_entry_points()
    names = registry.names()
    if not names:
        print("no strategy plugins installed (entry point group kite_algo_supervisor.strategies)", file=out)
        return 0
    rows: list[PluginRow] = []
    for name in names:
        info = registry.info(name)
        try:
            cls = registry.load(name)
        except PluginError as exc:
            rows.append(PluginRow(name, info.target, info.distribution, error=exc.reason))
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        rows.append(PluginRow(name, info.target, info.distribution, doc[0] if doc else "", params_model(cls)))
    as_json = bool(getattr(args, "json", False))
    print(format_plugins_json(rows) if as_json else format_plugins_table(rows), file=out, end="")
    return EXIT_CONFIG if any(r.error is not None for r in rows) else 0


def _hard_exit(code: int) -> NoReturn:
    # the shutdown deadline passed with a strategy that cannot be cancelled (a thread or C
    # code): trio.run would never return, so end the process here, logs flushed first
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_run(args: argparse.Namespace, *, registry: PluginRegistry | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT (blocks)."""
    state_dir = getattr(args, "state_dir", None)
    validated = _validate(args, registry, os.environ, sys.stderr, state_dir=state_dir)
    if isinstance(validated, int):
        return validated
    config, checked = validated
    resolved, skipped, shard = checked.resolved, checked.skipped, checked.shard
    if shard is not None:  # a StatefulSet pod hosts only its shard (deploy/README.md, "Kubernetes")
        resolved = shard.select(resolved, lambda s: s.name)
        log.info("shard %d of %d: hosting %d strategies", shard.index, shard.count, len(resolved))
    hooks = ops_hooks()  # /metrics, the loop-lag probe, sd_notify, backend request timings
    plugins = registry or PluginRegistry.from_entry_points()

    def reload_strategies() -> tuple[list[ResolvedStrategy], list[SkippedStrategy]]:
        # SIGHUP / POST /reload: the same file and environment, re-read; ConfigError refuses it
        fresh, locator = load_config(args.config, environ=os.environ)
        again, skipped_again = resolve_strategies(fresh, locator, plugins)
        if shard is not None:
            again = shard.select(again, lambda s: s.name)
        return again, skipped_again

    try:
        try:
            return trio.run(
                lambda: run_daemon(
                    config,
                    resolved,
                    skipped=skipped,
                    state_dir=state_dir,
                    metrics_factory=hooks.metrics_factory,
                    extra_services=hooks.services,
                    request_observer=hooks.observe_request,
                    hard_exit=_hard_exit,
                    reload_strategies=reload_strategies,
                )
            )
        except (OSError, BaseExceptionGroup) as exc:
            # e.g. the HTTP port is taken: say so without a traceback
            first = _first(exc)
            if not isinstance(first, OSError):
                raise
            print(f"error: {first}", file=sys.stderr)
            return EXIT_SETUP
    except DaemonSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _first(group: BaseException) -> BaseException:
    while isinstance(group, BaseExceptionGroup) and group.exceptions:
        group = group.exceptions[0]
    return group


# states that need an operator: `kite-supervisor status` exits EXIT_ATTENTION when one is seen
ATTENTION_STATES = frozenset({"quarantined", "stalled", "session_lost", "failed"})
EXIT_ATTENTION = 6  # `status` only; `run` uses 4 and 5 for other things


def _age(now: float, then: Any) -> str:
    return f"{now - then:.0f}s" if isinstance(then, int | float) else "-"


def format_status(doc: Mapping[str, Any], now: float) -> str:
    """The ``/status`` document as a table (``now``: the wall clock, for the ages)."""
    rows = [("NAME", "STATE", "MODE", "NET P&L", "OPEN POS", "LAST ORDER", "BEAT AGE", "PROGRESS AGE",
             "RESTARTS", "REASON")]  # fmt: skip
    for s in doc.get("strategies", []):
        money = s.get("money") or {}
        last = money.get("last_order") or {}
        net = money.get("net_pnl")
        progress = s.get("progress_age_s")
        rows.append(
            (
                s["name"],
                s["state"],
                str(s.get("mode") or "-"),
                "-" if net is None else f"{net:,.2f}",
                str(money.get("open_positions", "-")),
                f"{last['side']} {last['quantity']} {last['symbol']} {last['status']}" if last else "-",
                _age(now, s.get("last_heartbeat_unix")),
                "-" if progress is None else f"{progress:.0f}s",
                str(s.get("restarts", 0)),
                str(s.get("reason") or money.get("error") or ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    for s in doc.get("skipped", []):
        lines.append(f"skipped: {s['name']} ({s['plugin']}): {s['reason']}")
    attention = sorted(s["name"] for s in doc.get("strategies", []) if s["state"] in ATTENTION_STATES)
    lines.append(f"ready: {'yes' if doc.get('ready') else 'no'}")
    if attention:
        lines.append(f"needs attention: {', '.join(attention)}")
    return "\n".join(line.rstrip() for line in lines)


def cmd_status(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Ask a running daemon for ``/status`` and print a table. Exit 1 when it cannot be reached,
    ``EXIT_ATTENTION`` when a strategy is quarantined, stalled, lost or failed, else 0."""
    import time

    import httpx

    out = out or sys.stdout
    url = args.url.rstrip("/") + "/status"
    try:
        response = httpx.get(url, timeout=5.0)
        response.raise_for_status()
        doc = response.json()
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        print(f"error: cannot read {url}: {exc}", file=out)
        return 1
    print(format_status(doc, time.time()), file=out)
    needs = any(s["state"] in ATTENTION_STATES for s in doc.get("strategies", []))
    return EXIT_ATTENTION if needs else 0


def cmd_control(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """``restart|pause|resume|stop NAME`` and ``reload``: ask a running daemon (blocks for one
    request). The operator token comes from ``$KITE_SUPERVISOR_OPERATOR_TOKEN``. Exit 0 accepted,
    1 the daemon cannot be reached, 2 refused (no token, wrong token, unknown strategy, not
    possible now)."""
    import httpx

    out = out or sys.stdout
    token = os.environ.get("KITE_SUPERVISOR_OPERATOR_TOKEN", "")
    name = getattr(args, "name", None) or args.command  # reload names no strategy
    base = args.url.rstrip("/")
    url = f"{base}/reload" if args.command == "reload" else f"{base}/strategies/{name}/{args.command}"
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(url, headers=headers, timeout=10.0)
        body = response.json()
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        print(f"error: cannot reach {args.url}: {type(exc).__name__}", file=out)
        return 1
    detail = f": {body['detail']}" if body.get("detail") else ""
    if response.status_code == 202:
        print(f"{name}: {body['result']}{detail}", file=out)
        return 0
    target = "" if args.command == "reload" else f" {name}"
    print(f"error: {args.command}{target} refused ({response.status_code}){detail}", file=out)
    return 2
