"""A minimal Bot API for the delivery benchmark: sendMessage only, optionally enforcing
Telegram's ~30 messages per second (429 with retry_after beyond it)."""
from __future__ import annotations

import collections
import itertools
import socket
import time
from typing import Any

from aiohttp import web


class CountingApi:
    def __init__(self, limit: int | None = None, per: float = 1.0) -> None:
        self.limit, self.per = limit, per
        self.sent = 0
        self.refused = 0
        self.stamps: collections.deque[float] = collections.deque()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("POST", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        params: dict[str, Any] = dict(await request.post()) if request.can_read_body else {}
        now = time.monotonic()
        while self.stamps and self.stamps[0] <= now - self.per:
            self.stamps.popleft()
        if self.limit is not None and len(self.stamps) >= self.limit:
            self.refused += 1
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        self.stamps.append(now)
        self.sent += 1
        chat = int(params.get("chat_id") or 0)
        return web.json_response({"ok": True, "result": {
            "message_id": next(self._ids), "date": int(time.time()), "text": str(params.get("text", "")),
            "chat": {"id": chat, "type": "private"}}})
