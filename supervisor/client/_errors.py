"""The one exception tree of the worker client.

Every error the client raises derives from :class:`KiteAlgoWorkerError` (a ``RuntimeError``,
as in the official SDK, so existing ``except`` clauses keep working)::

    KiteAlgoWorkerError                     status_code, response_body, rejection_reason
    ├── ClientValidationError (ValueError)  refused before any request was sent
    │   ├── OrderRuleError                  .rule names the order field rule that failed
    │   ├── ProtectionRuleError             .rule names the protection constraint
    │   └── LiveTradingRefusedError         live mode without KITE_ALGO_ENABLE_LIVE=1
    ├── OrderRateLimitedError               the account's order-rate budget had no slot within
    │                                       max_wait_s (.limit names it; nothing was sent)
    ├── TransportError                      no HTTP answer: connect/read failure, timeout
    │   └── StreamError                     an SSE stream failed or sent ``event: error``
    │       ├── StreamIdleTimeout           no byte (not even a keep-alive) within the idle limit
    │       └── StreamDisconnectedError     the server closed the stream / reconnects exhausted
    └── APIError                            the server answered with a non-2xx status
        ├── BrokerValidationError           400, 422
        ├── AuthError                       401
        ├── PermissionDeniedError           403
        ├── NotFoundError                   404
        ├── ConflictError                   409
        │   ├── SessionConflictError        WORKER_SESSION_CONFLICT (someone else holds it)
        │   ├── SessionRequiredError        WORKER_SESSION_REQUIRED (nonce header missing)
        │   ├── SafetyTokenExpiredError     SAFETY_TOKEN_EXPIRED (call safety_check again)
        │   └── RunConfigMismatchError      client-side: existing run differs from RunConfig
        ├── RateLimitedError                429 (.retry_after seconds, if the server said)
        └── ServerError                     5xx

Foreign exceptions (httpx, h11, json) are mapped once, at the transport seam, with ``from exc``.

Every retrying loop decides what to do with an error through :func:`classify_error` (style
rule 10): :attr:`ErrorClass.TRANSIENT` (no answer, an in-band stream failure, 5xx, 429: retry
with backoff, honouring :func:`retry_after_hint`), :attr:`ErrorClass.REQUEST` (a 4xx about the
request's parameters, an unknown instrument: fails only whoever asked) or
:attr:`ErrorClass.DENIED` (401/403: the token may not do this, whatever the parameters).
Messages never contain the worker token: the pipeline never puts request headers or URLs into
errors, and :func:`error_for_response` masks the token in server-echoed text (``secrets=``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "APIError",
    "AuthError",
    "BrokerValidationError",
    "ClientValidationError",
    "ConflictError",
    "ErrorClass",
    "KiteAlgoWorkerError",
    "LiveTradingRefusedError",
    "NotFoundError",
    "OrderRateLimitedError",
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
    "classify_error",
    "error_for_response",
    "names_no_valid_instrument",
    "retry_after_hint",
]


class KiteAlgoWorkerError(RuntimeError):
    """Base class of every client error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 0,
        response_body: Any = None,
        rejection_reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.response_body = response_body if response_body is not None else {}
        self.rejection_reason = rejection_reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, message={self.message!r})"


class ClientValidationError(KiteAlgoWorkerError, ValueError):
    """The call was refused by the client before any request was sent."""

    def __init__(self, message: str, *, rule: str = "") -> None:
        super().__init__(message, status_code=0)
        self.rule = rule


class OrderRuleError(ClientValidationError):
    """An order breaks one of the field rules; ``rule`` names it (e.g. ``"limit_requires_price"``)."""


class ProtectionRuleError(ClientValidationError):
    """A protection object breaks one of the backend's protection constraints."""


class LiveTradingRefusedError(ClientValidationError):
    """Live trading was requested without ``KITE_ALGO_ENABLE_LIVE=1``."""


class OrderRateLimitedError(KiteAlgoWorkerError):
    """The account's order-rate budget (shared by every strategy on the worker token) had no
    slot within ``max_wait_s``; nothing was sent. Transient, like a 429: ``limit`` names the
    limit (``"10 order requests per second"``), ``retry_after`` says when a slot frees (None
    when this request can never fit, e.g. a basket larger than the per-second limit)."""

    def __init__(self, message: str, *, limit: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after


class TransportError(KiteAlgoWorkerError):
    """No HTTP answer was received (connection refused, reset, timed out)."""


class StreamError(TransportError):
    """A stream failed: transport failure, undecodable data, or an in-band ``event: error``."""


class StreamIdleTimeout(StreamError):
    """Nothing, not even a keep-alive comment, arrived within the idle limit."""


class StreamDisconnectedError(StreamError):
    """The stream ended without ``event: end``, or reconnect attempts were exhausted."""


class APIError(KiteAlgoWorkerError):
    """The server answered with a non-2xx status. ``retry_after``: the server's
    ``Retry-After`` in seconds on a 429 or 5xx answer that sent one, else ``None``."""

    retry_after: float | None = None


class BrokerValidationError(APIError):
    """400 or 422: the request was malformed or violates a server-side rule."""


class AuthError(APIError):
    """401: missing, unknown, revoked or expired worker token."""


class PermissionDeniedError(APIError):
    """403: the token lacks the action, scope, template or mode, or does not own the run."""


class NotFoundError(APIError):
    """404: the run, instrument, order or trigger does not exist."""


class ConflictError(APIError):
    """409: the request conflicts with the run's current state."""


class SessionConflictError(ConflictError):
    """Another worker holds the run's session, or our nonce is no longer the current one."""


class SessionRequiredError(ConflictError):
    """The run has an active session and the call did not carry its nonce."""


class SafetyTokenExpiredError(ConflictError):
    """The safety token is expired or stale; call ``safety_check`` again, never retry it."""


class RunConfigMismatchError(ConflictError):
    """An existing run's template, account scope or mode differs from the ``RunConfig``."""


class RateLimitedError(APIError):
    """429: slow down; ``retry_after`` is the server's hint in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the backend failed; the request may or may not have taken effect."""


_REJECTION_CLASSES: dict[str, type[APIError]] = {
    "WORKER_SESSION_CONFLICT": SessionConflictError,
    "WORKER_SESSION_REQUIRED": SessionRequiredError,
    "SAFETY_TOKEN_EXPIRED": SafetyTokenExpiredError,
}

_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BrokerValidationError,
    401: AuthError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BrokerValidationError,
    429: RateLimitedError,
}


def _rejection_reason(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    detail = body.get("detail")
    for source in (detail, body):
        if isinstance(source, Mapping):
            reason = source.get("rejection_reason") or source.get("code")
            if isinstance(reason, str) and reason:
                return reason
    return None


def _message(body: Any, fallback: str) -> str:
    if isinstance(body, Mapping):
        for key in ("detail", "message"):
            value = body.get(key)
            if value:
                return str(value)
    if body:
        return str(body)
    return fallback


def error_for_response(
    status_code: int,
    body: Any,
    *,
    method: str,
    route: str,
    retry_after: float | None = None,
    secrets: Sequence[str] = (),
) -> APIError:
    """Map a non-2xx response to the most specific exception of the tree.

    ``route`` is the path template (``/worker/runs/{id}``), never a URL with query or headers;
    each of ``secrets`` (the worker token) is masked as ``***`` should the server echo it.
    """
    reason = _rejection_reason(body)
    cls: type[APIError]
    if status_code == 409 and reason in _REJECTION_CLASSES:
        cls = _REJECTION_CLASSES[reason]
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = _STATUS_CLASSES.get(status_code, APIError)
    message = _message(body, f"{method} {route} failed with HTTP {status_code}")
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    if cls is RateLimitedError:
        return RateLimitedError(
            message,
            retry_after=retry_after,
            status_code=status_code,
            response_body=body,
            rejection_reason=reason,
        )
    error = cls(message, status_code=status_code, response_body=body, rejection_reason=reason)
    if cls is ServerError:
        error.retry_after = retry_after  # a 503 may say when to come back, as a 429 does
    return error


class ErrorClass(enum.Enum):
    """What a retrying loop does with an error (see :func:`classify_error`)."""

    TRANSIENT = "transient"  # retry with bounded backoff for as long as someone wants the data
    REQUEST = "request"  # permanent for this request: fail whoever asked for it, nobody else
    DENIED = "denied"  # permanent for every request of this kind with this token (401/403)


# §5.2: the ticks stream's in-band error for a request naming no known instrument
_NO_VALID_INSTRUMENT = "valid symbol or instrument token"


def names_no_valid_instrument(exc: BaseException) -> bool:
    """Whether ``exc`` is the ticks stream's ``event: error`` for a request naming no known
    instrument (§5.2): every instrument it asked for is unknown."""
    if not isinstance(exc, StreamError):
        return False
    body = exc.response_body
    detail = body.get("detail") if isinstance(body, Mapping) else None
    return isinstance(detail, str) and _NO_VALID_INSTRUMENT in detail


def classify_error(exc: BaseException) -> ErrorClass:
    """Transient or permanent, decided once for every retrying loop (never blocks).

    Transient: no HTTP answer (:class:`TransportError`, ``OSError``), an in-band stream error
    (``event: error``: upstream unavailable, build failure), 408, 429 and 5xx, and anything
    that is not a client error at all (a permanent state must name its reason; the caller
    counts and logs the retries). Permanent: 401/403 (:attr:`ErrorClass.DENIED`), every other
    4xx, a request refused before it was sent, and a tick stream naming no known instrument
    (:attr:`ErrorClass.REQUEST`).
    """
    if names_no_valid_instrument(exc):
        return ErrorClass.REQUEST
    if isinstance(exc, ClientValidationError):
        return ErrorClass.REQUEST
    if isinstance(exc, AuthError | PermissionDeniedError):
        return ErrorClass.DENIED
    if isinstance(exc, KiteAlgoWorkerError) and not isinstance(exc, TransportError):
        status = exc.status_code
        if 400 <= status < 500 and status not in (408, 429):
            return ErrorClass.DENIED if status in (401, 403) else ErrorClass.REQUEST
    return ErrorClass.TRANSIENT


def retry_after_hint(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` in seconds, if ``exc`` carries one (429, or a 503 mapped
    with the header), else ``None``. Never blocks."""
    if isinstance(exc, APIError) and exc.retry_after is not None and exc.retry_after >= 0:
        return exc.retry_after
    return None
