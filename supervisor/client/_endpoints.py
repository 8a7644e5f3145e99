"""The endpoint catalogue (contract §3): one small typed record per endpoint.

The pipeline takes an :class:`Endpoint` plus arguments; error messages use ``path`` (the route
template), never a formatted URL. ``ENDPOINTS`` lists every definition, keyed by name: the
seed's (SDK 0.7.4) and those first called by SDK 0.13.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

__all__ = ["ENDPOINTS", "Endpoint"]


class Endpoint(msgspec.Struct, frozen=True):
    """``method`` + ``path`` template (relative to the API prefix) + the token ``action`` the
    server checks; ``guarded`` marks the session guard of §4.3.3; ``sse`` a stream."""

    name: str
    method: str
    path: str
    action: str = ""
    guarded: bool = False
    sse: bool = False

    def format(self, params: Mapping[str, object]) -> str:
        """The concrete path; path parameters are inserted as given (contract §1.1)."""
        return self.path.format(**{k: str(v) for k, v in params.items()})


_R = "/worker/runs/{run_id}"
_O = "/worker/options"

_DEFS = (
    Endpoint("health", "GET", "/worker/health"),
    Endpoint("heartbeat", "POST", "/worker/heartbeat", "heartbeat"),
    Endpoint("create_run", "POST", "/worker/runs", "runs:create"),
    Endpoint("get_run", "GET", _R, "runs:read"),
    Endpoint("claim_session", "POST", _R + "/claim-session", "runs:read"),
    Endpoint("release_session", "DELETE", _R + "/claim-session", "runs:read", guarded=True),
    Endpoint("run_heartbeat", "POST", _R + "/heartbeat", "heartbeat", guarded=True),
    Endpoint("safety_check", "GET", _R + "/safety-check", "runs:read"),
    Endpoint("intents", "POST", _R + "/intents", "intents:submit", guarded=True),
    Endpoint("preview_order", "POST", _R + "/preview/order", "intents:submit"),
    Endpoint("preview_basket", "POST", _R + "/preview/basket", "intents:submit"),
    Endpoint("list_orders", "GET", "/worker/orders", "runs:read"),
    Endpoint("list_trades", "GET", "/worker/trades", "runs:read"),
    Endpoint("get_order", "GET", "/worker/orders/{order_id}", "runs:read"),
    Endpoint("cancel_order", "POST", "/worker/orders/{order_id}/cancel", "intents:submit"),
    Endpoint("modify_order", "POST", "/worker/orders/{order_id}/modify", "intents:submit"),
    Endpoint("exit_run", "POST", _R + "/exit", "runs:exit", guarded=True),
    Endpoint("get_run_pnl", "GET", _R + "/pnl", "runs:read"),
    Endpoint("stream_run_pnl", "GET", _R + "/pnl/stream", "runs:read", sse=True),
    Endpoint("get_run_funds", "GET", _R + "/funds", "funds:read"),
    Endpoint("get_funds", "GET", "/worker/funds", "funds:read"),
    Endpoint("patch_risk", "PATCH", _R + "/risk", "risk:update", guarded=True),
    Endpoint("update_backend_protection", "PATCH", _R + "/protection", "risk:update", guarded=True),
    Endpoint("log_decision_event", "POST", _R + "/decision-events", "runs:log", guarded=True),
    Endpoint("list_timeline", "GET", _R + "/timeline", "runs:read"),
    Endpoint("stream_timeline", "GET", _R + "/timeline/stream", "runs:read", sse=True),
    Endpoint("resolve_ticker", "GET", "/worker/market/instruments/resolve", "market:read"),
    Endpoint("resolve_tickers", "POST", "/worker/market/instruments/resolve", "market:read"),
    Endpoint("search_tickers", "GET", "/worker/market/instruments/search", "market:read"),
    Endpoint("get_quotes", "POST", "/worker/market/quotes", "market:read"),
    Endpoint("get_candles", "GET", "/worker/market/candles", "market:read"),
    Endpoint("get_historical_candles", "GET", "/worker/market/history", "market:read"),
    Endpoint("get_market_snapshot", "POST", "/worker/market/snapshot", "market:read"),
    Endpoint("stream_ticks", "GET", "/worker/market/ticks/stream", "market:stream", sse=True),
    Endpoint("stream_candles", "GET", "/worker/market/candles/stream", "market:stream", sse=True),
    Endpoint("place_gtt", "POST", "/worker/gtt/triggers", "gtt:write"),
    Endpoint("list_gtts", "GET", "/worker/gtt/triggers", "gtt:read"),
    Endpoint("get_gtt", "GET", "/worker/gtt/triggers/{trigger_id}", "gtt:read"),
    Endpoint("modify_gtt", "PUT", "/worker/gtt/triggers/{trigger_id}", "gtt:write"),
    Endpoint("delete_gtt", "DELETE", "/worker/gtt/triggers/{trigger_id}", "gtt:write"),
    # Options namespace (§4.15): token only, no action check.
    Endpoint("options.ensure_session", "GET", _O + "/underlyings/{underlying}/session"),
    Endpoint("options.list_expiries", "GET", _O + "/underlyings/{underlying}/expiries"),
    Endpoint("options.get_chain", "GET", _O + "/underlyings/{underlying}/chain"),
    Endpoint("options.get_mini_chain", "GET", _O + "/underlyings/{underlying}/mini-chain"),
    Endpoint("options.get_greeks", "GET", _O + "/underlyings/{underlying}/greeks"),
    Endpoint("options.resolve_contracts", "POST", _O + "/underlyings/{underlying}/selection/resolve"),
    Endpoint("options.get_pcr", "GET", _O + "/underlyings/{underlying}/analytics/pcr"),
    Endpoint("options.get_max_pain", "GET", _O + "/underlyings/{underlying}/analytics/max-pain"),
    Endpoint("options.preview_strategy", "POST", _O + "/strategies/preview"),
    Endpoint("options.create_run", "POST", _O + "/runs"),
    Endpoint("options.preview_entry", "POST", _O + "/runs/{run_id}/preview-entry"),
    Endpoint("options.enter", "POST", _O + "/runs/{run_id}/enter", guarded=True),
    Endpoint("options.preview_exit", "POST", _O + "/runs/{run_id}/preview-exit"),
    Endpoint("options.exit", "POST", _O + "/runs/{run_id}/exit", guarded=True),
    Endpoint("options.get_run_state", "GET", _O + "/runs/{run_id}/state"),
    Endpoint("options.update_protection", "PUT", _O + "/runs/{run_id}/protection", guarded=True),
    Endpoint("options.get_protection_state", "GET", _O + "/runs/{run_id}/protection/state"),
    Endpoint("options.replay_protection", "POST", _O + "/runs/{run_id}/protection/replay"),
)

# Newer servers and SDK 0.13 (contract §3 rows marked 0.13, §10). The read surfaces outside the
# strategy loop check no action the contract names (§3 closing note).
_DEFS_013 = (
    Endpoint("list_runs", "GET", "/worker/runs", "runs:read"),
    Endpoint("run_progress", "POST", _R + "/progress", "runs:progress", guarded=True),
    Endpoint("notify_run", "POST", _R + "/notify", "notifications:publish", guarded=True),
    Endpoint("get_order_history", "GET", "/worker/orders/{order_id}/history", "runs:read"),
    Endpoint("list_baskets", "GET", _R + "/baskets", "runs:read"),
    Endpoint("get_basket", "GET", _R + "/baskets/{basket_execution_id}", "runs:read"),
    Endpoint("create_bracket", "POST", _R + "/brackets", "intents:submit", guarded=True),
    Endpoint("list_brackets", "GET", _R + "/brackets", "runs:read"),
    Endpoint("get_bracket", "GET", _R + "/brackets/{bracket_intent_id}", "runs:read"),
    Endpoint(
        "cancel_bracket", "POST", _R + "/brackets/{bracket_intent_id}/cancel", "intents:submit", guarded=True
    ),
    Endpoint("list_execution_events", "GET", _R + "/execution-events", "runs:read"),
    Endpoint("stream_execution_events", "GET", _R + "/execution-events/stream", "runs:read", sse=True),
    Endpoint("get_account_portfolio", "GET", "/worker/account/portfolio"),
    Endpoint("get_market_calendar", "GET", "/worker/market/calendar"),
    Endpoint("get_market_calendar_status", "GET", "/worker/market/calendar/status"),
    Endpoint("get_index_constituents", "GET", "/worker/market/indices/{source_list}"),
    Endpoint("get_index_constituent_status", "GET", "/worker/market/indices/{source_list}/status"),
    Endpoint("get_fundamentals_features", "GET", "/worker/fundamentals/features"),
    Endpoint("get_fundamentals_statements", "GET", "/worker/fundamentals/statements"),
    Endpoint("get_fundamentals_status", "GET", "/worker/fundamentals/status"),
    Endpoint("export_fundamentals_csv", "GET", "/worker/fundamentals/export.csv"),
    Endpoint("refresh_fundamentals", "POST", "/worker/fundamentals/sync"),
    Endpoint("calculate_indicator", "POST", "/worker/indicators"),
)

ENDPOINTS: Mapping[str, Endpoint] = {e.name: e for e in (*_DEFS, *_DEFS_013)}
assert len(ENDPOINTS) == len(_DEFS) + len(_DEFS_013), "duplicate endpoint name"
