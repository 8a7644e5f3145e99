"""The paper engine: matching, positions, P&L and funds against the synthetic ``Market``.

Result shapes follow the reference paper engine (contract §4.5.4). MARKET fills at the last
price, LIMIT when marketable (else rests and fills on a later step), SL/SL-M rest until
triggered, IOC cancels what does not fill at once, TTL orders expire after ``validity_ttl``
minutes, cover orders add a protective SL-M child, iceberg orders fill in slices (one trade
each). Rejections carry the reference reasons (unknown instrument, lot size, funds). Each
account scope starts with 1,000,000 INR; charges follow ``_paper_orders.charges_for``.

Market hours (``_market_hours``), with ``nse`` hours: outside the session a regular order is
rejected with ``Market is closed ...`` (so are the MARKET legs of a flatten: a paper exit
outside hours fails and the run stays open, as with a broker); an AMO order (``variety:
amo``) is accepted only outside the session and goes live on the first market step of the
next one, where it fills like any order (a MARKET AMO at that step's price); in session an AMO
is rejected (``Market is open ...``): an after-market order means nothing while the market is
open, and quietly turning it into a regular order would hide a strategy bug. At the close,
resting non-AMO orders are cancelled (DAY validity). With ``always`` hours nothing is refused
and an AMO goes live on the next step (the "open" of an always-open market).

Pure: time is passed in; state round-trips through ``snapshot()``/``restore()``. The server
calls ``on_prices(now)`` after every market step that moved prices and ``on_close(now)`` when a
session ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import msgspec

from ._market import Market
from ._paper_orders import (
    apply_modify,
    charges_for,
    cover_leg,
    exit_order,
    marketable,
    new_record,
    normalise,
    slices,
)
from ._universe import INDICES

OPENING_BALANCE = Decimal("1000000")


class PaperBook(msgspec.Struct):
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


class PaperEngine:
    """Paper matching against a ``Market`` (see module docstring). Never blocks."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.book = PaperBook()
        self._resting: list[dict[str, Any]] = []  # open orders (references into book.orders)
        # the earliest expiry close among open option positions (None: recompute; max: none)
        self._settlement_due: dt.datetime | None = None

    # -- persistence ---------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The book and the market's prices, as JSON bytes."""
        return msgspec.json.encode({"book": self.book, **self.market.snapshot()})

    def restore(self, blob: bytes) -> None:
        """Replace the book (and prices) with a ``snapshot()``."""
        data = msgspec.json.decode(blob)
        self.book = msgspec.convert(data["book"], PaperBook)
        self.market.restore(data)
        self._resting = [o for o in self.book.orders if o["status"] == "open"]
        self._settlement_due = None

    # -- helpers --------------------------------------------------------------------------------
    def _id(self, prefix: str, now: dt.datetime) -> str:
        self.book.counter += 1
        digest = hashlib.sha256(f"{prefix}{self.book.counter}{now.isoformat()}".encode()).hexdigest()
        return f"{prefix}-{digest[:12].upper()}"

    def _cash(self, scope: str) -> Decimal:
        return Decimal(self.book.cash.setdefault(scope, str(OPENING_BALANCE)))

    def _new_order(
        self, scope: str, run_id: str, o: dict[str, Any], now: dt.datetime, meta: dict[str, Any] | None
    ) -> dict[str, Any]:
        return new_record(
            scope=scope,
            run_id=run_id,
            order_id=self._id("PAPER", now),
            order=o,
            token=self.market.token(o["tradingsymbol"]),
            lot_size=self.market.lot_size(o["exchange"], o["tradingsymbol"]) or 1,
            attribution=meta,
            now=now,
        )

    def _add(self, record: dict[str, Any]) -> None:
        self.book.orders.append(record)
        self._resting.append(record)

    def _reject(self, order: dict[str, Any], reason: str) -> dict[str, Any]:
        order.update(status="rejected", pending_quantity=0)
        order["metadata"]["reason"] = reason
        return {"mode": "paper", "status": "rejected", "reason": reason, "order": order}

    def _check(self, scope: str, o: dict[str, Any], now: dt.datetime) -> str | None:
        lot = self.market.lot_size(o["exchange"], o["tradingsymbol"])
        if lot is None:
            if o["exchange"] == "NSE" and o["tradingsymbol"] in INDICES:
                return f"Indices are not tradable: NSE:{o['tradingsymbol']}"
            return f"Instrument not found for {o['exchange']}:{o['tradingsymbol']}"
        if o["exchange"] == "NFO":
            contract = self.market.option(o["tradingsymbol"])
            if contract is not None and contract.expired(now):
                close = contract.close.strftime("%Y-%m-%d %H:%M IST")
                return f"Contract NFO:{o['tradingsymbol']} expired at {close}; it no longer trades"
        hours = self.market.hours
        if o.get("variety") == "amo":
            if not hours.accepts_amo(now):
                return (
                    f"Market is open ({hours.describe()}); AMO orders are accepted only outside the session"
                )
        elif not hours.is_open(now):
            return (
                f"Market is closed ({hours.describe()}); use variety amo to queue the order for the next open"
            )
        if o["quantity"] % lot:
            return f"Quantity must be a multiple of lot size {lot}"
        price = self.market.ltp(o["tradingsymbol"])
        if price is None:
            return "No reference price available for paper execution"
        value = Decimal(str(price)) * o["quantity"]
        if o["transaction_type"] == "buy" and value > self._cash(scope):
            return "Insufficient paper funds or margin"
        return None

    def _fill(
        self, order: dict[str, Any], now: dt.datetime, settle_at: Decimal | None = None
    ) -> dict[str, Any]:
        """Fill ``order`` at the last price, or, for an expiry settlement, at ``settle_at``."""
        scope, run_id = order["account_scope"], order["metadata"]["strategy_run_id"]
        last = Decimal(str(self.market.ltp(order["tradingsymbol"]))) if settle_at is None else settle_at
        qty = int(order["quantity"])
        value = last * qty
        side = order["transaction_type"]
        fee = charges_for(value, order["product"], side)
        if order["exchange"] == "NFO":
            self._settlement_due = None  # an option position changed: recompute the next expiry
        if side == "buy" and value + fee > self._cash(scope) and settle_at is None:
            # funds are checked again when the order fills (a resting order reserves nothing):
            # the account never goes below zero, whatever was placed meanwhile
            order["updated_at"] = now.isoformat()
            return self._reject(order, "Insufficient funds for fill-time margin adjustment")
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
        trades = []
        for part in slices(order):
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
        # the reference paper position (contract §4.5.4): marked at the fill price, without the
        # running ``charges`` the book keeps for the run's P&L
        position = {k: v for k, v in pos.items() if k != "charges"}
        position["unrealized_pnl"] = str(((last - avg) * net).quantize(Decimal("0.01")))
        result: dict[str, Any] = {
            "mode": "paper",
            "status": "filled",
            "order": order,
            "trade": trade,
            "position": position,
        }
        if len(trades) > 1:
            result["trades"] = trades
        if order["variety"] == "co" and order.get("parent_order_id") is None:
            result["stoploss_order"] = self._cover_child(order, last, now)
        return result

    def _cover_child(self, entry: dict[str, Any], fill: Decimal, now: dt.datetime) -> dict[str, Any] | None:
        child = cover_leg(entry, fill)
        if child is None:
            return None
        meta = entry["metadata"]
        record = self._new_order(
            entry["account_scope"], meta["strategy_run_id"], child, now, meta.get("attribution")
        )
        self._add(record)
        return record

    # -- orders ---------------------------------------------------------------------------------
    def place_order(
        self,
        scope: str,
        run_id: str,
        order: dict[str, Any],
        now: dt.datetime,
        *,
        attribution: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Place one order; the result's ``status`` is ``filled``, ``accepted`` or ``rejected``.

        Raises ``ValueError`` for a malformed order (nothing is recorded)."""
        o = normalise(order)
        record = self._new_order(scope, run_id, o, now, attribution)
        self._add(record)
        reason = self._check(scope, o, now)
        if reason is not None:
            return self._reject(record, reason)
        if record["metadata"]["amo"]:
            return {"mode": "paper", "status": "accepted", "order": record}  # queued to the open
        last = self.market.ltp(o["tradingsymbol"])
        if last is not None and marketable(record, last):
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
        now: dt.datetime,
        *,
        attribution: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Place the orders; with ``all_or_none`` nothing is placed when any leg would be rejected."""
        if all_or_none:
            for order in orders:
                o = normalise(order)
                reason = self._check(scope, o, now)
                if reason is not None:
                    rejected = self._reject(self._new_order(scope, run_id, o, now, attribution), reason)
                    return {"mode": "paper", "status": "failed", "results": [], "errors": [rejected]}
        results = [self.place_order(scope, run_id, order, now, attribution=attribution) for order in orders]
        errors = [r for r in results if r["status"] == "rejected"]
        status = "success" if not errors else ("failed" if len(errors) == len(results) else "partial")
        return {"mode": "paper", "status": status, "results": results, "errors": errors}

    def preview_order(self, scope: str, order: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        """Price one order without placing it; a would-be rejection is a warning."""
        o = normalise(order)
        reason = self._check(scope, o, now)
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

    def on_prices(self, now: dt.datetime) -> list[dict[str, Any]]:
        """Match resting orders after a market step: ``[{"strategy_run_id", "order"}]`` changed."""
        events = []
        for order in list(self._resting):  # a fill may add a cover order's child: next step
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
                meta["amo"] = False  # the session opened: the order goes live
            last = self.market.ltp(order["tradingsymbol"])
            if last is not None and marketable(order, last):
                self._fill(order, now)
                events.append({"strategy_run_id": meta["strategy_run_id"], "order": order})
        self._resting = [o for o in self._resting if o["status"] == "open"]
        return events

    def on_close(self, now: dt.datetime) -> list[dict[str, Any]]:
        """End of session: cancel resting non-AMO orders placed before the last close (DAY)."""
        cutoff = self.market.hours.last_close(now)
        if cutoff is None:
            return []
        events = []
        for order in self._resting:
            meta = order["metadata"]
            if order["status"] != "open" or meta.get("amo"):
                continue
            if dt.datetime.fromisoformat(order["placed_at"]) < cutoff:
                order.update(status="cancelled", pending_quantity=0, updated_at=now.isoformat())
                meta["reason"] = "Cancelled at market close"
                events.append({"strategy_run_id": meta["strategy_run_id"], "order": order})
        self._resting = [o for o in self._resting if o["status"] == "open"]
        return events

    def settle_expired(self, now: dt.datetime) -> list[dict[str, Any]]:
        """At an expiry's close: resting orders in the expired contracts are cancelled and open
        positions in them are closed at intrinsic value against the underlying's spot (cash
        settlement, as NSE settles index options). Returns ``[{"strategy_run_id", "order"}]``."""
        if self._settlement_due is None:
            closes = [
                c.close
                for pos in self.book.positions.values()
                if pos["exchange"] == "NFO" and int(pos["net_quantity"]) != 0
                and (c := self.market.option(pos["tradingsymbol"])) is not None
            ]  # fmt: skip
            self._settlement_due = min(closes, default=dt.datetime.max.replace(tzinfo=dt.UTC))
        if now < self._settlement_due:
            return []
        events = []
        for order in self._resting:
            contract = self.market.option(order["tradingsymbol"]) if order["exchange"] == "NFO" else None
            if order["status"] == "open" and contract is not None and contract.expired(now):
                order.update(status="cancelled", pending_quantity=0, updated_at=now.isoformat())
                order["metadata"]["reason"] = "Contract expired"
                events.append({"strategy_run_id": order["metadata"]["strategy_run_id"], "order": order})
        self._resting = [o for o in self._resting if o["status"] == "open"]
        for pos in list(self.book.positions.values()):
            contract = self.market.option(pos["tradingsymbol"]) if pos["exchange"] == "NFO" else None
            if contract is None or int(pos["net_quantity"]) == 0 or not contract.expired(now):
                continue
            spot = self.market.spots[contract.underlying]
            payoff = spot - contract.strike if contract.option_type == "CE" else contract.strike - spot
            run_id = pos["metadata"]["strategy_run_id"]
            record = self._new_order(
                pos["account_scope"], run_id, normalise(exit_order(pos)), now, {"settlement": "expiry"}
            )
            record["metadata"]["reason"] = f"Settled at expiry: intrinsic value against {spot:.2f}"
            self.book.orders.append(record)
            self._fill(record, now, settle_at=Decimal(str(round(max(payoff, 0.0), 2))))
            events.append({"strategy_run_id": run_id, "order": record})
        self._settlement_due = None
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
        apply_modify(order, patch)
        order["updated_at"] = now.isoformat()
        last = self.market.ltp(order["tradingsymbol"])
        live = not order["metadata"].get("amo") and self.market.is_open(now)
        if live and last is not None and marketable(order, last):
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
        exits = [
            exit_order(pos)
            for pos in self.book.positions.values()
            if pos["metadata"]["strategy_run_id"] == run_id and int(pos["net_quantity"]) != 0
        ]
        if not exits:
            return {
                "status": "noop",
                "message": "No open paper positions found for strategy",
                "results": [],
                "errors": [],
            }
        return self.place_basket(scope, run_id, exits, True, now)

    # -- options runs -------------------------------------------------------------------------------
    def option_run_status(self, run_id: str) -> str | None:
        """The status of the options run with this id, if any (safety check, §4.15)."""
        run = self.book.option_runs.get(run_id)
        return None if run is None else str(run["status"])
