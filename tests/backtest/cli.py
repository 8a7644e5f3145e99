"""The backtest command's arguments as the CLI parses them (its defaults included)."""

from __future__ import annotations

import argparse
from pathlib import Path

from supervisor._cli import build_parser


def backtest_args(config: Path, start: str, end: str, *more: str) -> argparse.Namespace:
    """``kite-supervisor backtest --config CONFIG --from START --to END MORE...``, parsed."""
    return build_parser().parse_args(
        ["backtest", "--config", str(config), "--from", start, "--to", end, *more]
    )
