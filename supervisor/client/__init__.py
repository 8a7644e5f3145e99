"""The Kite Algo worker API client.

Async (trio) first: :class:`AsyncKiteAlgoWorkerClient`. Scripts use the blocking
:class:`KiteAlgoWorkerClient`, which runs the same async client behind a portal.

Beyond the seed (SDK 0.7.4) the client speaks what SDK 0.13 added (contract §10): ``list_runs``;
``attach_run`` for a hosted child, which drives a run whose session its parent claimed
(:func:`open_hosted_child` / :func:`hosted_context` read the ``KITE_ALGO_*`` child environment),
with ``run_progress`` and ``notify_run``; order history, basket executions, brackets (live runs),
execution events (list, stream, follow); typed previews; ``session_nonce=`` on
``cancel_order``/``modify_order`` and ``options.create_run``; and the read surfaces outside the
strategy loop: account portfolio, market calendar, index constituents, fundamentals and
server-side indicators. Calls returning JSON keep the seed's dict-compatible :class:`Doc`; the
``*_snapshot`` twins (and the fundamentals calls, as in the SDK) return frozen typed Structs
that ignore fields they do not declare. ``docs/wire-api.md`` maps every route to its call.
"""

from ._async_client import AsyncKiteAlgoWorkerClient as AsyncKiteAlgoWorkerClient
from ._backoff import Backoff as Backoff
from ._config import AlgoWorkerConfig as AlgoWorkerConfig
from ._config import ExecutionMode as ExecutionMode
from ._config import require_live_enabled as require_live_enabled
from ._errors import APIError as APIError
from ._errors import AuthError as AuthError
from ._errors import BrokerValidationError as BrokerValidationError
from ._errors import ClientValidationError as ClientValidationError
from ._errors import ConflictError as ConflictError
from ._errors import KiteAlgoWorkerError as KiteAlgoWorkerError
from ._errors import LiveTradingRefusedError as LiveTradingRefusedError
from ._errors import NotFoundError as NotFoundError
from ._errors import OrderRateLimitedError as OrderRateLimitedError
from ._errors import OrderRuleError as OrderRuleError
from ._errors import PermissionDeniedError as PermissionDeniedError
from ._errors import ProtectionRuleError as ProtectionRuleError
from ._errors import RateLimitedError as RateLimitedError
from ._errors import RunConfigMismatchError as RunConfigMismatchError
from ._errors import SafetyTokenExpiredError as SafetyTokenExpiredError
from ._errors import ServerError as ServerError
from ._errors import SessionConflictError as SessionConflictError
from ._errors import SessionRequiredError as SessionRequiredError
from ._errors import StreamDisconnectedError as StreamDisconnectedError
from ._errors import StreamError as StreamError
from ._errors import StreamIdleTimeout as StreamIdleTimeout
from ._errors import TransportError as TransportError
from ._hosted import BlockingHostedChild as BlockingHostedChild
from ._hosted import HostedChild as HostedChild
from ._hosted import HostedChildEnv as HostedChildEnv
from ._hosted import hosted_context as hosted_context
from ._hosted import open_hosted_child as open_hosted_child
from ._intervals import CANDLE_INTERVALS as CANDLE_INTERVALS
from ._intervals import INTERVAL_ALIASES as INTERVAL_ALIASES
from ._intervals import CandleInterval as CandleInterval
from ._intervals import CandleIntervalAlias as CandleIntervalAlias
from ._intervals import check_interval as check_interval
from ._managed import AsyncManagedRun as AsyncManagedRun
from ._managed import RunConfig as RunConfig
from ._models import Doc as Doc
from ._models import GttPlaced as GttPlaced
from ._models import GttSnapshot as GttSnapshot
from ._models import RunHealthSnapshot as RunHealthSnapshot
from ._models import SafetyCheckResult as SafetyCheckResult
from ._models import TimelineEvent as TimelineEvent
from ._models import TimelineSnapshot as TimelineSnapshot
from ._models_exec import BasketExecution as BasketExecution
from ._models_exec import BasketExecutionList as BasketExecutionList
from ._models_exec import BracketActionResult as BracketActionResult
from ._models_exec import BracketIntent as BracketIntent
from ._models_exec import BracketList as BracketList
from ._models_exec import ExecutionEvent as ExecutionEvent
from ._models_exec import ExecutionEventsSnapshot as ExecutionEventsSnapshot
from ._models_exec import NotifyResult as NotifyResult
from ._models_exec import OrderHistory as OrderHistory
from ._models_exec import OrderPreview as OrderPreview
from ._models_exec import OrderSnapshot as OrderSnapshot
from ._models_exec import ProgressResult as ProgressResult
from ._models_exec import RunList as RunList
from ._models_exec import RunListItem as RunListItem
from ._models_reads import AccountPortfolio as AccountPortfolio
from ._models_reads import FundamentalFeatures as FundamentalFeatures
from ._models_reads import FundamentalsStatements as FundamentalsStatements
from ._models_reads import FundamentalsStatus as FundamentalsStatus
from ._models_reads import FundamentalsSyncRun as FundamentalsSyncRun
from ._models_reads import IndexConstituents as IndexConstituents
from ._models_reads import IndexConstituentStatus as IndexConstituentStatus
from ._models_reads import MarketCalendar as MarketCalendar
from ._models_reads import MarketCalendarStatus as MarketCalendarStatus
from ._options import OptionExecutionLeg as OptionExecutionLeg
from ._options import SpreadLegSelection as SpreadLegSelection
from ._options import SpreadSpec as SpreadSpec
from ._options import resolve_delta_leg as resolve_delta_leg
from ._options import resolve_offset_leg as resolve_offset_leg
from ._options import resolve_option_leg as resolve_option_leg
from ._options import resolve_spread as resolve_spread
from ._order_rules import validate_order as validate_order
from ._orders import OrderBuilder as OrderBuilder
from ._orders import amo_limit_order as amo_limit_order
from ._orders import amo_market_order as amo_market_order
from ._orders import equity_market_order as equity_market_order
from ._orders import limit_order as limit_order
from ._orders import market_order as market_order
from ._orders import option_market_order as option_market_order
from ._orders import sl_m_order as sl_m_order
from ._orders import sl_order as sl_order
from ._protection import BackendProtection as BackendProtection
from ._protection import BasketProtection as BasketProtection
from ._protection import OperationalProtection as OperationalProtection
from ._protection import ProtectedPosition as ProtectedPosition
from ._recovery import preview_then_place_order as preview_then_place_order
from ._recovery import wait_for_fresh_candle as wait_for_fresh_candle
from ._recovery import wait_for_history as wait_for_history
from ._recovery import wait_for_quotes as wait_for_quotes
from ._recovery import wait_for_terminal_order_state as wait_for_terminal_order_state
from ._recovery import warmup_history as warmup_history
from ._sync import KiteAlgoWorkerClient as KiteAlgoWorkerClient
from ._sync import ManagedRun as ManagedRun
from ._ws import AsyncWebSocketStreams as AsyncWebSocketStreams
from ._ws import WebSocketStream as WebSocketStream
from ._ws import WebSocketStreamStatistics as WebSocketStreamStatistics
from .dataframe import candles_to_df as candles_to_df
from .dataframe import ohlcv_arrays as ohlcv_arrays

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/client guard it)
    "APIError",
    "AccountPortfolio",
    "AlgoWorkerConfig",
    "AsyncKiteAlgoWorkerClient",
    "AsyncManagedRun",
    "AsyncWebSocketStreams",
    "AuthError",
    "BackendProtection",
    "Backoff",
    "BasketExecution",
    "BasketExecutionList",
    "BasketProtection",
    "BlockingHostedChild",
    "BracketActionResult",
    "BracketIntent",
    "BracketList",
    "BrokerValidationError",
    "CANDLE_INTERVALS",
    "CandleInterval",
    "CandleIntervalAlias",
    "ClientValidationError",
    "ConflictError",
    "Doc",
    "ExecutionEvent",
    "ExecutionEventsSnapshot",
    "ExecutionMode",
    "FundamentalFeatures",
    "FundamentalsStatements",
    "FundamentalsStatus",
    "FundamentalsSyncRun",
    "GttPlaced",
    "GttSnapshot",
    "HostedChild",
    "HostedChildEnv",
    "INTERVAL_ALIASES",
    "IndexConstituentStatus",
    "IndexConstituents",
    "KiteAlgoWorkerClient",
    "KiteAlgoWorkerError",
    "LiveTradingRefusedError",
    "ManagedRun",
    "MarketCalendar",
    "MarketCalendarStatus",
    "NotFoundError",
    "NotifyResult",
    "OperationalProtection",
    "OptionExecutionLeg",
    "OrderBuilder",
    "OrderHistory",
    "OrderPreview",
    "OrderRateLimitedError",
    "OrderRuleError",
    "OrderSnapshot",
    "PermissionDeniedError",
    "ProgressResult",
    "ProtectedPosition",
    "ProtectionRuleError",
    "RateLimitedError",
    "RunConfig",
    "RunConfigMismatchError",
    "RunHealthSnapshot",
    "RunList",
    "RunListItem",
    "SafetyCheckResult",
    "SafetyTokenExpiredError",
    "ServerError",
    "SessionConflictError",
    "SessionRequiredError",
    "SpreadLegSelection",
    "SpreadSpec",
    "StreamDisconnectedError",
    "StreamError",
    "StreamIdleTimeout",
    "TimelineEvent",
    "TimelineSnapshot",
    "TransportError",
    "WebSocketStream",
    "WebSocketStreamStatistics",
    "amo_limit_order",
    "amo_market_order",
    "candles_to_df",
    "check_interval",
    "equity_market_order",
    "hosted_context",
    "limit_order",
    "market_order",
    "ohlcv_arrays",
    "open_hosted_child",
    "option_market_order",
    "preview_then_place_order",
    "require_live_enabled",
    "resolve_delta_leg",
    "resolve_offset_leg",
    "resolve_option_leg",
    "resolve_spread",
    "sl_m_order",
    "sl_order",
    "validate_order",
    "wait_for_fresh_candle",
    "wait_for_history",
    "wait_for_quotes",
    "wait_for_terminal_order_state",
    "warmup_history",
]
