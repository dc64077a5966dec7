"""MAX updates by webhook (production): the route the bot's HTTP server serves.

With MAX_WEBHOOK_URL set, the adapter subscribes that URL (POST /subscriptions
with the update types and MAX_WEBHOOK_SECRET) and MAX POSTs each update to it
with the secret in the `X-Max-Bot-Api-Secret` header. The route answers 403 to
a request without the right secret (nothing is handled), 400 to a body that is
not an update, 200 once the update was handled, and 500 if handling or answering
it failed (MAX re-sends an update that got no 200; the dialogs recognise an event
they already answered). A copy that comes while the first is still being handled,
here or in another process, waits for it (bot/in_flight.py) and is answered 200
with no effect, or 503 if the first takes too long.

The route is served by the one HTTP server (bot/http_server.py, issue 15) on
HTTP_HOST:HTTP_PORT at the path of MAX_WEBHOOK_URL (its query ignored).
"""
from __future__ import annotations

import hmac
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.config import Settings
from bot.in_flight import Busy, InFlight, LocalClaims
from bot.runtime import AppContext

if TYPE_CHECKING:
    from bot.handlers.max import MaxAdapter

log = logging.getLogger("bot.max")

SECRET_HEADER = "X-Max-Bot-Api-Secret"
MAX_BODY_BYTES = 1_000_000


def check_settings(settings: Settings) -> None:
    """A webhook needs an https URL with a path and a secret (else anyone could post updates)."""
    url = urlsplit(settings.max_webhook_url)
    if url.scheme not in ("https", "http") or not url.netloc:
        raise RuntimeError(f"MAX_WEBHOOK_URL must be a full https:// URL, got {settings.max_webhook_url!r}")
    if not settings.max_webhook_secret.get_secret_value():
        raise RuntimeError("MAX_WEBHOOK_URL is set but MAX_WEBHOOK_SECRET is empty: set a secret "
                           "(5-256 characters of A-Z, a-z, 0-9, _ and -)")


def path_of(settings: Settings) -> str:
    return urlsplit(settings.max_webhook_url).path or "/"


def route(adapter: "MaxAdapter", settings: Settings, in_flight: InFlight | None = None) -> web.RouteDef:
    from bot.handlers.max import event_id   # the adapter imports this module

    secret = settings.max_webhook_secret.get_secret_value().encode()
    claims = in_flight or InFlight(LocalClaims())

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, secret):
            log.warning("MAX webhook: a request without the right secret was refused")
            return web.json_response({"success": False, "message": "forbidden"}, status=403)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.json_response({"success": False, "message": "too large"}, status=413)
        try:
            raw: Any = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"success": False, "message": "not JSON"}, status=400)
        if not isinstance(raw, dict) or not isinstance(raw.get("update_type"), str):
            return web.json_response({"success": False, "message": "not an update"}, status=400)
        try:
            async with claims.claim("max", event_id(raw)):
                handled = await adapter.handle_in_order(raw)
        except Busy:
            log.info("MAX webhook: a copy of the update is still being handled; asked to send it again")
            return web.json_response({"success": False, "message": "in flight"}, status=503)
        if not handled:
            return web.json_response({"success": False, "message": "failed"}, status=500)
        return web.json_response({"success": True})

    return web.post(path_of(settings), receive)
