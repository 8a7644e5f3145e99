"""The options namespace (contract §4.15) and the resolver helpers.

``client.options`` methods block on one request each (async on the async client; the sync
client derives blocking twins). The resolver helpers (``resolve_option_leg`` & co.) call
``namespace.resolve_contracts`` and build :class:`OptionExecutionLeg` payloads; they work on
both the async namespace (returning awaitables) and the sync one. They never create runs or
place trades.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ._endpoints import ENDPOINTS
from ._errors import BrokerValidationError
from ._pipeline import Pipeline

__all__ = [
    "AsyncOptionsNamespace",
    "OptionExecutionLeg",
    "SpreadLegSelection",
    "SpreadSpec",
    "resolve_delta_leg",
    "resolve_offset_leg",
    "resolve_option_leg",
    "resolve_spread",
]

E = ENDPOINTS


def _u(underlying: str) -> dict[str, str]:
    return {"underlying": underlying.upper()}


class AsyncOptionsNamespace:
    """``client.options`` on the async client."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    async def ensure_session(self, underlying: str) -> Any:
        return await self._pipeline.call(E["options.ensure_session"], _u(underlying))

    async def list_expiries(self, underlying: str) -> Any:
        return await self._pipeline.call(E["options.list_expiries"], _u(underlying))

    async def get_chain(self, underlying: str, *, expiry: str | None = None) -> Any:
        return await self._pipeline.call(E["options.get_chain"], _u(underlying), params={"expiry": expiry})

    async def get_mini_chain(self, underlying: str, *, expiry: str | None = None, window: int = 5) -> Any:
        return await self._pipeline.call(
            E["options.get_mini_chain"], _u(underlying), params={"expiry": expiry, "window": window}
        )

    async def get_greeks(self, underlying: str, *, expiry: str | None = None) -> Any:
        return await self._pipeline.call(E["options.get_greeks"], _u(underlying), params={"expiry": expiry})

    async def get_pcr(self, underlying: str, *, expiry: str | None = None) -> Any:
        return await self._pipeline.call(E["options.get_pcr"], _u(underlying), params={"expiry": expiry})

    async def get_max_pain(self, underlying: str, *, expiry: str | None = None) -> Any:
        return await self._pipeline.call(E["options.get_max_pain"], _u(underlying), params={"expiry": expiry})

    async def resolve_contracts(
        self, underlying: str, *, expiry: str, legs: Sequence[Mapping[str, Any]]
    ) -> Any:
        body = {"expiry": expiry, "legs": [dict(leg) for leg in legs]}
        return await self._pipeline.call(E["options.resolve_contracts"], _u(underlying), body=body)

    async def create_run(
        self,
        *,
        strategy_name: str,
        product: str,
        legs: Sequence[Mapping[str, Any]],
        protection: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        strategy_run_id: str | None = None,
        session_nonce: str | None = None,
    ) -> Any:
        """Create an options run; with ``strategy_run_id`` it shares the id of a worker run
        (whose session nonce, if held, goes in ``session_nonce``: SDK 0.13)."""
        body: dict[str, Any] = {
            "strategy_name": strategy_name,
            "product": product,
            "legs": [{"product": product, **dict(leg)} for leg in legs],
            "metadata": dict(metadata or {}),
        }
        if protection is not None:
            body["protection"] = dict(protection)
        if strategy_run_id is not None:
            body["strategy_run_id"] = strategy_run_id
        return await self._pipeline.call(E["options.create_run"], body=body, nonce=session_nonce)

    async def preview_entry(self, run_id: str, payload: Mapping[str, Any] | None = None) -> Any:
        return await self._pipeline.call(
            E["options.preview_entry"], {"run_id": run_id}, body=dict(payload or {})
        )

    async def preview_run_entry(self, run_id: str, payload: Mapping[str, Any] | None = None) -> Any:
        """SDK 0.13's name for the options route ``preview-entry`` (always the options route,
        never the worker basket preview): the same request as :meth:`preview_entry`."""
        return await self._pipeline.call(
            E["options.preview_entry"], {"run_id": run_id}, body=dict(payload or {})
        )

    async def preview_exit(self, run_id: str, payload: Mapping[str, Any] | None = None) -> Any:
        return await self._pipeline.call(
            E["options.preview_exit"], {"run_id": run_id}, body=dict(payload or {})
        )

    async def _run_action(
        self,
        name: str,
        run_id: str,
        payload: Mapping[str, Any] | None,
        session_nonce: str | None,
        request: Mapping[str, Any],
    ) -> Any:
        # OptionRunActionRequest: the payload dict and/or keywords, nulls dropped (§4.15)
        merged = {**dict(payload or {}), **request}
        body = {k: v for k, v in merged.items() if v is not None}
        return await self._pipeline.call(E[name], {"run_id": run_id}, body=body, nonce=session_nonce)

    async def enter(
        self,
        run_id: str,
        payload: Mapping[str, Any] | None = None,
        *,
        session_nonce: str | None = None,
        **request: Any,
    ) -> Any:
        """Enter the options run (``safety_token=`` is checked against a worker run of that id)."""
        return await self._run_action("options.enter", run_id, payload, session_nonce, request)

    async def exit(
        self,
        run_id: str,
        payload: Mapping[str, Any] | None = None,
        *,
        session_nonce: str | None = None,
        **request: Any,
    ) -> Any:
        """Exit the options run; same request form as :meth:`enter`."""
        return await self._run_action("options.exit", run_id, payload, session_nonce, request)

    async def get_run_state(self, run_id: str) -> Any:
        return await self._pipeline.call(E["options.get_run_state"], {"run_id": run_id})

    async def update_protection(
        self, run_id: str, protection: Mapping[str, Any], *, session_nonce: str | None = None
    ) -> Any:
        return await self._pipeline.call(
            E["options.update_protection"], {"run_id": run_id}, body=dict(protection), nonce=session_nonce
        )

    async def get_protection_state(self, run_id: str) -> Any:
        return await self._pipeline.call(E["options.get_protection_state"], {"run_id": run_id})

    async def replay_protection(
        self,
        run_id: str,
        metric_snapshots: Sequence[Mapping[str, Any]],
        protection: Mapping[str, Any] | None = None,
    ) -> Any:
        """Evaluate protection rules over recorded metric snapshots (nothing is traded)."""
        body: dict[str, Any] = {"metric_snapshots": [dict(m) for m in metric_snapshots]}
        if protection is not None:
            body["protection"] = dict(protection)
        return await self._pipeline.call(E["options.replay_protection"], {"run_id": run_id}, body=body)

    async def preview_strategy(self, payload: Mapping[str, Any]) -> Any:
        """Preview a strategy definition (free-form body, contract §4.15)."""
        return await self._pipeline.call(E["options.preview_strategy"], body=dict(payload))


class OptionExecutionLeg(BaseModel):
    """One options leg ready for ``options.create_run`` (``model_dump(exclude_none=True)``)."""

    model_config = ConfigDict(extra="forbid")

    leg_id: str = Field(default_factory=lambda: f"leg_{secrets.token_hex(4)}")
    tradingsymbol: str
    transaction_type: str
    quantity: int
    exchange: str = "NFO"
    product: str | None = None
    instrument_token: int | None = None
    strike: float | None = None
    option_type: str | None = None
    expiry_key: str | None = None
    ltp: float | None = None
    lot_size: int | None = None
    lots: int | None = None
    order_type: str = "MARKET"
    price: float | None = None
    trigger_price: float | None = None
    market_protection: int | None = None
    exit_order_type: str | None = None
    exit_price: float | None = None
    metadata: dict[str, Any] | None = None


class SpreadLegSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    selection: dict[str, Any]
    transaction_type: str
    lots: int = 1


class SpreadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spread_type: str
    expiry: str
    legs: list[SpreadLegSelection]


_T = TypeVar("_T")


def _then(value: Any, fn: Callable[[Any], _T]) -> _T | Awaitable[_T]:
    """Apply ``fn`` now (sync namespace) or after awaiting (async namespace)."""
    if inspect.isawaitable(value):

        async def later() -> _T:
            return fn(await value)

        return later()
    return fn(value)


def _selection(raw: Mapping[str, Any]) -> dict[str, Any]:
    sel = dict(raw)
    if "moneyness" in sel:  # seed spelling of the server's "offset"
        sel["offset"] = sel.pop("moneyness")
    return sel


def _legs_from(
    resolved: Any, picks: Sequence[tuple[str, int]], product: str, expiry: str
) -> list[OptionExecutionLeg]:
    contracts = list(resolved.get("resolved") or []) if isinstance(resolved, Mapping) else []
    if len(contracts) < len(picks):
        raise BrokerValidationError(
            f"expected {len(picks)} resolved contracts, got {len(contracts)}", status_code=422
        )
    legs = []
    for contract, (side, lots) in zip(contracts, picks, strict=False):
        lot_size = contract.get("lot_size")
        if not isinstance(lot_size, int) or lot_size <= 0:
            raise BrokerValidationError("resolved contract lacks a positive lot_size", status_code=422)
        legs.append(
            OptionExecutionLeg(
                tradingsymbol=str(contract["tradingsymbol"]),
                transaction_type=side,
                quantity=lot_size * lots,
                product=product,
                instrument_token=contract.get("instrument_token"),
                strike=contract.get("strike"),
                option_type=contract.get("option_type"),
                expiry_key=expiry,
                ltp=contract.get("ltp"),
                lot_size=lot_size,
                lots=lots,
            )
        )
    return legs


def resolve_option_leg(
    options: Any,
    *,
    underlying: str,
    product: str,
    expiry: str,
    selection: Mapping[str, Any],
    transaction_type: str,
    lots: int = 1,
) -> Any:
    """One leg by explicit selection. Returns the leg (sync) or an awaitable of it (async)."""
    raw = options.resolve_contracts(underlying, expiry=expiry, legs=[_selection(selection)])
    return _then(raw, lambda r: _legs_from(r, [(transaction_type, lots)], product, expiry)[0])


def resolve_offset_leg(
    options: Any,
    *,
    underlying: str,
    product: str,
    expiry: str,
    option_type: str,
    offset: str = "ATM",
    transaction_type: str,
    lots: int = 1,
) -> Any:
    selection = {"option_type": option_type, "offset": offset}
    return resolve_option_leg(
        options, underlying=underlying, product=product, expiry=expiry,
        selection=selection, transaction_type=transaction_type, lots=lots,
    )  # fmt: skip


def resolve_delta_leg(
    options: Any,
    *,
    underlying: str,
    product: str,
    expiry: str,
    option_type: str,
    delta_target: float,
    transaction_type: str,
    lots: int = 1,
) -> Any:
    selection = {"option_type": option_type, "delta_target": delta_target}
    return resolve_option_leg(
        options, underlying=underlying, product=product, expiry=expiry,
        selection=selection, transaction_type=transaction_type, lots=lots,
    )  # fmt: skip


def resolve_spread(options: Any, *, underlying: str, product: str, spec: SpreadSpec) -> Any:
    """All legs of ``spec`` in one resolve call; returns a list of legs (or an awaitable)."""
    raw = options.resolve_contracts(
        underlying, expiry=spec.expiry, legs=[_selection(leg.selection) for leg in spec.legs]
    )
    picks = [(leg.transaction_type, leg.lots) for leg in spec.legs]
    return _then(raw, lambda r: _legs_from(r, picks, product, spec.expiry))
