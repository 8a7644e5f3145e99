"""The last log lines of each strategy, for the console (a bounded ``logging.Handler``)."""

from __future__ import annotations

import logging
from collections import deque

from .._logging import redact

TAIL_LINES = 200


class LogTail(logging.Handler):
    """Keeps the last ``lines`` records that carry a ``strategy`` attribute, per strategy.

    Attach it to the ``supervisor`` logger in the composition root; records are formatted once,
    redacted like every log line, and dropped oldest-first."""

    def __init__(self, lines: int = TAIL_LINES) -> None:
        super().__init__(logging.INFO)
        self.lines = lines
        self._tails: dict[str, deque[str]] = {}
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        strategy = getattr(record, "strategy", None)
        if not isinstance(strategy, str):
            return
        try:
            line = redact(self.format(record))
        except Exception:  # a formatting error must never reach the strategy that logged
            self.handleError(record)
            return
        self._tails.setdefault(strategy, deque(maxlen=self.lines)).append(line)

    def tail(self, strategy: str) -> list[str]:
        return list(self._tails.get(strategy, ()))
