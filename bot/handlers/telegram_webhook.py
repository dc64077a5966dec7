"""Telegram webhook mode (TELEGRAM_WEBHOOK_URL set): Telegram POSTs each update to us.

The route is served by the one HTTP server (bot/http_server.py) on the path of
TELEGRAM_WEBHOOK_URL (its query ignored). A request without the header
X-Telegram-Bot-Api-Secret-Token equal to TELEGRAM_WEBHOOK_SECRET is refused with 401 and
touches nothing. An update is handled inside the request and answered 200 only once its
effects were committed and its reply sent; if handling or sending fails the answer is 500,
so Telegram sends the update again (the dialogs answer a copy of an update they already
answered with nothing: Dialogs.replied). A copy that comes while the first is still being
handled, here or in another process, waits for it (bot/in_flight.py) and is then answered
200 with no effect, or 503 if the first takes too long. One parent's updates are handled one
at a time, in the order they came, in this process.

On stop, requests that come after it get 503 (Telegram sends them again, to this process
once restarted or to another); those already accepted are handled and answered.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot import metrics
from bot.config import Settings
from bot.in_flight import Busy, InFlight, LocalClaims
from bot.handlers.telegram_polling import ALLOWED_UPDATES, user_of
from bot.handlers.telegram_send import PLATFORM, short

log = logging.getLogger("bot.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_CONNECTIONS = 40      # setWebhook: how many requests Telegram may have open at once
DRAIN_SECONDS = 7.0       # on stop, the requests in flight may finish within this


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


def set_webhook_arguments(settings: Settings) -> dict[str, object]:
    """What setWebhook is called with; identical in every process (none drops pending updates)."""
    return {"url": settings.telegram_webhook_url,
            "secret_token": settings.telegram_webhook_secret.get_secret_value(),
            "allowed_updates": ALLOWED_UPDATES, "max_connections": MAX_CONNECTIONS,
            "drop_pending_updates": False}


class Webhook:
    def __init__(self, settings: Settings, dispatcher: Dispatcher, bot: Bot,
                 in_flight: InFlight | None = None) -> None:
        self.path = webhook_path(settings.telegram_webhook_url)
        self._secret = settings.telegram_webhook_secret.get_secret_value().encode()
        self.dispatcher = dispatcher
        self.bot = bot
        self.claims = in_flight or InFlight(LocalClaims())
        self.stopping = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._turns: dict[int, tuple[asyncio.Lock, int]] = {}   # parent → (lock, holders)

    def route(self) -> web.RouteDef:
        return web.post(self.path, self.handle)

    def _authentic(self, request: web.Request) -> bool:
        given = request.headers.get(SECRET_HEADER)
        return given is not None and hmac.compare_digest(given.encode(), self._secret)

    async def handle(self, request: web.Request) -> web.Response:
        if not self._authentic(request):
            return web.Response(status=401, text="unauthorized")
        if self.stopping:
            return web.Response(status=503, text="stopping")
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self._handle(request)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            update = Update.model_validate(await request.json(), context={"bot": self.bot})
        except (ValueError, ValidationError):
            return web.Response(status=400, text="not an update")
        try:
            async with self.claims.claim(PLATFORM, str(update.update_id)), self._turn(user_of(update)):
                await self.dispatcher.feed_update(self.bot, update)
        except Busy:
            log.info("update %s: a copy is still being handled; asked to send it again", update.update_id)
            return web.Response(status=503, text="in flight")
        except Exception as exc:  # noqa: BLE001 - answered 500: Telegram sends it again
            metrics.UPDATES.labels(PLATFORM, "error").inc()
            log.error("update %s failed: %s", update.update_id, short(exc),
                      exc_info=log.isEnabledFor(logging.DEBUG))
            return web.Response(status=500, text="failed")
        metrics.UPDATES.labels(PLATFORM, "ok").inc()
        return web.Response(status=200)

    def _turn(self, user: int) -> "_Turn":
        return _Turn(self._turns, user)

    async def drain(self, seconds: float = DRAIN_SECONDS) -> None:
        """Refuse new updates (503) and wait, bounded, for those in flight to be answered."""
        self.stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            log.warning("Telegram: %d webhook request(s) still in flight at shutdown", self.in_flight)


class _Turn:
    """One parent's updates one at a time (in arrival order: asyncio.Lock is first come,
    first served); the lock is forgotten once nobody holds or waits for it."""

    def __init__(self, turns: dict[int, tuple[asyncio.Lock, int]], user: int) -> None:
        self.turns = turns
        self.user = user

    async def __aenter__(self) -> None:
        lock, holders = self.turns.get(self.user, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self.turns[self.user] = (lock, holders + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._forget()
            raise

    def _forget(self) -> None:
        lock, holders = self.turns[self.user]
        if holders <= 1:
            del self.turns[self.user]
        else:
            self.turns[self.user] = (lock, holders - 1)

    async def __aexit__(self, *exc: object) -> None:
        self.turns[self.user][0].release()
        self._forget()
