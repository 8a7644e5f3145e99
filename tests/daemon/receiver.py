"""A real HTTP endpoint on loopback for notification tests (webhooks, a Telegram-shaped API)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve


class Receiver:
    """A real HTTP endpoint on loopback that hands each POST's (path, JSON body) to the test."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.send, self.received = trio.open_memory_channel[tuple[str, Any]](100)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.send.send_nowait((scope["path"], json.loads(body)))
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def start(self, nursery: trio.Nursery) -> str:
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        binds = await nursery.start(partial(serve, self.app, config, mode="asgi"))  # type: ignore[arg-type]
        return str(binds[0]).rstrip("/")
