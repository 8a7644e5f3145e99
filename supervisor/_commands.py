"""The daemon's CLI commands: ``run``, ``check``, ``plugins``, ``status``.

Each takes the parsed arguments and returns the exit code. Exit codes: 0 fine, 1 the daemon
stopped with sessions it could not release (or ``status`` found a daemon unreachable), 2 the
config or a plugin is invalid (the message names file, line and field), 3 the daemon could not
start (an address in use, an unusable state directory), 4 the backend refused the worker token
(401/403 on the start-up probe), 5 a strategy could not be cancelled by the shutdown deadline
(named in the log; the process exits anyway). See ``supervisor._daemon.EXIT_CODES``.
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
from ._plugins import PluginError, PluginRegistry, params_schema, resolve_strategies
from ._shard import ShardConfigError, shard_from_env

__all__ = ["cmd_check", "cmd_plugins", "cmd_run", "cmd_status", "format_status"]

log = logging.getLogger("supervisor.cli")

EXIT_CONFIG = 2
EXIT_SETUP = 3


def _load(path: str, environ: Mapping[str, str], out: TextIO) -> Any:
    try:
        return load_config(path, environ=environ)
    except ConfigError as exc:
        print(f"error: invalid config\n{exc}", file=out)
        return None


def cmd_check(
    args: argparse.Namespace,
    *,
    registry: PluginRegistry | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Validate the config and every strategy's plugin and params; 0 when all is well."""
    out = out or sys.stdout
    loaded = _load(args.config, environ if environ is not None else os.environ, out)
    if loaded is None:
        return EXIT_CONFIG
    config, locator = loaded
    registry = registry or PluginRegistry.from_entry_points()
    resolved, skipped = resolve_strategies(config, locator, registry)
    for skip in skipped:
        print(f"error: {skip}", file=out)
    if skipped:
        return EXIT_CONFIG
    backend = "embedded sandbox" if config.backend.embedded else config.backend.base_url
    print(f"ok: {args.config}: {len(resolved)} strategies, backend {backend}", file=out)
    for item in resolved:
        run = item.config.run
        print(
            f"  {item.name}: plugin {item.config.plugin}, run {run.strategy_run_id} ({run.execution_mode})",
            file=out,
        )
    return 0


def cmd_plugins(
    args: argparse.Namespace, *, registry: PluginRegistry | None = None, out: TextIO | None = None
) -> int:
    """List installed strategy plugins with their parameter JSON schemas."""
    out = out or sys.stdout
    registry = registry or PluginRegistry.from_entry_points()
    names = registry.names()
    if not names:
        print("no strategy plugins installed (entry point group kite_algo_supervisor.strategies)", file=out)
        return 0
    status = 0
    for name in names:
        info = registry.info(name)
        origin = f" [{info.distribution}]" if info.distribution else ""
        try:
            cls = registry.load(name)
        except PluginError as exc:
            print(f"{name}: {info.target}{origin}\n  BROKEN: {exc.reason}", file=out)
            status = EXIT_CONFIG
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{name}: {info.target}{origin}" + (f"\n  {doc[0]}" if doc else ""), file=out)
        print("  params schema:", file=out)
        for line in params_schema(cls).splitlines():
            print(f"    {line}", file=out)
    return status


def _hard_exit(code: int) -> NoReturn:
    # the shutdown deadline passed with a strategy that cannot be cancelled (a thread or C
    # code): trio.run would never return, so end the process here, logs flushed first
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_run(args: argparse.Namespace, *, registry: PluginRegistry | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT (blocks)."""
    loaded = _load(args.config, os.environ, sys.stderr)
    if loaded is None:
        return EXIT_CONFIG
    config, locator = loaded
    registry = registry or PluginRegistry.from_entry_points()
    resolved, skipped = resolve_strategies(config, locator, registry)
    try:  # a StatefulSet pod hosts only its shard (deploy/README.md, "Kubernetes")
        shard = shard_from_env(os.environ)
    except ShardConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if shard is not None:
        resolved = shard.select(resolved, lambda s: s.name)
        log.info("shard %d of %d: hosting %d strategies", shard.index, shard.count, len(resolved))
    hooks = ops_hooks()  # /metrics, the loop-lag probe, sd_notify, backend request timings
    try:
        try:
            return trio.run(
                lambda: run_daemon(
                    config,
                    resolved,
                    skipped=skipped,
                    state_dir=getattr(args, "state_dir", None),
                    metrics_factory=hooks.metrics_factory,
                    extra_services=hooks.services,
                    request_observer=hooks.observe_request,
                    hard_exit=_hard_exit,
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


def format_status(doc: Mapping[str, Any]) -> str:
    """The ``/status`` document as a table."""
    rows = [("NAME", "STATE", "RUN ID", "RESTARTS", "HEARTBEATS", "LAST BEAT AGE", "REASON")]
    import time

    now = time.time()
    for s in doc.get("strategies", []):
        last = s.get("last_heartbeat_unix")
        age = f"{now - last:.0f}s" if isinstance(last, int | float) else "-"
        beats = f"{s.get('heartbeats_ok', 0)} ok/{s.get('heartbeats_missed', 0)} missed"
        rows.append(
            (s["name"], s["state"], s["run_id"], str(s.get("restarts", 0)), beats, age, s.get("reason") or "")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    for s in doc.get("skipped", []):
        lines.append(f"skipped: {s['name']} ({s['plugin']}): {s['reason']}")
    lines.append(f"ready: {'yes' if doc.get('ready') else 'no'}")
    return "\n".join(line.rstrip() for line in lines)


def cmd_status(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Ask a running daemon for ``/status`` and print a table; 1 when it cannot be reached."""
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
    print(format_status(doc), file=out)
    return 0
