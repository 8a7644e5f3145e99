from __future__ import annotations

import pytest

from supervisor.client import (
    AuthError,
    BrokerValidationError,
    ConflictError,
    KiteAlgoWorkerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SafetyTokenExpiredError,
    ServerError,
    SessionConflictError,
    SessionRequiredError,
)
from supervisor.client._errors import error_for_response


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, {"detail": "Invalid worker token"}, AuthError),
        (403, {"detail": "Worker token is not allowed to perform 'runs:exit'"}, PermissionDeniedError),
        (404, {"detail": "Strategy run not found"}, NotFoundError),
        (409, {"detail": {"rejection_reason": "WORKER_SESSION_CONFLICT"}}, SessionConflictError),
        (409, {"detail": {"rejection_reason": "WORKER_SESSION_REQUIRED"}}, SessionRequiredError),
        (409, {"detail": {"rejection_reason": "SAFETY_TOKEN_EXPIRED"}}, SafetyTokenExpiredError),
        (409, {"detail": "Strategy run already exists"}, ConflictError),
        (422, {"detail": [{"loc": ["body", "idempotency_key"]}]}, BrokerValidationError),
        (400, {"detail": "Unsupported account_scope 'x'"}, BrokerValidationError),
        (429, {"detail": "slow down"}, RateLimitedError),
        (503, {"detail": "Paper runtime is not available"}, ServerError),
        (500, {"raw": "Internal Server Error"}, ServerError),
    ],
)
def test_status_and_reason_map_to_specific_classes(status: int, body: object, cls: type) -> None:
    err = error_for_response(status, body, method="GET", route="/worker/runs/{id}")
    assert type(err) is cls
    assert isinstance(err, KiteAlgoWorkerError)
    assert isinstance(err, RuntimeError)
    assert err.status_code == status


def test_rejection_reason_is_exposed() -> None:
    err = error_for_response(
        409, {"detail": {"rejection_reason": "WORKER_SESSION_CONFLICT"}}, method="POST", route="/x"
    )
    assert err.rejection_reason == "WORKER_SESSION_CONFLICT"


def test_message_falls_back_to_route_without_body() -> None:
    err = error_for_response(502, {}, method="POST", route="/worker/runs/{id}/intents")
    assert str(err) == "POST /worker/runs/{id}/intents failed with HTTP 502"
