"""Reload: re-read the config and make the hosted strategies match it, without a restart.

Asked for by SIGHUP or ``POST /reload`` (operator token). Requests coalesce (one pending at a
time); each is carried out by :meth:`Supervisor.reload`: added strategies start, removed ones
stop and release their sessions, changed ones are replaced, and the unchanged keep their tasks
and sessions untouched. A config that does not validate changes nothing and is logged with its
file, line and field. Only ``strategies`` are reloaded: a change to ``backend`` or
``supervisor`` settings needs a restart (and says so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from ._config import ConfigError
from ._http import Handler, HttpRequest, HttpResponse, json_response
from ._plugins import ResolvedStrategy, SkippedStrategy

__all__ = ["Loader", "Reloader"]

log = logging.getLogger("supervisor.reload")
Loader = Callable[[], tuple[list[ResolvedStrategy], list[SkippedStrategy]]]


class Reloader:
    """Coalesces reload requests and carries them out on the supervisor (``serve``)."""

    def __init__(self, load: Loader | None) -> None:
        self._load = load
        self._send, self._receive = trio.open_memory_channel[str](1)

    def request(self, source: str) -> str:
        """Ask for a reload; never blocks. ``reloading``, ``pending`` or ``unavailable``."""
        if self._load is None:
            return "unavailable"
        try:
            self._send.send_nowait(source)
        except trio.WouldBlock:
            return "pending"  # one is queued already: it will read the latest file
        return "reloading"

    def routes(self) -> dict[tuple[str, str], Handler]:
        async def reload(request: HttpRequest) -> HttpResponse:
            result = self.request("POST /reload")
            status = 409 if result == "unavailable" else 202
            return json_response({"result": result}, status)

        return {("POST", "/reload"): reload}

    async def serve(
        self, supervisor: Any, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Carry out reloads until cancelled."""
        task_status.started()
        async for source in self._receive:
            assert self._load is not None
            try:
                strategies, skipped = self._load()  # blocks briefly: one small file
            except ConfigError as exc:
                log.error("reload (%s) refused, nothing changed:\n%s", source, exc)
                supervisor.last_reload = {"source": source, "error": str(exc)}
                continue
            for skip in skipped:
                log.error("%s", skip)
            report = await supervisor.reload(strategies, skipped)
            report["source"] = source
            log.info(
                "reload (%s): added %s, removed %s, changed %s, %d unchanged",
                source,
                ", ".join(report["added"]) or "none",
                ", ".join(report["removed"]) or "none",
                ", ".join(report["changed"]) or "none",
                len(report["unchanged"]),
            )
