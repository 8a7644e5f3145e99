"""The Kite Algo worker API client.

Async (trio) first: :class:`AsyncKiteAlgoWorkerClient`. Scripts use the blocking
:class:`KiteAlgoWorkerClient`, which runs the same async client behind a portal.
"""

from ._errors import APIError as APIError
from ._errors import AuthError as AuthError
from ._errors import BrokerValidationError as BrokerValidationError
from ._errors import ClientValidationError as ClientValidationError
from ._errors import ConflictError as ConflictError
from ._errors import KiteAlgoWorkerError as KiteAlgoWorkerError
from ._errors import LiveTradingRefusedError as LiveTradingRefusedError
from ._errors import NotFoundError as NotFoundError
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

__all__ = [
    "APIError",
    "AuthError",
    "BrokerValidationError",
    "ClientValidationError",
    "ConflictError",
    "KiteAlgoWorkerError",
    "LiveTradingRefusedError",
    "NotFoundError",
    "OrderRuleError",
    "PermissionDeniedError",
    "ProtectionRuleError",
    "RateLimitedError",
    "RunConfigMismatchError",
    "SafetyTokenExpiredError",
    "ServerError",
    "SessionConflictError",
    "SessionRequiredError",
    "StreamDisconnectedError",
    "StreamError",
    "StreamIdleTimeout",
    "TransportError",
]
