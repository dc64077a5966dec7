"""MAX transport for the adapter: Bot API calls at MAX_API_URL through maxapi's connection,
MAX's request rate, retries, and MAX's errors as bot.delivery's.

maxapi (love-apples/maxapi) gives us, through public names only: the HTTP
session with the token in the `Authorization` header (`Bot`), the base URL
(`Bot.set_api_url`), the TLS trust (`DefaultConnectionProperties(connector=…)`;
by default maxapi trusts the system store plus the Минцифры root it ships),
a call by path with the raw JSON answer (`Bot.request(…, is_return_raw=True)`),
the long poll (`GetUpdates.fetch`), the file upload (`Bot.upload_file`) and its
error types. The JSON we send is built here (bot/handlers/max_keyboard.py), so
the shapes MAX documents are the ones on the wire and checked by the fake server.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from maxapi import Bot
from maxapi.client.default import DefaultConnectionProperties
from maxapi.enums.http_method import HTTPMethod
from maxapi.enums.upload_type import UploadType
from maxapi.exceptions.max import InvalidToken, MaxApiError, MaxConnection, MaxUploadFileFailed
from maxapi.methods.get_updates import GetUpdates

from bot.config import Settings
from bot.delivery import Blocked, DeliveryError, RetryLater, TransientError
from bot.jobs.pacing import Pacer
from bot.jobs.shared_pacing import SharedLimiter

log = logging.getLogger("bot.max")

REQUEST_SECONDS = 60.0       # one call, the long poll's wait included
RETRY_AFTER_429 = 1.0        # MAX's 429 names no pause: wait a second (the pacer pauses the whole bot)
NOT_READY_PAUSE = 1.0        # an uploaded picture still being processed
BLOCKED_CODES = {"chat.denied", "user.blocked", "dialog.suspended"}
BLOCKED_WORDS = ("dialog.suspended", "blocked", "chat.denied")


class TokenRefused(RuntimeError):
    """MAX answered 401: MAX_BOT_TOKEN is wrong or revoked."""


class AttachmentNotReady(TransientError):
    """MAX is still processing an uploaded picture (400 attachment.not.ready)."""


def ssl_context(ca_bundle: str) -> ssl.SSLContext:
    """The system store plus the PEM file MAX_CA_BUNDLE names (the Минцифры root)."""
    if not os.path.isfile(ca_bundle):
        raise RuntimeError(f"MAX_CA_BUNDLE: no such file: {ca_bundle}")
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=ca_bundle)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise RuntimeError(f"MAX_CA_BUNDLE: {ca_bundle} is not a PEM certificate ({type(exc).__name__})") from None
    return context


def _error_code(raw: Any) -> str:
    if isinstance(raw, dict):
        return str(raw.get("code") or raw.get("error") or "")
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return ""
        return _error_code(parsed) if isinstance(parsed, dict) else ""
    return ""


def map_error(exc: BaseException) -> BaseException:
    """A maxapi / aiohttp failure as the delivery error the senders speak."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, InvalidToken):
        return TokenRefused("MAX refused MAX_BOT_TOKEN (401 Unauthorized)")
    if isinstance(exc, MaxApiError):
        code = _error_code(exc.raw)
        words = str(exc.raw).lower()
        if exc.code == 429:
            return RetryLater(RETRY_AFTER_429)
        if exc.code == 403 and (code in BLOCKED_CODES or any(word in words for word in BLOCKED_WORDS)):
            return Blocked(f"MAX 403 {code}")
        if exc.code == 400 and "attachment.not.ready" in words:
            return AttachmentNotReady("MAX 400 attachment.not.ready")
        if exc.code >= 500:
            return TransientError(f"MAX HTTP {exc.code}")
        return DeliveryError(f"MAX HTTP {exc.code} {code}"[:60])
    if isinstance(exc, (MaxConnection, MaxUploadFileFailed, aiohttp.ClientError, asyncio.TimeoutError, OSError)):
        return TransientError(type(exc).__name__)
    return DeliveryError(type(exc).__name__)


class MaxClient:
    """Async MAX Bot API calls: a pacer slot, bounded retries of 429 and network errors."""

    def __init__(self, settings: Settings, pacer: Pacer | SharedLimiter, *, attempts: int = 4,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, backoff: float = 0.5) -> None:
        self.settings = settings
        self.pacer = pacer
        self.attempts = attempts
        self._sleep = sleep
        self.backoff = backoff
        self._ssl = ssl_context(settings.max_ca_bundle) if settings.max_ca_bundle.strip() else None
        self._bot: Bot | None = None

    @property
    def bot(self) -> Bot:
        """maxapi's Bot, made on first use (its connector needs the running loop)."""
        if self._bot is None:
            extra: dict[str, Any] = {}
            if self._ssl is not None:
                extra["connector"] = aiohttp.TCPConnector(ssl=self._ssl)
            connection = DefaultConnectionProperties(timeout=REQUEST_SECONDS, max_retries=0, **extra)
            bot = Bot(token=self.settings.max_bot_token.get_secret_value(), default_connection=connection,
                      auto_requests=False, auto_check_subscriptions=False)
            bot.set_api_url(self.settings.max_api_url.strip() or Bot.API_URL)
            self._bot = bot
        return self._bot

    async def close(self) -> None:
        if self._bot is not None:
            await self._bot.close_session()
            connector = self._bot.default_connection.kwargs.get("connector")
            if connector is not None:
                await connector.close()

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                   body: dict[str, Any] | None = None, attempts: int | None = None, chat: str = "") -> dict[str, Any]:
        """The answer's JSON, or a DeliveryError once retries are used up.

        `attempts=1` leaves retrying to the caller (the alert worker paces the
        whole platform when told RetryLater)."""
        attempts = attempts or self.attempts
        last: BaseException | None = None
        for attempt in range(attempts):
            await self.pacer.wait(chat)
            try:
                kwargs: dict[str, Any] = {"params": dict(params or {})}
                if body is not None:
                    kwargs["json"] = body
                answer = await self.bot.request(HTTPMethod(method), path, is_return_raw=True, **kwargs)
                return answer if isinstance(answer, dict) else {}
            except Exception as exc:  # noqa: BLE001 - mapped below, nothing swallowed
                last = map_error(exc)
            if isinstance(last, TokenRefused):
                raise last
            # Never the message text or names: the call and what failed.
            log.warning("MAX %s %s failed: %s (attempt %d/%d)", method, path, type(last).__name__,
                        attempt + 1, attempts)
            if isinstance(last, RetryLater):
                self.pacer.pause(last.seconds)
                delay = 0.0  # the pacer's pause is the wait
            elif isinstance(last, TransientError):
                delay = self.backoff * (2 ** attempt)
            else:
                raise last
            if attempt + 1 < attempts and delay:
                await self._sleep(delay)
        assert last is not None
        raise last

    async def updates(self, marker: int | None, timeout: int) -> dict[str, Any]:
        """One long poll (GET /updates): {"updates": [...], "marker": …}."""
        try:
            answer = await GetUpdates(self.bot, limit=100, timeout=timeout, marker=marker).fetch()
        except Exception as exc:  # noqa: BLE001 - mapped for the caller's backoff
            raise map_error(exc) from None
        return answer if isinstance(answer, dict) else {}

    async def upload_image(self, path: str, chat: str = "") -> dict[str, Any]:
        """An `image` attachment of the PNG at `path`: POST /uploads?type=image for the URL,
        the file to that URL, then the token it answers."""
        slot = await self.call("POST", "/uploads", params={"type": "image"}, chat=chat)
        url = slot.get("url")
        if not isinstance(url, str) or not url:
            raise DeliveryError("MAX /uploads gave no url")
        await self.pacer.wait(chat)
        try:
            text = await self.bot.upload_file(url=url, path=path, type=UploadType.IMAGE)
            answer = json.loads(text)
        except Exception as exc:  # noqa: BLE001 - mapped like a call's failure
            raise map_error(exc) from None
        token = _image_token(answer)
        if token is None:
            raise DeliveryError("MAX upload answered no token")
        return {"type": "image", "payload": {"token": token}}


def _image_token(answer: Any) -> str | None:
    """The token of an image upload's answer: {"photos": {"<id>": {"token": …}}} or {"token": …}."""
    if not isinstance(answer, dict):
        return None
    if isinstance(answer.get("token"), str):
        return answer["token"]
    photos = answer.get("photos")
    if isinstance(photos, dict):
        for photo in photos.values():
            if isinstance(photo, dict) and isinstance(photo.get("token"), str):
                return photo["token"]
    return None
