"""Telegram sending: screens as new or edited messages, a flood limit (429) waited out for
replies, the alerts' Sender (bot/delivery.py), whose errors the delivery worker paces by, and,
with REDIS_URL, the pace every process shares (SharedPace, on the bot's session)."""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import (
    AnswerCallbackQuery,
    CopyMessage,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    EditMessageText,
    ForwardMessage,
    GetUpdates,
    SendAnimation,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SendVideo,
)
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardMarkup, Message, Update

from bot import metrics
from bot.config import TELEGRAM_OFFICIAL_API
from bot.delivery import Blocked, DeliveryError, RetryLater, TransientError
from bot.dialogs.screen import Screen
from bot.handlers.telegram_render import MAX_CAPTION, keyboard, render
from bot.jobs.shared_pacing import SharedLimiter, shared_gate
from bot.lean_aiogram import build_now
from bot.runtime import AppContext

log = logging.getLogger("bot.telegram")

PLATFORM = "telegram"
REPLY_ATTEMPTS = 3         # a reply waits out at most two flood limits …
MAX_REPLY_WAIT = 10        # … of at most this many seconds each

# What every conversation and alert uses, built before the first parent writes (bot/lean_aiogram.py).
CONVERSATION_MODELS = (Update, Message, CallbackQuery, GetUpdates, SendMessage, EditMessageText,
                       AnswerCallbackQuery, InlineKeyboardMarkup)


def short(exc: Exception) -> str:
    # Telegram's descriptions carry no personal data; keep them short anyway.
    return f"{type(exc).__name__}: {str(exc)[:120]}"


async def send_screen(bot: Bot, chat_id: int, screen: Screen, *, patient: bool = False) -> None:
    """Send a screen as new message(s). `patient` (replies in a conversation) waits out a short
    flood limit; alerts are not patient: their Sender reports RetryLater and the worker paces."""
    if screen.image and len(screen.text) <= MAX_CAPTION and os.path.isfile(screen.image):
        markup = keyboard(screen)
        send_photo = lambda: bot.send_photo(chat_id=chat_id, photo=FSInputFile(screen.image),  # noqa: E731
                                            caption=screen.text, reply_markup=markup)
        await (patiently(send_photo) if patient else send_photo())
        return
    for text, markup in render(screen):
        send = lambda t=text, m=markup: bot.send_message(chat_id=chat_id, text=t, reply_markup=m)  # noqa: E731
        await (patiently(send) if patient else send())


async def patiently(call: Callable[[], Awaitable[Any]]) -> Any:
    """Telegram allows about one message a second per chat: wait out a short 429 (bounded)."""
    for attempt in range(REPLY_ATTEMPTS):
        try:
            return await call()
        except TelegramRetryAfter as exc:
            metrics.RATE_LIMITED.labels(PLATFORM).inc()
            if attempt == REPLY_ATTEMPTS - 1 or exc.retry_after > MAX_REPLY_WAIT:
                raise
            await asyncio.sleep(exc.retry_after)
    return None  # pragma: no cover - the loop returns or raises


async def replace_screen(bot: Bot, message: Message, screen: Screen) -> None:
    """Show `screen` in place of `message` (the one whose button was pressed)."""
    if screen.image:  # a photo never replaces a text message: it comes as a new one
        await send_screen(bot, message.chat.id, screen, patient=True)
        return
    parts = render(screen)
    first_text, first_markup = parts[0]
    chat_id = message.chat.id
    try:
        await patiently(lambda: bot.edit_message_text(chat_id=chat_id, message_id=message.message_id,
                                                      text=first_text, reply_markup=first_markup))
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            # Too old, deleted, not text…: the parent still gets the screen.
            log.info("edit failed (%s), sending a new message instead", short(exc))
            await patiently(lambda: bot.send_message(chat_id=chat_id, text=first_text, reply_markup=first_markup))
    for text, markup in parts[1:]:
        await patiently(lambda t=text, m=markup: bot.send_message(chat_id=chat_id, text=t, reply_markup=m))


# --- alerts: the Sender of bot/delivery.py ----------------------------------
class TelegramSender:
    platform = PLATFORM

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        build_now(*CONVERSATION_MODELS)  # serve() makes one before serving: the warm-up for both

    async def send(self, user_id: str, screen: Screen) -> None:
        try:
            await send_screen(self.bot, int(user_id), screen)
        except TelegramRetryAfter as exc:
            metrics.RATE_LIMITED.labels(PLATFORM).inc()
            raise RetryLater(exc.retry_after) from None
        except TelegramForbiddenError:
            raise Blocked(f"telegram user {user_id} blocked the bot") from None
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise TransientError(short(exc)) from None
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message or "user is deactivated" in exc.message:
                raise Blocked(short(exc)) from None
            raise DeliveryError(short(exc)) from None
        except TelegramAPIError as exc:
            raise DeliveryError(short(exc)) from None
        except (OSError, asyncio.TimeoutError) as exc:
            raise TransientError(type(exc).__name__) from None


# --- the pace shared by every process (REDIS_URL) ----------------------------
# The calls that send or edit a message: what Telegram's 25 a second and 1 a second per chat count.
MESSAGE_WRITES = (SendMessage, SendPhoto, SendDocument, SendAnimation, SendVideo, SendMediaGroup,
                  CopyMessage, ForwardMessage, EditMessageText, EditMessageCaption, EditMessageMedia,
                  EditMessageReplyMarkup)


class SharedPace(BaseRequestMiddleware):
    """A request middleware on the bot's session: every call that sends or edits a message,
    a reply's or an alert's, first takes a slot of Telegram's pace counted in Redis with every
    other process (bot/jobs/shared_pacing.py), in the order the calls came; an alert has
    already waited for its own budget and its chat's second (AlertGate). A flood answer
    pauses Telegram for every process."""

    def __init__(self, gate: SharedLimiter) -> None:
        self.gate = gate

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        if not isinstance(method, MESSAGE_WRITES):
            return await make_request(bot, method)
        await self.gate.wait(str(getattr(method, "chat_id", None) or ""))
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as exc:
            self.gate.pause(exc.retry_after)
            raise


def make_bot(ctx: AppContext) -> Bot:
    settings = ctx.settings
    url = settings.telegram_api_url.rstrip("/")
    session = AiohttpSession()
    if url and url != TELEGRAM_OFFICIAL_API:
        session = AiohttpSession(api=TelegramAPIServer.from_base(url))
    gate = shared_gate(settings, PLATFORM)
    if gate is not None:
        session.middleware(SharedPace(gate))
    return Bot(token=settings.telegram_bot_token.get_secret_value(), session=session)
