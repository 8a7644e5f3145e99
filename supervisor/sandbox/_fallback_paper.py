"""A small built-in market and paper engine, used only when SANDBOX-MARKET's modules are absent.

It keeps the sandbox usable for paper runs on its own: a handful of NSE equities whose prices
follow a seeded random walk, and a paper engine with the reference result shapes (contract
§4.5.4): MARKET fills at the last price, LIMIT when marketable (else rests and fills on a later
tick), SL/SL-M rest until triggered, lot-size and funds rejections, grouped per-run positions,
realised/unrealised P&L, a simple charge schedule, all-or-none baskets and run flattening.
AMO orders queue until the next tick (the "open" of an always-open market), cover orders add
a protective SL-M child, iceberg orders fill in slices (one trade per slice), TTL orders expire.
SANDBOX-MARKET's full market (options, depth, market hours) replaces it when installed.
Pure: time is passed in; state round-trips through ``snapshot()``/``restore()``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec

from ._fallback_options import IST, UNDERLYINGS, Contract, OptionsUniverse, greeks

# symbol -> (instrument_token, reference price)
EQUITIES: dict[str, tuple[int, float]] = {
    "INFY": (408065, 1450.5),
    "RELIANCE": (738561, 2905.0),
    "TCS": (2953217, 3910.0),
    "HDFCBANK": (341249, 1655.0),
    "ICICIBANK": (1270529, 1102.0),
    "SBIN": (779521, 821.5),
}
OPENING_BALANCE = Decimal("1000000")
_CENT = Decimal("0.05")


def _tick_round(value: float) -> Decimal:
    return (Decimal(str(value)) / _CENT).quantize(Decimal(1), ROUND_HALF_UP) * _CENT


def charges_for(value: Decimal, product: str, side: str) -> Decimal:
    """A Zerodha-like schedule: brokerage 0.03 % capped at 20 (0 for CNC), STT, exchange, GST, stamp."""
    brokerage = Decimal(0) if product == "CNC" else min(Decimal(20), value * Decimal("0.0003"))
    stt = value * (Decimal("0.001") if product == "CNC" else (Decimal("0.00025") if side == "sell" else 0))
    exchange = value * Decimal("0.0000297")
    gst = (brokerage + exchange) * Decimal("0.18")
    stamp = value * Decimal("0.00015") if side == "buy" else Decimal(0)
    return (brokerage + stt + exchange + gst + stamp).quantize(Decimal("0.01"))


class FallbackMarket:
    """Seeded random-walk prices for a few NSE equities and two indices (always open); NFO
    options on those indices are priced by Black-Scholes (``_fallback_options``)."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.prices: dict[str, float] = {s: p for s, (_, p) in EQUITIES.items()}
        self.spots: dict[str, float] = {u: spec[1] for u, spec in UNDERLYINGS.items()}
        self.options = OptionsUniverse()
        self.now: dt.datetime | None = None  # the time of the last step (prices options)

    def option(self, tradingsymbol: str) -> Contract | None:
        today = (self.now or dt.datetime.now(dt.UTC)).astimezone(IST).date()
        return self.options.find(tradingsymbol, today, self.spots)

    def lot_size(self, exchange: str, tradingsymbol: str) -> int | None:
        """Lot size of a known instrument, None when unknown."""
        if exchange == "NSE" and tradingsymbol in EQUITIES:
            return 1
        if exchange == "NFO":
            found = self.option(tradingsymbol)
            return None if found is None else found.lot_size
        return None

    def token(self, tradingsymbol: str) -> int | None:
        if tradingsymbol in EQUITIES:
            return EQUITIES[tradingsymbol][0]
        found = self.option(tradingsymbol)
        return None if found is None else found.instrument_token

    def step(self, now: dt.datetime) -> list[dict[str, Any]]:
        self.now = now
        for underlying, spot in self.spots.items():
            self.spots[underlying] = float(_tick_round(spot * (1 + self.rng.gauss(0, 0.0003))))
        ticks = []
        for symbol, price in self.prices.items():
            moved = max(1.0, price * (1 + self.rng.gauss(0, 0.0005)))
            self.prices[symbol] = float(_tick_round(moved))
            ticks.append(
                {
                    "instrument_token": EQUITIES[symbol][0],
                    "tradingsymbol": symbol,
                    "last_price": self.prices[symbol],
                    "timestamp": now.isoformat(),
                }
            )
        return ticks

    def ltp(self, symbol: str) -> float | None:
        if symbol in self.prices:
            return self.prices[symbol]
        found = self.option(symbol)
        if found is None:
            return None
        return greeks(self.spots[found.underlying], found, self.now or dt.datetime.now(dt.UTC))["ltp"]


class _Book(msgspec.Struct):
    orders: list[dict[str, Any]] = msgspec.field(default_factory=list)
    trades: list[dict[str, Any]] = msgspec.field(default_factory=list)
    positions: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)  # run|token|product
    blocked: dict[str, str] = msgspec.field(default_factory=dict)  # scope -> Decimal
    cash: dict[str, str] = msgspec.field(default_factory=dict)
    realized: dict[str, str] = msgspec.field(default_factory=dict)
    counter: int = 0
    gtts: list[dict[str, Any]] = msgspec.field(default_factory=list)
    gtt_counter: int = 0
    option_runs: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


class FallbackEngine:
    """Paper matching against ``FallbackMarket`` (see module docstring)."""

    def __init__(self, market: FallbackMarket) -> None:
        self.market = market
        self.book = _Book()

    # -- persistence ---------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        return msgspec.json.encode(
            {"book": self.book, "prices": self.market.prices, "spots": self.market.spots}
        )

    def restore(self, blob: bytes) -> None:
        data = msgspec.json.decode(blob)
        self.book = msgspec.convert(data["book"], _Book)
        self.market.prices.update(data.get("prices", {}))
        self.market.spots.update(data.get("spots", {}))

    # -- helpers --------------------------------------------------------------------------------
    def _id(self, prefix: str, now: dt.datetime) -> str:
        self.book.counter += 1
        digest = hashlib.sha256(f"{prefix}{self.book.counter}{now.isoformat()}".encode()).hexdigest()
        return f"{prefix}-{digest[:12].upper()}"

    def _cash(self, scope: str) -> Decimal:
        return Decimal(self.book.cash.setdefault(scope, str(OPENING_BALANCE)))

    def _normalise(self, order: dict[str, Any]) -> dict[str, Any]:
        missing = [
            k
            for k in ("exchange", "tradingsymbol", "transaction_type", "product", "order_type", "quantity")
            if order.get(k) in (None, "")
        ]
        if missing:
            raise ValueError(f"Order is missing required fields: {', '.join(missing)}")
        quantity = order["quantity"]
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            raise ValueError("quantity must be a positive integer")
        order_type = str(order["order_type"]).upper()
        if order_type == "LIMIT" and order.get("price") is None:
            raise ValueError("LIMIT orders require price")
        if order_type == "SL" and (order.get("price") is None or order.get("trigger_price") is None):
            raise ValueError("SL orders require price and trigger_price")
        if order_type == "SL-M" and order.get("trigger_price") is None:
            raise ValueError("SL-M orders require trigger_price")
        return {
            **order,
            "order_type": order_type,
            "product": str(order["product"]).upper(),
            "exchange": str(order["exchange"]).upper(),
            "transaction_type": str(order["transaction_type"]).lower(),
        }

    def _new_order(
        self, scope: str, run_id: str, o: dict[str, Any], now: dt.datetime, meta: Any
    ) -> dict[str, Any]:
        token = self.market.token(o["tradingsymbol"])
        lot = self.market.lot_size(o["exchange"], o["tradingsymbol"]) or 1
        return {
            "account_scope": scope,
            "order_id": self._id("PAPER", now),
            "instrument_token": token,
            "exchange": o["exchange"],
            "tradingsymbol": o["tradingsymbol"],
            "product": o["product"],
            "transaction_type": o["transaction_type"],
            "order_type": o["order_type"].lower().replace("-", "_"),
            "variety": o.get("variety", "regular"),
            "validity": o.get("validity", "DAY"),
            "quantity": o["quantity"],
            "filled_quantity": 0,
            "pending_quantity": o["quantity"],
            "price": None if o.get("price") is None else str(o["price"]),
            "trigger_price": None if o.get("trigger_price") is None else str(o["trigger_price"]),
            "average_price": None,
            "parent_order_id": o.get("parent_order_id"),
            "status": "open",
            "placed_at": now.isoformat(),
            "updated_at": now.isoformat(),
            "completed_at": None,
            "metadata": {
                "strategy_run_id": run_id,
                "source": "algo_worker",
                "instrument_type": "EQ" if o["exchange"] == "NSE" else o["tradingsymbol"][-2:],
                "lot_size": lot,
                "attribution": meta or {},
                "amo": o.get("variety") == "amo",
                "iceberg_quantity": o.get("iceberg_quantity"),
                "validity_ttl": o.get("validity_ttl"),
                "stoploss": o.get("stoploss"),
                "squareoff": o.get("squareoff"),
            },
        }

    def _reject(self, order: dict[str, Any], reason: str) -> dict[str, Any]:
        order.update(status="rejected", pending_quantity=0)
        order["metadata"]["reason"] = reason
        return {"mode": "paper", "status": "rejected", "reason": reason, "order": order}

    def _check(self, scope: str, o: dict[str, Any]) -> str | None:
        lot = self.market.lot_size(o["exchange"], o["tradingsymbol"])
        if lot is None:
            return f"Instrument not found for {o['exchange']}:{o['tradingsymbol']}"
        if o["quantity"] % lot:
            return f"Quantity must be a multiple of lot size {lot}"
        price = self.market.ltp(o["tradingsymbol"])
        if price is None:
            return "No reference price available for paper execution"
        value = Decimal(str(price)) * o["quantity"]
        if o["transaction_type"] == "buy" and value > self._cash(scope):
            return "Insufficient paper funds or margin"
        return None

    def _marketable(self, order: dict[str, Any], last: float) -> bool:
        buy = order["transaction_type"] == "buy"
        kind = order["order_type"]
        if kind == "market":
            return True
        if kind == "limit":
            return last <= float(order["price"]) if buy else last >= float(order["price"])
        trigger = float(order["trigger_price"])
        triggered = last >= trigger if buy else last <= trigger
        if not triggered:
            return False
        if kind == "sl":
            return last <= float(order["price"]) if buy else last >= float(order["price"])
        return True  # sl_m: market once triggered

    def _fill(self, order: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        scope, run_id = order["account_scope"], order["metadata"]["strategy_run_id"]
        last = Decimal(str(self.market.ltp(order["tradingsymbol"])))
        qty = int(order["quantity"])
        value = last * qty
        side = order["transaction_type"]
        fee = charges_for(value, order["product"], side)
        cash = self._cash(scope) - fee + (-value if side == "buy" else value)
        self.book.cash[scope] = str(cash)
        order.update(
            status="filled",
            filled_quantity=qty,
            pending_quantity=0,
            average_price=str(last),
            updated_at=now.isoformat(),
            completed_at=now.isoformat(),
        )
        order["metadata"]["estimated_charges"] = str(fee)
        # An iceberg order fills in slices of iceberg_quantity: one trade per slice.
        slice_qty = (
            int(order["metadata"].get("iceberg_quantity") or 0) if order["variety"] == "iceberg" else 0
        )
        slices = (
            [slice_qty] * (qty // slice_qty) + ([qty % slice_qty] if qty % slice_qty else [])
            if slice_qty
            else [qty]
        )
        trades = []
        for part in slices:
            trades.append(
                {
                    "account_scope": scope,
                    "trade_id": self._id("PTRD", now),
                    "order_id": order["order_id"],
                    "instrument_token": order["instrument_token"],
                    "exchange": order["exchange"],
                    "tradingsymbol": order["tradingsymbol"],
                    "product": order["product"],
                    "transaction_type": side,
                    "quantity": part,
                    "price": str(last),
                    "trade_timestamp": now.isoformat(),
                    "metadata": {"strategy_run_id": run_id},
                }
            )
        self.book.trades.extend(trades)
        trade = trades[-1]
        key = f"{run_id}|{order['instrument_token']}|{order['product']}"
        pos = self.book.positions.setdefault(
            key,
            {
                "account_scope": scope,
                "instrument_token": order["instrument_token"],
                "product": order["product"],
                "exchange": order["exchange"],
                "tradingsymbol": order["tradingsymbol"],
                "net_quantity": 0,
                "average_price": "0",
                "buy_quantity": 0,
                "sell_quantity": 0,
                "buy_value": "0",
                "sell_value": "0",
                "realized_pnl": "0",
                "charges": "0",
                "metadata": {"strategy_run_id": run_id},
            },
        )
        net, avg = int(pos["net_quantity"]), Decimal(pos["average_price"])
        signed = qty if side == "buy" else -qty
        realized = Decimal(pos["realized_pnl"])
        if net == 0 or (net > 0) == (signed > 0):
            avg = (avg * abs(net) + last * qty) / (abs(net) + qty)
        else:
            closing = min(abs(net), qty)
            realized += (last - avg) * closing * (1 if net > 0 else -1)
            if qty > abs(net):
                avg = last
        net += signed
        if net == 0:
            avg = Decimal(0)
        bucket = "buy" if side == "buy" else "sell"
        pos.update(
            net_quantity=net,
            average_price=str(avg.quantize(Decimal("0.0001"))),
            realized_pnl=str(realized),
            updated_at=now.isoformat(),
            charges=str(Decimal(pos["charges"]) + fee),
        )
        pos[f"{bucket}_quantity"] = int(pos[f"{bucket}_quantity"]) + qty
        pos[f"{bucket}_value"] = str(Decimal(pos[f"{bucket}_value"]) + value)
        result: dict[str, Any] = {
            "mode": "paper",
            "status": "filled",
            "order": order,
            "trade": trade,
            "position": dict(pos),
        }
        if len(trades) > 1:
            result["trades"] = trades
        if order["variety"] == "co" and order.get("parent_order_id") is None:
            result["stoploss_order"] = self._cover_leg(order, last, now)
        return result

    def _cover_leg(self, entry: dict[str, Any], fill: Decimal, now: dt.datetime) -> dict[str, Any] | None:
        """A cover order's protective SL-M exit (``stoploss`` points from the fill, or ``trigger_price``)."""
        meta = entry["metadata"]
        points = meta.get("stoploss")
        buy = entry["transaction_type"] == "buy"
        if points is not None:
            trigger = fill - Decimal(str(points)) if buy else fill + Decimal(str(points))
        elif entry.get("trigger_price") is not None:
            trigger = Decimal(entry["trigger_price"])
        else:
            return None
        child = {
            "exchange": entry["exchange"],
            "tradingsymbol": entry["tradingsymbol"],
            "product": entry["product"],
            "transaction_type": "sell" if buy else "buy",
            "order_type": "SL-M",
            "quantity": entry["quantity"],
            "trigger_price": str(trigger),
            "variety": "co",
            "parent_order_id": entry["order_id"],
        }
        record = self._new_order(
            entry["account_scope"], meta["strategy_run_id"], child, now, meta.get("attribution")
        )
        self.book.orders.append(record)
        return record

    # -- the seam ---------------------------------------------------------------------------------
    def place_order(
        self, scope: str, run_id: str, order: dict[str, Any], now: dt.datetime, attribution: Any = None
    ) -> dict[str, Any]:
        if self.market.now is None:
            self.market.now = now
        o = self._normalise(order)
        record = self._new_order(scope, run_id, o, now, attribution)
        self.book.orders.append(record)
        reason = self._check(scope, o)
        if reason is not None:
            return self._reject(record, reason)
        if record["metadata"]["amo"]:
            return {"mode": "paper", "status": "accepted", "order": record}  # queued to the open
        last = self.market.ltp(o["tradingsymbol"])
        if last is not None and self._marketable(record, last):
            return self._fill(record, now)
        if o.get("validity") == "IOC":
            record.update(status="cancelled", pending_quantity=0)
            return {"mode": "paper", "status": "accepted", "order": record}
        return {"mode": "paper", "status": "accepted", "order": record}

    def place_basket(
        self,
        scope: str,
        run_id: str,
        orders: list[dict[str, Any]],
        all_or_none: bool,
        *,
        now: dt.datetime,
        attribution: Any = None,
    ) -> dict[str, Any]:
        if all_or_none:
            for order in orders:
                o = self._normalise(order)
                reason = self._check(scope, o)
                if reason is not None:
                    rejected = self._reject(self._new_order(scope, run_id, o, now, attribution), reason)
                    return {"mode": "paper", "status": "failed", "results": [], "errors": [rejected]}
        results = [self.place_order(scope, run_id, order, now, attribution) for order in orders]
        errors = [r for r in results if r["status"] == "rejected"]
        status = "success" if not errors else ("failed" if len(errors) == len(results) else "partial")
        return {"mode": "paper", "status": status, "results": results, "errors": errors}

    def preview_order(self, scope: str, order: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        o = self._normalise(order)
        reason = self._check(scope, o)
        price = Decimal(str(self.market.ltp(o["tradingsymbol"]) or 0))
        value = price * o["quantity"]
        fee = charges_for(value, o["product"], o["transaction_type"])
        return {
            "preview": {
                "intent_type": "place_order",
                "order": order,
                "cost_contract": {
                    "margin_required": float(value),
                    "charges_estimate": float(fee),
                    "total_charges": float(fee),
                    "total_taxes": 0.0,
                },
            },
            "warnings": [reason] if reason else [],
        }

    def preview_basket(
        self, scope: str, run_id: str, orders: list[dict[str, Any]], all_or_none: bool, now: dt.datetime
    ) -> dict[str, Any]:
        legs = [self.preview_order(scope, order, now) for order in orders]
        return {
            "mode": "paper",
            "status": "dry_run",
            "all_or_none": all_or_none,
            "results": legs,
            "errors": [leg for leg in legs if leg["warnings"]],
        }

    def on_ticks(self, ticks: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
        events = []
        for order in list(self.book.orders):
            if order["status"] != "open":
                continue
            meta = order["metadata"]
            ttl = meta.get("validity_ttl")
            if order["validity"] == "TTL" and ttl:
                placed = dt.datetime.fromisoformat(order["placed_at"])
                if now >= placed + dt.timedelta(minutes=int(ttl)):
                    order.update(status="expired", pending_quantity=0, updated_at=now.isoformat())
                    events.append({"strategy_run_id": meta["strategy_run_id"], "order": order})
                    continue
            if meta.get("amo"):
                meta["amo"] = False  # the session opened (always-open market): the order goes live
            last = self.market.ltp(order["tradingsymbol"])
            if last is not None and self._marketable(order, last):
                self._fill(order, now)
                events.append({"strategy_run_id": meta["strategy_run_id"], "order": order})
        return events

    def orders(self, run_id: str) -> list[dict[str, Any]]:
        return [o for o in self.book.orders if o["metadata"]["strategy_run_id"] == run_id]

    def trades(self, run_id: str) -> list[dict[str, Any]]:
        return [t for t in self.book.trades if t["metadata"]["strategy_run_id"] == run_id]

    def _open_order(self, run_id: str, order_id: str) -> dict[str, Any]:
        for order in self.orders(run_id):
            if order["order_id"] == order_id:
                if order["status"] != "open":
                    raise ValueError(f"Order {order_id} is {order['status']}")
                return order
        raise ValueError(f"Order {order_id} not found")

    def cancel_order(self, run_id: str, order_id: str, now: dt.datetime) -> dict[str, Any]:
        order = self._open_order(run_id, order_id)
        order.update(status="cancelled", pending_quantity=0, updated_at=now.isoformat())
        return order

    def modify_order(
        self, run_id: str, order_id: str, patch: dict[str, Any], now: dt.datetime
    ) -> dict[str, Any]:
        order = self._open_order(run_id, order_id)
        for key in ("price", "trigger_price"):
            if patch.get(key) is not None:
                order[key] = str(patch[key])
        if patch.get("quantity"):
            order["quantity"] = order["pending_quantity"] = int(patch["quantity"])
        order["updated_at"] = now.isoformat()
        last = self.market.ltp(order["tradingsymbol"])
        if last is not None and self._marketable(order, last):
            self._fill(order, now)
        return order

    def run_pnl(self, run_id: str, now: dt.datetime) -> dict[str, Any]:
        legs = []
        for pos in self.book.positions.values():
            if pos["metadata"]["strategy_run_id"] != run_id:
                continue
            net, avg = int(pos["net_quantity"]), float(pos["average_price"])
            last = self.market.ltp(pos["tradingsymbol"]) or avg
            realized, charges = float(pos["realized_pnl"]), float(pos["charges"])
            unrealized = (last - avg) * net
            legs.append(
                {
                    "instrument_token": pos["instrument_token"],
                    "exchange": pos["exchange"],
                    "tradingsymbol": pos["tradingsymbol"],
                    "product": pos["product"],
                    "net_quantity": net,
                    "side": "LONG" if net > 0 else ("SHORT" if net < 0 else "FLAT"),
                    "average_price": avg,
                    "last_price": last,
                    "realized_pnl": realized,
                    "unrealized_pnl": unrealized,
                    "gross_pnl": realized + unrealized,
                    "charges": charges,
                    "net_pnl": realized + unrealized - charges,
                    "is_stale": False,
                }
            )
        keys = ("realized_pnl", "unrealized_pnl", "gross_pnl", "charges", "net_pnl")
        totals = {k: round(sum(leg[k] for leg in legs), 4) for k in keys}
        return {"totals": totals, "legs": legs}

    def funds(self, scope: str, now: dt.datetime) -> dict[str, Any]:
        available = float(self._cash(scope))
        realized = sum(
            float(p["realized_pnl"]) for p in self.book.positions.values() if p["account_scope"] == scope
        )
        blocked = sum(
            float(p["average_price"]) * abs(int(p["net_quantity"]))
            for p in self.book.positions.values()
            if p["account_scope"] == scope
        )
        equity = {
            "net": available + blocked,
            "available_cash": available,
            "opening_balance": float(OPENING_BALANCE),
            "live_balance": None,
            "collateral": None,
            "utilised": blocked,
            "m2m_realised": realized,
            "m2m_unrealised": 0.0,
        }
        return {"source": "paper_runtime", "segments": {"equity": equity}, "updated_at": now.isoformat()}

    def flatten_run(self, scope: str, run_id: str, now: dt.datetime) -> dict[str, Any]:
        for order in self.orders(run_id):
            if order["status"] == "open":
                order.update(status="cancelled", pending_quantity=0, updated_at=now.isoformat())
        exits = []
        for pos in self.book.positions.values():
            net = int(pos["net_quantity"])
            if pos["metadata"]["strategy_run_id"] == run_id and net != 0:
                exits.append(
                    {
                        "exchange": pos["exchange"],
                        "tradingsymbol": pos["tradingsymbol"],
                        "transaction_type": "SELL" if net > 0 else "BUY",
                        "product": pos["product"],
                        "order_type": "MARKET",
                        "quantity": abs(net),
                        "variety": "regular",
                    }
                )
        if not exits:
            return {
                "status": "noop",
                "message": "No open paper positions found for strategy",
                "results": [],
                "errors": [],
            }
        return self.place_basket(scope, run_id, exits, True, now=now)
