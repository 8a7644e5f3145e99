"""Each order type's fill rule through ``POST /worker/runs/{id}/intents``, on virtual time.

The pure rules are in ``test_paper_matching``; here the same rules are reached the way a worker
reaches them (over loopback, the market stepping once a second), and the business rejections
are shown to consume the idempotency key (contract §4.5.3).
"""

from __future__ import annotations

from typing import Any

import httpx
import trio
from trio.testing import MockClock

RUN = "run_types"


def _order(**extra: Any) -> dict[str, Any]:
    base = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "CNC",
            "order_type": "MARKET", "quantity": 2, "variety": "regular", "validity": "DAY"}  # fmt: skip
    return {**base, **extra}


async def _place(api: httpx.AsyncClient, key: str, order: dict[str, Any]) -> dict[str, Any]:
    body = {"intent_type": "place_order", "payload": {"order": order}, "idempotency_key": key}
    r = await api.post(f"/worker/runs/{RUN}/intents", json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def _kite_status(api: httpx.AsyncClient, order_id: str) -> str:
    r = await api.get(f"/worker/orders/{order_id}", params={"strategy_run_id": RUN})
    status: str = r.json()["order"]["status"]
    return status


async def test_order_types_over_http(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(600):
        run = {"strategy_run_id": RUN, "template_id": "t", "account_scope": "kite:paper-a",
               "execution_mode": "paper"}  # fmt: skip
        assert (await api.post("/worker/runs", json=run)).status_code == 200
        market = (await _place(api, "k:market:01", _order()))["result"]
        assert market["status"] == "filled" and market["order"]["status"] == "filled"
        last = float(market["order"]["average_price"])

        far_below = round(last * 0.5, 1)
        limit = (await _place(api, "k:limit:001", _order(order_type="LIMIT", price=far_below)))["result"]
        assert limit["status"] == "accepted" and await _kite_status(api, limit["order"]["order_id"]) == "OPEN"
        marketable = await _place(api, "k:limit:002", _order(order_type="LIMIT", price=round(last * 2, 1)))
        assert marketable["result"]["status"] == "filled"

        # a SELL stop with its trigger above the market is hit on the next step
        stop = _order(
            transaction_type="SELL", order_type="SL-M", trigger_price=round(last * 2, 1), quantity=1
        )
        sl_m = (await _place(api, "k:sl-m:001", stop))["result"]["order"]["order_id"]
        # an SL BUY far above the market waits for its trigger
        sl = _order(order_type="SL", trigger_price=round(last * 2, 1), price=round(last * 2, 1))
        sl_id = (await _place(api, "k:sl:00001", sl))["result"]["order"]["order_id"]
        assert await _kite_status(api, sl_id) == "TRIGGER PENDING"

        ioc = _order(order_type="LIMIT", price=far_below, validity="IOC")
        assert (await _place(api, "k:ioc:0001", ioc))["result"]["order"]["status"] == "cancelled"
        ttl = _order(order_type="LIMIT", price=far_below, validity="TTL", validity_ttl=1)
        ttl_id = (await _place(api, "k:ttl:0001", ttl))["result"]["order"]["order_id"]
        iceberg = _order(variety="iceberg", quantity=25, iceberg_legs=3, iceberg_quantity=10)
        assert [t["quantity"] for t in (await _place(api, "k:ice:0001", iceberg))["result"]["trades"]] == [
            10,
            10,
            5,
        ]

        await trio.sleep(61)  # market steps: the stop fires, the TTL order expires
        assert await _kite_status(api, sl_m) == "COMPLETE"
        assert await _kite_status(api, ttl_id) == "CANCELLED"
        assert await _kite_status(api, sl_id) == "TRIGGER PENDING"
        assert await _kite_status(api, limit["order"]["order_id"]) == "OPEN"


async def test_business_rejections_consume_the_key(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(60):
        run = {"strategy_run_id": RUN, "template_id": "t", "account_scope": "kite:paper-a",
               "execution_mode": "paper"}  # fmt: skip
        assert (await api.post("/worker/runs", json=run)).status_code == 200
        funds = (await _place(api, "k:funds:01", _order(quantity=10_000_000)))["result"]
        assert funds["status"] == "rejected" and funds["reason"] == "Insufficient paper funds or margin"
        # the key is spent: the corrected order under it returns the stored rejection
        assert await _place(api, "k:funds:01", _order()) == {"status": "deduped", "result": funds}

        legs = {"expiry": "nearest", "legs": [{"option_type": "CE", "offset": "ATM"}]}
        resolved = await api.post("/worker/options/underlyings/NIFTY/selection/resolve", json=legs)
        contract = resolved.json()["resolved"][0]
        option = _order(exchange="NFO", tradingsymbol=contract["tradingsymbol"], product="NRML", quantity=1)
        lot = (await _place(api, "k:lot:0001", option))["result"]
        assert lot["status"] == "rejected"
        assert lot["reason"] == f"Quantity must be a multiple of lot size {contract['lot_size']}"
        option["quantity"] = contract["lot_size"]
        assert (await _place(api, "k:lot:0002", option))["result"]["status"] == "filled"
        index = (await _place(api, "k:index:01", _order(tradingsymbol="NIFTY 50")))["result"]
        assert index["status"] == "rejected" and index["reason"] == "Indices are not tradable: NSE:NIFTY 50"
        unknown = (await _place(api, "k:nope:001", _order(tradingsymbol="NOPE")))["result"]
        assert unknown["reason"] == "Instrument not found for NSE:NOPE"


async def test_modify_rules(api: httpx.AsyncClient, autojump_clock: MockClock) -> None:
    with trio.fail_after(60):
        run = {"strategy_run_id": RUN, "template_id": "t", "account_scope": "kite:paper-a",
               "execution_mode": "paper"}  # fmt: skip
        assert (await api.post("/worker/runs", json=run)).status_code == 200
        last = float((await _place(api, "k:probe:01", _order()))["result"]["order"]["average_price"])
        resting = _order(order_type="LIMIT", price=round(last * 0.5, 1), quantity=3)
        order_id = (await _place(api, "k:rest:001", resting))["result"]["order"]["order_id"]

        async def modify(**patch: Any) -> httpx.Response:
            body = {"strategy_run_id": RUN, "variety": "regular", **patch}
            return await api.post(f"/worker/orders/{order_id}/modify", json=body)

        for patch, reason in (
            ({"price": 0}, "LIMIT orders require price > 0"),
            ({"order_type": "SL", "price": last}, "SL orders require price > 0 and trigger_price > 0"),
            ({"order_type": "SL-M", "trigger_price": last, "price": last},
             "SL-M orders require trigger_price > 0 and no price"),
            ({"validity": "TTL"}, "TTL orders require validity_ttl in 1..365"),
            ({"order_type": "STOP"}, "Unsupported order_type 'STOP'"),
        ):  # fmt: skip
            r = await modify(**patch)
            assert r.status_code == 400 and r.json() == {"detail": reason}, patch
        assert (await modify(quantity=0)).status_code == 422
        # a refused modify changed nothing
        order = (await api.get(f"/worker/orders/{order_id}", params={"strategy_run_id": RUN})).json()["order"]
        assert order["order_type"] == "LIMIT" and order["quantity"] == 3 and order["status"] == "OPEN"
        assert (await modify(quantity=5, validity="TTL", validity_ttl=30)).status_code == 200
        order = (await api.get(f"/worker/orders/{order_id}", params={"strategy_run_id": RUN})).json()["order"]
        assert order["quantity"] == 5 and order["pending_quantity"] == 5 and order["validity"] == "TTL"
        # becoming a MARKET order fills it at once
        assert (await modify(order_type="MARKET")).status_code == 200
        assert await _kite_status(api, order_id) == "COMPLETE"


SEED_CONSTRAINTS = [
    (_order(order_type="LIMIT", price=0), "price must be > 0 for LIMIT orders"),
    (_order(order_type="SL-M", trigger_price=100.0, price=99.0), "SL-M orders omit price or send 0"),
    (_order(price=10.0), "MARKET orders omit price or send 0"),
    (_order(order_type="LIMIT", price=1.0, validity="TTL", validity_ttl=366),
     "validity TTL needs validity_ttl in 1..365 (minutes)"),
    (_order(disclosed_quantity=3), "disclosed_quantity cannot exceed quantity"),
    (_order(order_type="LIMIT", price=1.0, market_protection=5),
     "market_protection is allowed only for MARKET and SL-M orders"),
    (_order(market_protection=101), "market_protection must be -1 or 0..100"),
    (_order(variety="iceberg", iceberg_legs=11, iceberg_quantity=1),
     "iceberg orders need iceberg_legs in 2..10"),
    (_order(variety="amo", iceberg_legs=2, iceberg_quantity=1), "AMO orders cannot be combined with iceberg"),
    (_order(variety="co", product="MIS", stoploss=5.0), "CO orders require squareoff and stoploss"),
]  # fmt: skip


async def test_the_seeds_field_constraints_are_400s(
    api: httpx.AsyncClient, autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        run = {"strategy_run_id": RUN, "template_id": "t", "account_scope": "kite:paper-a",
               "execution_mode": "paper"}  # fmt: skip
        assert (await api.post("/worker/runs", json=run)).status_code == 200
        for order, reason in SEED_CONSTRAINTS:
            body = {
                "intent_type": "place_order",
                "payload": {"order": order},
                "idempotency_key": "k:seed:0001",
            }
            r = await api.post(f"/worker/runs/{RUN}/intents", json=body)
            assert r.status_code == 400 and r.json() == {"detail": reason}, order
        # none of them consumed the key; within the rules the same order fills
        fine = await _place(api, "k:seed:0001", _order(market_protection=-1, disclosed_quantity=1))
        assert fine["status"] == "accepted" and fine["result"]["status"] == "filled"
