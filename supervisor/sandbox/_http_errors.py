"""FastAPI-style request errors: ``HTTPError`` and the 422 list form of request validation.

The reference server is FastAPI: a bad query value or body answers 422 with
``{"detail": [{"type", "loc", "msg", "input"}]}`` (pydantic v2 items), which the SDKs surface.
``_asgi.Request``'s typed query helpers raise these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._errors import ApiError

__all__ = ["HTTPError", "check_bounds", "field_error", "parse_bool", "query_error", "validation_error"]


class HTTPError(ApiError):
    """An error response: ``{"detail": detail}`` with ``status``. Raise it from handlers.

    The pure core raises the base ``ApiError``; the app renders both the same way.
    """

    def __init__(self, status: int, detail: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, detail)
        self.headers = dict(headers or {})


def field_error(
    loc: tuple[str | int, ...] | list[str | int],
    msg: str,
    type_: str,
    input_: Any = None,
    ctx: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One FastAPI/pydantic v2 style validation error item."""
    item: dict[str, Any] = {"type": type_, "loc": list(loc), "msg": msg, "input": input_}
    if ctx:
        item["ctx"] = dict(ctx)
    return item


def validation_error(errors: list[dict[str, Any]]) -> HTTPError:
    """A 422 with the list-form detail FastAPI produces for request validation."""
    return HTTPError(422, errors)


def parse_bool(raw: str) -> bool | None:
    low = raw.strip().lower()
    if low in {"true", "1", "yes", "on", "t", "y"}:
        return True
    if low in {"false", "0", "no", "off", "f", "n"}:
        return False
    return None


def query_error(name: str, msg: str, type_: str, raw: str, ctx: Mapping[str, Any] | None = None) -> HTTPError:
    return validation_error([field_error(["query", name], msg, type_, raw, ctx)])


def check_bounds(name: str, value: float, raw: str, ge: float | None, le: float | None) -> None:
    if ge is not None and value < ge:
        msg = f"Input should be greater than or equal to {ge}"
        raise query_error(name, msg, "greater_than_equal", raw, {"ge": ge})
    if le is not None and value > le:
        msg = f"Input should be less than or equal to {le}"
        raise query_error(name, msg, "less_than_equal", raw, {"le": le})
