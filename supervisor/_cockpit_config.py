"""The cockpit's configuration: money reads, notifications (strict pydantic, like all config)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["LossBreakerConfig", "MoneyConfig", "NotificationsConfig", "TelegramConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MoneyConfig(_Strict):
    """How often the daemon reads each run's P&L and executions from the backend."""

    enabled: bool = True
    interval_s: float = Field(default=5.0, ge=1.0, le=3600.0)
    concurrency: int = Field(default=4, ge=1, le=64)


class TelegramConfig(_Strict):
    bot_token: SecretStr
    chat_id: str = Field(min_length=1)
    api_base: str = "https://api.telegram.org"


class NotificationsConfig(_Strict):
    """Where crash, quarantine, stall, lost-session, loss-breaker, fill and start/stop notices go."""

    webhooks: list[SecretStr] = []  # webhook URLs often carry their secret in the path
    telegram: TelegramConfig | None = None
    dedupe_s: float = Field(default=300.0, ge=0)
    per_minute: int = Field(default=20, ge=1, le=600)
    fills: bool = True  # a notice per fill (rate-limited like the rest)

    @field_validator("webhooks", mode="before")
    @classmethod
    def _drop_empty(cls, value: Any) -> Any:
        # `webhooks: ["${KITE_SUPERVISOR_WEBHOOK_URL:-}"]` with the variable unset: no webhook
        if isinstance(value, list):
            return [v for v in value if not (isinstance(v, str) and not v.strip())]
        return value

    @field_validator("telegram", mode="before")
    @classmethod
    def _unset_is_none(cls, value: Any) -> Any:
        # `telegram: {bot_token: ${TELEGRAM_BOT_TOKEN:-}, ...}` with the variable unset: no sink
        if isinstance(value, dict) and not str(value.get("bot_token") or "").strip():
            return None
        return value


class LossBreakerConfig(_Strict):
    """Pause a strategy whose run has lost this much (the backend's net P&L, read by the cockpit).

    It pauses, logs a decision event on the run's timeline and notifies; it never exits a run or
    places an order (the backend's protection does that when configured)."""

    max_loss_inr: float | None = Field(default=None, gt=0)
    max_loss_pct: float | None = Field(default=None, gt=0, le=100)  # of the run's allocation cap

    @model_validator(mode="after")
    def _one_limit(self) -> LossBreakerConfig:
        if self.max_loss_inr is None and self.max_loss_pct is None:
            raise ValueError("set max_loss_inr, max_loss_pct or both")
        return self
