"""A minimal Bot API for the benchmarks: every method answered as Telegram would in shape, the
calls that send or edit a message counted (when and to which chat), optionally enforcing
Telegram's ~30 messages per second (429 with retry_after beyond it), and each chat's newest
keyboard kept so a benchmark's parent can press a button on it."""
from __future__ import annotations

import collections
import itertools
import json
import socket
import time
from typing import Any

from aiohttp import web

WRITES = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto", "sendDocument",
                    "editMessageCaption", "sendMediaGroup", "copyMessage", "forwardMessage"})
BOT_USER = {"id": 42, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}


class CountingApi:
    def __init__(self, limit: int | None = None, per: float = 1.0) -> None:
        self.limit, self.per = limit, per
        self.sent = 0
        self.refused = 0
        self.stamps: collections.deque[float] = collections.deque()
        self.writes: list[tuple[float, int]] = []                      # (monotonic time, chat) of each sent
        self.answered: list[tuple[float, int]] = []                    # answerCallbackQuery (time, query id)
        self.keyboards: dict[int, tuple[dict[str, Any], list[list[dict[str, Any]]]]] = {}
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

    def most_in_a_second(self, chats: set[int] | None = None) -> int:
        """The most messages sent (to `chats`, or any) in any `per`-second window."""
        stamps = sorted(t for t, chat in self.writes if chats is None or chat in chats)
        most, first = 0, 0
        for last, at in enumerate(stamps):
            while at - stamps[first] >= self.per:
                first += 1
            most = max(most, last - first + 1)
        return most

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(await request.post()) if request.can_read_body else {}
        if method not in WRITES:
            if method == "answerCallbackQuery":
                self.answered.append((time.monotonic(), int(str(params.get("callback_query_id", "0")))))
            return web.json_response({"ok": True, "result": BOT_USER if method == "getMe" else
                                      ([] if method == "getUpdates" else True)})
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
        self.writes.append((now, chat))
        message = {"message_id": int(params.get("message_id") or next(self._ids)), "date": int(time.time()),
                   "text": str(params.get("text") or params.get("caption") or "…"),
                   "chat": {"id": chat, "type": "private"}, "from": BOT_USER}
        markup = params.get("reply_markup")
        if isinstance(markup, str) and markup:
            keyboard = json.loads(markup).get("inline_keyboard")
            if keyboard:
                self.keyboards[chat] = (message, keyboard)
        return web.json_response({"ok": True, "result": message})
