"""The one error type of the sandbox's pure core: an HTTP status plus a FastAPI ``detail``.

Pure modules raise ``ApiError``; the ASGI shell renders it as ``{"detail": detail}`` (contract
§1.4). ``detail`` is a string, an object (``{"rejection_reason": ...}``) or a validation list.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the sandbox answers with ``status`` and body ``{"detail": detail}``."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(status)
        self.status = status
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.detail!r})"


def rejection(status: int, reason: str, **extra: Any) -> ApiError:
    """An error whose detail is ``{"rejection_reason": reason, **extra}``."""
    return ApiError(status, {"rejection_reason": reason, **extra})


def body_error(loc: list[str | int], msg: str, type_: str, input_: Any = None, **ctx: Any) -> ApiError:
    """A 422 request-validation error in FastAPI's list form."""
    item: dict[str, Any] = {"type": type_, "loc": loc, "msg": msg, "input": input_}
    if ctx:
        item["ctx"] = ctx
    return ApiError(422, [item])
