"""Typed results of the SDK 0.13 run and execution calls (contract §4.2 list, §4.3.4, §4.6-§4.8,
§4.12): run pages, hosted progress/notify answers, order history, basket executions, brackets,
execution events and typed previews.

Frozen msgspec Structs read with :func:`._models.to_struct`: unknown fields are ignored (the
0.13 SDK keeps these models tolerant, contract §1.6), numbers sent as strings (the paper
runtime's Decimals, §1.3) are coerced, and msgspec keeps each class's conversion plan after its
first use, so nothing is rebuilt per call. Every field has a default except the identifiers a
result is meaningless without.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._models import Snapshot

__all__ = [
    "BasketExecution",
    "BasketExecutionLeg",
    "BasketExecutionList",
    "BracketActionResult",
    "BracketIntent",
    "BracketList",
    "CostContract",
    "ExecutionEvent",
    "ExecutionEventsSnapshot",
    "ItemizedCharges",
    "NotifyResult",
    "OrderHistory",
    "OrderPreview",
    "OrderSnapshot",
    "PreviewPayload",
    "ProgressResult",
    "RunList",
    "RunListItem",
]


def _dict() -> Any:
    return msgspec.field(default_factory=dict)


def _list() -> Any:
    return msgspec.field(default_factory=list)


class RunListItem(Snapshot, frozen=True, kw_only=True):
    """One run of ``GET /worker/runs`` (no metadata, nonce or token id is listed)."""

    strategy_run_id: str
    name: str = ""
    template_id: str = ""
    account_scope: str = ""
    execution_mode: str = ""
    status: str = ""
    created_at: str | None = None
    updated_at: str | None = None
    closed_at: str | None = None


class RunList(Snapshot, frozen=True, kw_only=True):
    """A page of runs, newest first; ``next_cursor`` is None on the last page."""

    items: list[RunListItem] = _list()
    next_cursor: str | None = None


class ProgressResult(Snapshot, frozen=True, kw_only=True):
    status: str = ""
    strategy_run_id: str = ""
    recorded: bool = False


class NotifyResult(Snapshot, frozen=True, kw_only=True):
    strategy_run_id: str = ""
    status: str = ""
    event_id: str | int | None = None
    delivery_count: int = 0


class OrderSnapshot(Snapshot, frozen=True, kw_only=True):
    """A Kite order object (contract §4.8); statuses are upper-case (``COMPLETE``...)."""

    order_id: str
    status: str = ""
    exchange: str | None = None
    tradingsymbol: str | None = None
    instrument_token: int | None = None
    transaction_type: str | None = None
    product: str | None = None
    variety: str | None = None
    order_type: str | None = None
    validity: str | None = None
    quantity: int | None = None
    price: float | None = None
    trigger_price: float | None = None
    average_price: float | None = None
    filled_quantity: int | None = None
    pending_quantity: int | None = None
    cancelled_quantity: int | None = None
    order_timestamp: str | None = None
    exchange_timestamp: str | None = None
    status_message: str | None = None
    parent_order_id: str | None = None
    tag: str | None = None


class OrderHistory(Snapshot, frozen=True, kw_only=True):
    strategy_run_id: str = ""
    order_id: str = ""
    history: list[OrderSnapshot] = _list()


class BasketExecutionLeg(Snapshot, frozen=True, kw_only=True):
    basket_execution_id: str = ""
    leg_index: int = 0
    status: str = ""
    exchange: str | None = None
    tradingsymbol: str | None = None
    product: str | None = None
    transaction_type: str | None = None
    requested_quantity: int = 0
    broker_order_id: str | None = None
    client_order_ref: str | None = None
    latest_broker_status: str | None = None
    last_seen_filled_quantity: int = 0
    average_price: float | None = None
    request: dict[str, Any] = _dict()
    created_at: str | None = None
    updated_at: str | None = None


class BasketExecution(Snapshot, frozen=True, kw_only=True):
    """A live basket execution (contract §4.7); paper baskets are not recorded as these."""

    basket_execution_id: str
    strategy_run_id: str = ""
    status: str = ""
    account_id: str | None = None
    execution_mode: str | None = None
    all_or_none: bool = False
    action_required: bool = False
    action_reason: str | None = None
    rollback_status: str | None = None
    requested_leg_count: int = 0
    completed_leg_count: int = 0
    terminal_leg_count: int = 0
    total_requested_quantity: int = 0
    total_filled_quantity: int = 0
    latest_event_cursor: int | None = None
    latest_event_at: str | None = None
    request: dict[str, Any] = _dict()
    metadata: dict[str, Any] = _dict()
    created_at: str | None = None
    updated_at: str | None = None
    legs: list[BasketExecutionLeg] = _list()


class BasketExecutionList(Snapshot, frozen=True, kw_only=True):
    strategy_run_id: str = ""
    baskets: list[BasketExecution] = _list()


class BracketIntent(Snapshot, frozen=True, kw_only=True):
    bracket_intent_id: str
    strategy_run_id: str = ""
    status: str = ""
    account_id: str | None = None
    entry_basket_execution_id: str | None = None
    action_required: bool = False
    action_reason: str | None = None
    config: dict[str, Any] = _dict()
    metadata: dict[str, Any] = _dict()
    created_at: str | None = None
    updated_at: str | None = None
    closed_at: str | None = None


class BracketActionResult(Snapshot, frozen=True, kw_only=True):
    """The answer to a bracket create (``entry_working``) or cancel (``cancelling``)."""

    bracket_intent_id: str
    strategy_run_id: str = ""
    status: str = ""
    action_required: bool = False
    action_reason: str | None = None
    entry_result: dict[str, Any] | None = None


class BracketList(Snapshot, frozen=True, kw_only=True):
    strategy_run_id: str = ""
    brackets: list[BracketIntent] = _list()


class ExecutionEvent(Snapshot, frozen=True, kw_only=True):
    """An ``execution`` timeline event in the reduced form of contract §4.12."""

    cursor: int
    strategy_run_id: str = ""
    account_id: str | None = None
    basket_execution_id: str | None = None
    event_type: str = ""
    payload: dict[str, Any] = _dict()
    created_at: str | None = None


class ExecutionEventsSnapshot(Snapshot, frozen=True, kw_only=True):
    strategy_run_id: str = ""
    after_cursor: int = 0
    last_cursor: int = 0
    events: list[ExecutionEvent] = _list()


class ItemizedCharges(Snapshot, frozen=True, kw_only=True):
    brokerage: float | None = None
    exchange_transaction_charge: float | None = None
    stt: float | None = None
    stamp_duty: float | None = None
    sebi_charge: float | None = None
    gst: float | None = None


class CostContract(Snapshot, frozen=True, kw_only=True):
    """Preview costs; the keys beyond the first four are 0.13's (contract §4.6)."""

    margin_required: float | None = None
    charges_estimate: float | None = None
    total_charges: float | None = None
    total_taxes: float | None = None
    itemized: ItemizedCharges | None = None
    dp_charge: float | None = None
    dp_charge_status: str | None = None


class PreviewPayload(Snapshot, frozen=True, kw_only=True):
    """``order`` for an order preview; a basket preview's live result is kept whole in
    ``basket``-shaped keys the server sends (tolerant, unlike the SDK's strict model)."""

    intent_type: str = ""
    order: dict[str, Any] | None = None
    basket: dict[str, Any] | None = None
    cost_contract: CostContract | None = None


class OrderPreview(Snapshot, frozen=True, kw_only=True):
    strategy_run_id: str = ""
    mode: str = ""
    preview: PreviewPayload = msgspec.field(default_factory=PreviewPayload)
