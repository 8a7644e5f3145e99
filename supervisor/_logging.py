"""Logging setup, called only by the CLI.

Human-readable lines by default, one JSON object per line on request. Every record may carry
``strategy`` and ``run_id`` (set through :class:`logging.LoggerAdapter` ``extra``); both formats
print them when present. A redacting filter removes anything that looks like a worker token or
a notification sink's bot token, as a last line of defence: code never logs tokens in the first
place.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

# worker tokens, bearer headers and Telegram bot tokens (<bot id>:<35 characters>)
_TOKEN_PATTERN = re.compile(
    r"kwa_[A-Za-z0-9_\-]{6,}|(?i:bearer)\s+[A-Za-z0-9_\-\.=]{6,}|(?<![0-9])\d{6,12}:[A-Za-z0-9_\-]{30,}"
)
REDACTED = "kwa_***"


def redact(text: str) -> str:
    """Replace every worker-token-shaped substring of ``text``."""
    return _TOKEN_PATTERN.sub(REDACTED, text)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class _HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = "".join(
            f" {key}={getattr(record, key)}" for key in ("strategy", "run_id") if hasattr(record, key)
        )
        base = (
            f"{self.formatTime(record)} {record.levelname:<7} {record.name}{context}: {record.getMessage()}"
        )
        if record.exc_info:
            base += "\n" + redact(self.formatException(record.exc_info))
        return base


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("strategy", "run_id"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


def configure_logging(*, level: str = "INFO", fmt: str = "human") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _HumanFormatter())
    handler.addFilter(_RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "hpack", "hypercorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
