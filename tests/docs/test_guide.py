"""docs/guide.md is executed, not just read.

Its ```python blocks run in order in one namespace (as a reader pastes them into one module);
every strategy class they define is hosted by the daemon on a real in-process sandbox, on
virtual time, and must run without a crash (and do what its section says); the test function
the guide shows runs as written; and the blocks together, as one plugin module, pass
``mypy --strict`` with the example plugins.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import tomllib
import types
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from supervisor import Strategy
from supervisor.testing import StrategyHarness, open_strategy_sandbox

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, code)`` of every ```python block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


def load_guide() -> types.ModuleType:
    """Run every block, in order, in one module; tracebacks point at the guide's lines."""
    module = types.ModuleType("guide_snippets")
    module.__file__ = str(GUIDE)
    sys.modules[module.__name__] = module  # as an imported plugin module is (pydantic reads it)
    for line, code in python_blocks(GUIDE.read_text()):
        exec(compile("\n" * (line - 1) + code, str(GUIDE), "exec"), module.__dict__)
    return module


GUIDE_MODULE = load_guide()
STRATEGIES = {
    name: obj
    for name, obj in vars(GUIDE_MODULE).items()
    if inspect.isclass(obj) and issubclass(obj, Strategy) and obj.__module__ == GUIDE_MODULE.__name__
}


def _progress(harness: StrategyHarness) -> int:
    return harness.progress_count


# what each strategy's section promises, checked after it ran for a while
EXPECTED: dict[str, Callable[[StrategyHarness], bool]] = {
    "BuyOnce": lambda h: sum(h.intents.values()) == 1 and _progress(h) == 1,
    "TickWatcher": lambda h: _progress(h) > 100,  # a tick a second for each instrument
    "SmaWatcher": lambda h: _progress(h) >= 2,  # 150 s of minute bars: at least two completed
    "EnterOnce": lambda h: h.intents["deduped"] == 1 and sum(h.intents.values()) == 2,
    "Resumable": lambda h: _progress(h) == 1,
    "PatientBuyer": lambda h: sum(h.intents.values()) == 1 and _progress(h) == 1,
}


def test_the_guide_has_its_sections_and_readme_links_it() -> None:
    text = GUIDE.read_text()
    for heading in ("The `ctx` API", "StreamResumed", "Symbols and intervals", "Idempotency keys",
                    "Indicators", "Restarts and recovery", "never do", "progress deadline",
                    "order-rate budget", "Testing a strategy"):  # fmt: skip
        assert heading in text, heading
    assert len(python_blocks(text)) >= 8
    assert "(docs/guide.md)" in (ROOT / "README.md").read_text()
    assert set(STRATEGIES) == set(EXPECTED)  # a new strategy snippet says what it must do


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_each_strategy_of_the_guide_runs_on_the_sandbox(
    name: str, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(600):
        async with open_strategy_sandbox(STRATEGIES[name]) as harness:
            await trio.sleep(150)
            assert (harness.state, harness.restarts, harness.last_error) == ("running", 0, None)
            assert EXPECTED[name](harness), (harness.intents, _progress(harness))
            report = await harness.stop()
            assert report.exit_code == 0
            assert harness.state == "stopped"


async def test_the_guides_own_test_passes(autojump_clock: trio.testing.MockClock) -> None:
    test: Callable[[trio.testing.MockClock], Awaitable[None]] = GUIDE_MODULE.test_buy_once_buys_once
    with trio.fail_after(600):
        await test(autojump_clock)


def test_mypy_follows_every_call(tmp_path: Path) -> None:
    """The guide's blocks as one plugin module, and the example plugins, pass mypy --strict."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True and "plugins" in config["files"]
    plugin = tmp_path / "guide_plugin.py"
    plugin.write_text("\n".join(code for _, code in python_blocks(GUIDE.read_text())))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(plugin), "plugins/kite_algo_examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_mypy_knows_the_params_type(tmp_path: Path) -> None:
    """``ctx.params`` of a ``StrategyContext[MyParams]`` is a ``MyParams``: a misspelt field and
    a wrong use of one are mypy errors (what the guide's first section promises)."""
    plugin = tmp_path / "typo_plugin.py"
    plugin.write_text(
        "from pydantic import BaseModel\n"
        "from supervisor import Strategy, StrategyContext\n\n\n"
        "class P(BaseModel):\n"
        "    quantity: int = 1\n\n\n"
        "class S(Strategy[P]):\n"
        "    Params = P\n\n"
        "    async def run(self, ctx: StrategyContext[P]) -> None:\n"
        "        reveal_type(ctx.params)\n"
        "        ctx.log.info('%s', ctx.params.quantty)\n"
        "        ctx.log.info('%s', ctx.params.quantity + '1')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(plugin)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    out = result.stdout
    assert 'Revealed type is "typo_plugin.P"' in out, out
    assert '"P" has no attribute "quantty"' in out, out
    assert 'Unsupported operand types for + ("int" and "str")' in out, out
    assert "Found 2 errors" in out, out
