"""VK's Callback API: VK POSTs each community event to the bot (VK_CALLBACK_SECRET set).

The route `POST /vk/callback` is appended to ctx.http_routes (the process's one HTTP server,
bot/http_server.py, serves it). Every request must carry the community's `secret` (set in
the community's Callback API settings to VK_CALLBACK_SECRET) and the configured group id,
else it is refused (403) with no effect — the confirmation request included.
  - `{"type": "confirmation"}`: answered with the code the bot asks VK for itself
    (groups.getCallbackConfirmationCode), so the operator only pastes the URL and the secret;
  - every other event: handled like a long-polled one (one parent's events in order) and
    answered `ok` once handled — its effects committed and its reply sent. If handling or
    answering it failed, the answer is 500 (not `ok`), so VK sends it again. VK re-sends an
    event that got no `ok` (a crash, a timeout, an error); the copy is handled once (the
    message's or press's id is the dialogs' event id, core/handled_updates.py), and a copy
    that comes while the first is still being handled, here or in another process, waits
    for it (bot/in_flight.py, keyed by the event's `event_id`) and is answered `ok` with no
    effect, or 503 if the first takes too long.
"""
from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web

from bot.delivery import DeliveryError
from bot.in_flight import Busy, InFlight, LocalClaims

log = logging.getLogger("bot.vk")

PATH = "/vk/callback"
MAX_BODY = 256 * 1024


class CallbackEndpoint:
    def __init__(self, adapter: Any, secret: str, in_flight: InFlight | None = None) -> None:
        self.adapter = adapter
        self.secret = secret
        self.claims = in_flight or InFlight(LocalClaims())
        self.code: str | None = None

    def route(self) -> web.RouteDef:
        return web.post(PATH, self.handle)

    async def confirmation_code(self) -> str:
        if self.code is None:
            found = await self.adapter.client.call("groups.getCallbackConfirmationCode",
                                                   group_id=self.adapter.group_id)
            self.code = str((found or {}).get("code") or "")
        return self.code

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="too large")
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="bad request")
        if not isinstance(body, dict) or not hmac.compare_digest(
                str(body.get("secret", "")).encode(), self.secret.encode()):
            log.warning("VK callback: a request without the right secret refused")
            return web.Response(status=403, text="forbidden")
        if str(body.get("group_id", "")).lstrip("-") != str(self.adapter.group_id):
            log.warning("VK callback: an event of another community refused")
            return web.Response(status=403, text="forbidden")
        if body.get("type") == "confirmation":
            try:
                code = await self.confirmation_code()
            except DeliveryError as exc:
                log.warning("VK callback: getting the confirmation code failed: %s", type(exc).__name__)
                return web.Response(status=503, text="try again")
            return web.Response(text=code)
        body.pop("secret", None)
        try:
            async with self.claims.claim("vk", str(body.get("event_id") or "")):
                handled = await self.adapter.handle_now(body)
        except Busy:
            log.info("VK callback: a copy of the event is still being handled; asked to send it again")
            return web.Response(status=503, text="in flight")
        if not handled:
            return web.Response(status=500, text="failed")   # not `ok`: VK sends it again
        return web.Response(text="ok")
