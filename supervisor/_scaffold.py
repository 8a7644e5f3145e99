"""``kite-supervisor new-strategy NAME [--dir DIR]``: scaffold an installable strategy package.

The package follows ``docs/guide.md``: a ``pyproject.toml`` registering the entry point
``NAME`` in the group ``kite_algo_supervisor.strategies``, a strict pydantic ``<Name>Params``
model (the class's ``Params``, with the candle interval typed as ``CandleInterval``), a
skeleton that reads live candles through the hub, closes bars, handles ``StreamResumed`` and
reports progress (and places no order until its author writes the decision), and a test that
hosts it on the paper sandbox on virtual time with
:func:`supervisor.testing.open_strategy_sandbox`. As generated it passes its test and
``mypy --strict``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from string import Template
from typing import TextIO

__all__ = ["ScaffoldError", "cmd_new_strategy", "scaffold_strategy"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
EXIT_USAGE = 2


class ScaffoldError(Exception):
    """The name is not a valid package name, or the target directory exists."""


_PYPROJECT = Template("""\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$cls: a strategy for kite-algo-supervisor"
requires-python = ">=3.11"
dependencies = ["kite-algo-supervisor", "pydantic>=2.6", "trio>=0.25"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-trio>=0.8", "mypy"]

# the daemon finds the strategy through this entry point: `plugin: $name` in its config
[project.entry-points."kite_algo_supervisor.strategies"]
$name = "$name.strategy:$cls"

[tool.setuptools.packages.find]
include = ["$name*"]

[tool.setuptools.package-data]
$name = ["py.typed"]

[tool.pytest.ini_options]
trio_mode = true
testpaths = ["tests"]

[tool.mypy]
strict = true
files = ["$name", "tests"]
""")

_STRATEGY = Template('''\
"""$cls: replace this line with what the strategy does (`kite-supervisor plugins` shows the
class docstring's first line).

Read docs/guide.md of kite-algo-supervisor first. The daemon never trades for this strategy: it
places no order, runs no safety check and exits no run; every such decision is written here.
"""

from __future__ import annotations

import trio
from pydantic import BaseModel, ConfigDict, Field
from supervisor import Candle, Strategy, StrategyContext, StreamResumed
from supervisor.client import CandleInterval

__all__ = ["$cls", "${cls}Params"]


class ${cls}Params(BaseModel):
    """Validated from the `params:` of the daemon's config (a typo is an error at `check`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(default="NSE:INFY", description="EXCHANGE:SYMBOL, or a bare NSE symbol")
    interval: CandleInterval = Field(default="minute", description="candle interval")
    quantity: int = Field(default=1, gt=0, description="shares per order")


class $cls(Strategy[${cls}Params]):
    """Watches the completed bars of one symbol (describe your strategy here)."""

    Params = ${cls}Params

    async def run(self, ctx: StrategyContext[${cls}Params]) -> None:
        params = ctx.params  # typed: ${cls}Params
        if ctx.recovered:
            # a restart or a re-attach: the backend may hold positions from before
            pnl = await ctx.run.get_run_pnl()
            ctx.log.info("recovered; the run holds %d legs", len(pnl.get("legs") or []))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.watch_bars, ctx, params)
            await ctx.stopping.wait()  # the daemon is shutting down: stop reading, return
            nursery.cancel_scope.cancel()

    async def watch_bars(self, ctx: StrategyContext[${cls}Params], params: ${cls}Params) -> None:
        forming: Candle | None = None
        async with ctx.candles(params.symbol, params.interval) as candles:
            async for item in candles:
                if isinstance(item, StreamResumed):
                    # a gap of item.gap_s seconds: bars may have been missed; re-sync here
                    # (e.g. ctx.warmup_history) before trusting your state again
                    continue
                if forming is not None and item.ts != forming.ts:  # a later bar began
                    await self.on_bar(ctx, params, forming)
                forming = item

    async def on_bar(self, ctx: StrategyContext[${cls}Params], params: ${cls}Params, bar: Candle) -> None:
        """One completed bar: decide here."""
        ctx.progress(last_bar=bar.ts, close=bar.close)
        # To trade (docs/guide.md, "Idempotency keys"; import equity_market_order from
        # supervisor.client):
        #   safety = await ctx.run.safety_check()
        #   if safety.can_trade:
        #       await ctx.run.place_order(
        #           equity_market_order("INFY", "BUY", params.quantity),
        #           idempotency_key=ctx.key("entry", params.symbol, bar.ts),  # deterministic
        #           safety_token=safety.safety_token,
        #       )
''')

_TEST = Template('''\
"""$cls on the paper sandbox, on virtual time: `pytest` (needs the `test` extra)."""

from __future__ import annotations

import trio
import trio.testing

from supervisor.testing import open_strategy_sandbox

from $name.strategy import $cls


async def test_runs_and_reports_progress_on_the_sandbox(autojump_clock: trio.testing.MockClock) -> None:
    async with open_strategy_sandbox($cls, params={"symbol": "NSE:INFY", "interval": "minute"}) as harness:
        await trio.sleep(185)  # three minutes of minute bars, in virtual time
        assert (harness.state, harness.restarts, harness.last_error) == ("running", 0, None)
        assert harness.progress_count >= 2  # a completed bar at least every minute
        assert sum(harness.intents.values()) == 0  # the skeleton decides nothing yet
        report = await harness.stop()
        assert report.exit_code == 0
''')

_README = Template("""\
# $dist

A strategy for kite-algo-supervisor, registered as the plugin `$name`.

```sh
pip install -e '.[test]'     # registers the entry point
pytest                        # runs it against the paper sandbox, on virtual time
mypy                          # strict, on $name/ and tests/
kite-supervisor plugins       # lists `$name` with its parameters
```

mypy cannot follow the import hook of a default editable install: if kite-algo-supervisor is
installed with `pip install -e`, install it with `--config-settings editable_mode=strict`, or
run `MYPYPATH=/path/to/kite-algo-supervisor mypy`.

To run it in the daemon, save this as `config.yaml` (no backend named: the daemon starts its
embedded paper sandbox):

```yaml
strategies:
  - name: $name
    plugin: $name
    run: {strategy_run_id: $name-1, template_id: $name, account_scope: "kite:paper-a"}
    params: {symbol: "NSE:INFY", interval: minute}
```

```sh
kite-supervisor check --config config.yaml   # validates the params with ${cls}Params
kite-supervisor run --config config.yaml     # Ctrl-C stops it; console at http://127.0.0.1:9464/ui
```
""")


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part) or "Strategy"


def scaffold_strategy(name: str, directory: Path) -> Path:
    """Write the package ``directory/name`` and return its path. Blocks on file I/O only.

    Raises :class:`ScaffoldError` for a name that is not a lower-case Python identifier or a
    target that exists (nothing is overwritten), ``OSError`` when the directory is not writable.
    """
    if not _NAME.match(name) or name in {"supervisor", "test", "tests"}:
        # the name a user most likely meant: "My-Strategy" -> "my_strategy"
        fixed = re.sub(r"[^a-z0-9_]", "_", name.strip().lower()).strip("_")
        suggestion = (
            fixed if _NAME.match(fixed) and fixed not in {"supervisor", "test", "tests"} else "my_strategy"
        )
        raise ScaffoldError(
            f"invalid strategy name {name!r}: use a lower-case Python identifier, e.g. {suggestion}"
        )
    root = directory / name
    if root.exists():
        raise ScaffoldError(f"{root} exists; choose another name or --dir")
    values = {"name": name, "cls": _class_name(name), "dist": name.replace("_", "-")}
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / "README.md": _README,
        root / name / "__init__.py": Template('"""$dist: a kite-algo-supervisor strategy."""\n'),
        root / name / "py.typed": Template(""),
        root / name / "strategy.py": _STRATEGY,
        root / "tests" / "__init__.py": Template(""),
        root / "tests" / "test_strategy.py": _TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(values))
    return root


def cmd_new_strategy(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Scaffold a strategy package (``args.name``, ``args.dir``); exit 2 on a bad name or an
    existing target, else 0 with the next steps printed."""
    out = out or sys.stdout
    try:
        root = scaffold_strategy(args.name, Path(getattr(args, "dir", None) or "."))
    except ScaffoldError as exc:
        print(f"error: {exc}", file=out)
        return EXIT_USAGE
    print(
        f"created {root}\n"
        f"  pip install -e '{root}[test]'   # registers the plugin {args.name!r}\n"
        f"  pytest {root}                   # runs it against the paper sandbox\n"
        f"  then edit {root / args.name / 'strategy.py'} (read docs/guide.md first)",
        file=out,
    )
    return 0
