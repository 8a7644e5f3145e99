"""Order intents are counted by the client, whichever path a strategy used: ``ctx.run`` or the
raw ``ctx.client`` (the metric ``kite_supervisor_order_intents_total`` missed the latter)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from supervisor._strategy import StrategyContext
from supervisor._supervisor import Supervisor
from supervisor.client import OrderRuleError, equity_market_order
from supervisor.sandbox import SandboxHandle

from .conftest import resolved, settings


class RawClient:
    """Places through ``ctx.client`` with the nonce by hand, as the raw-client examples do."""

    async def run(self, ctx: StrategyContext) -> None:
        order = equity_market_order("INFY", "BUY", 1)
        for key in ("raw-entry:1", "raw-entry:1", "raw-entry:2"):  # the second is a retry: deduped
            await ctx.client.place_order(
                ctx.run.run_id, order, idempotency_key=key, session_nonce=ctx.run.session_nonce
            )
        with pytest.raises(OrderRuleError):  # refused before the network: counted all the same
            await ctx.run.place_order({**order, "quantity": 0}, idempotency_key="bad-quantity")
        await ctx.stopping.wait()


async def test_raw_client_orders_are_counted(
    nursery: trio.Nursery, sandbox: SandboxHandle, client: Any, autojump_clock: trio.testing.MockClock
) -> None:
    from supervisor._strategy import Strategy

    cls = type("Raw", (RawClient, Strategy), {})
    sup = Supervisor([resolved("raw", cls)], client=client, settings=settings())
    await nursery.start(sup.serve)
    await trio.sleep(2)
    counted = dict(sup.runners["raw"].intents)
    assert counted.pop("deduped") == 1 and counted.pop("error:OrderRuleError") == 1
    assert sum(counted.values()) == 2  # the two new keys, whatever the paper engine answered
    stats = {s.name: s.intents for s in sup.statistics().strategies}
    assert sum(stats["raw"].values()) == 4
