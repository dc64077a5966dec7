"""Telegram adapter: updates → dialog inputs, screens → messages with inline keyboards.

Nothing here knows what a certificate is. A text message becomes
`Input.from_text`, a button press `Input.press(callback_data)`, each with the
update's id as its event id; the dialog's `Reply` comes back as messages: on a
press the first screen replaces the message the button was on, the rest are new
messages. Once a reply is sent, the dialogs are told (`Dialogs.replied`).

The parts: telegram_render.py (Screen → texts and keyboards), telegram_send.py
(sending, flood limits, the alerts' Sender), telegram_polling.py (long polling,
TELEGRAM_WEBHOOK_URL empty) and telegram_webhook.py (webhook mode). Here: the
dispatcher and its handlers, and serve() in either mode.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.types import BotCommand, CallbackQuery, Message, Update

from bot import in_flight, metrics
from bot.dialogs.screen import Input, Reply, Screen
from bot.handlers.telegram_polling import BACKOFF, poll, wait
from bot.handlers.telegram_send import (
    PLATFORM,
    TelegramSender,
    make_bot,
    replace_screen,
    send_screen,
    short,
)
from bot.handlers.telegram_webhook import Webhook, set_webhook_arguments
from bot.runtime import AppContext, keep_startup_objects_out_of_gc, until_stopped

log = logging.getLogger("bot.telegram")

router = Router(name="telegram")


def _error_screen() -> Screen:
    from bot.dialogs import texts

    return Screen(texts.GENERIC_ERROR)


async def _ask(dialogs: Any, user_id: int, inp: Input) -> Reply:
    try:
        return await metrics.step(PLATFORM, dialogs.handle(PLATFORM, str(user_id), inp))
    except Exception as exc:  # noqa: BLE001 - no stack trace ever reaches the chat
        log.error("dialog failed on a %s input: %s", inp.kind, type(exc).__name__,
                  exc_info=log.isEnabledFor(logging.DEBUG))
        return Reply(screens=[_error_screen()])


async def _replied(dialogs: Any, user_id: int, event_id: str) -> None:
    """The reply went out: a copy of this update delivered again gets nothing (Dialogs.replied)."""
    try:
        await dialogs.replied(PLATFORM, str(user_id), event_id)
    except Exception as exc:  # noqa: BLE001 - a copy would only see its screen again
        log.warning("marking an update answered failed: %s", type(exc).__name__)


def event_id(update: Update | None, fallback: str) -> str:
    """The event id of an input: the Telegram update id (unique per bot, the same in polling
    and webhook mode and when Telegram sends an update again)."""
    return str(update.update_id) if update is not None else fallback


# --- handlers ----------------------------------------------------------------
# Private chats only: in a group, a SNILS typed to the bot would be read by everyone.
# An async function, not a magic filter (F.chat.type == …): aiogram runs a synchronous filter
# in a worker thread (asyncio.to_thread), a hand-off that cost ~0.5 ms per message here.
async def from_a_parent_in_private(message: Message) -> bool:
    return message.chat.type == "private" and message.from_user is not None


@router.message(from_a_parent_in_private)
async def on_message(message: Message, bot: Bot, dialogs: Any, event_update: Update | None = None) -> None:
    assert message.from_user is not None
    raw = message.text if message.text is not None else (message.caption or "")
    event = event_id(event_update, f"m{message.message_id}")
    inp = Input.from_text(raw).with_event(event)
    reply = await _ask(dialogs, message.from_user.id, inp)
    for screen in reply.screens:
        await send_screen(bot, message.chat.id, screen, patient=True)
    await _replied(dialogs, message.from_user.id, event)


@router.callback_query()
async def on_callback(callback: CallbackQuery, bot: Bot, dialogs: Any, event_update: Update | None = None) -> None:
    notice: str | None = None
    try:
        event = event_id(event_update, f"c{callback.id}")
        inp = Input.press(callback.data or "").with_event(event)
        reply = await _ask(dialogs, callback.from_user.id, inp)
        notice = reply.notice
        screens = list(reply.screens)
        message = callback.message if isinstance(callback.message, Message) else None
        if screens and message is not None:
            await replace_screen(bot, message, screens.pop(0))
        for screen in screens:
            await send_screen(bot, callback.from_user.id, screen, patient=True)
        await _replied(dialogs, callback.from_user.id, event)
    finally:
        # Always answered, so the button stops spinning even if sending failed.
        try:
            await bot.answer_callback_query(callback.id, text=(notice or None) and notice[:200])
        except TelegramAPIError as exc:
            log.info("answerCallbackQuery failed: %s", short(exc))


def make_sender(ctx: AppContext) -> TelegramSender:
    return TelegramSender(make_bot(ctx))


def make_dispatcher(dialogs: Any) -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher["dialogs"] = dialogs
    # The router is module-level; a second dispatcher (tests) gets a fresh copy of it.
    dispatcher.include_router(router if router.parent_router is None else _fresh_router())
    return dispatcher


def _fresh_router() -> Router:
    fresh = Router(name="telegram")
    fresh.message.register(on_message, from_a_parent_in_private)
    fresh.callback_query.register(on_callback)
    return fresh


# --- serving -------------------------------------------------------------------
async def _prepare(bot: Bot, stop: asyncio.Event, webhook: dict[str, Any] | None, settings: Any = None) -> bool:
    """Polling: drop a webhook; webhook mode: set it (identical in every process, pending
    updates kept). Then publish the command menu and learn the bot's username (for share
    links, when TELEGRAM_BOT_USERNAME does not name it). Retried while Telegram is unreachable."""
    from bot.dialogs.engine import command_menu

    commands = [BotCommand(command=name, description=description) for name, description in command_menu()]
    attempt = 0
    while not stop.is_set():
        try:
            finished, _ = await until_stopped(stop, _setup_calls(bot, commands, webhook, settings))
            return finished
        except TelegramUnauthorizedError:
            raise RuntimeError("Telegram refused TELEGRAM_BOT_TOKEN (401 Unauthorized)") from None
        except (TelegramAPIError, OSError, asyncio.TimeoutError) as exc:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            log.warning("Telegram setup failed (%s); retrying in %ss", short(exc), delay)
            await wait(stop, delay)
    return False


async def _setup_calls(bot: Bot, commands: list[BotCommand], webhook: dict[str, Any] | None,
                       settings: Any = None) -> None:
    if webhook is None:
        await bot.delete_webhook(drop_pending_updates=False)
    else:
        await bot.set_webhook(**webhook)
    await bot.set_my_commands(commands)
    if settings is not None and not settings.telegram_bot_username:
        me = await bot.get_me()
        settings.telegram_bot_username = me.username or ""


async def serve(ctx: AppContext, stop: asyncio.Event) -> None:
    """Serve Telegram until `stop` is set (adapter contract of bot/runtime.py): long polling,
    or, with TELEGRAM_WEBHOOK_URL, the webhook route on the HTTP server."""
    problem = ctx.settings.webhook_problem()
    if problem:
        raise RuntimeError(problem)
    bot = make_bot(ctx)
    dispatcher = make_dispatcher(ctx.dialogs)
    hook = (Webhook(ctx.settings, dispatcher, bot, in_flight.for_context(ctx))
            if ctx.settings.telegram_webhook else None)
    if hook is not None:
        ctx.http_routes.append(hook.route())  # before the first await: the server starts after
    ctx.senders[PLATFORM] = TelegramSender(bot)
    try:
        if hook is None:
            if await _prepare(bot, stop, None, ctx.settings):
                keep_startup_objects_out_of_gc()  # after the warm-up (TelegramSender) and the setup calls
                log.info("Telegram: polling for updates")
                await poll(dispatcher, bot, stop)
        else:
            if await _prepare(bot, stop, set_webhook_arguments(ctx.settings), ctx.settings):
                keep_startup_objects_out_of_gc()
                log.info("Telegram: webhook set, updates come to %s", hook.path)
                await stop.wait()
            await hook.drain()
    finally:
        await bot.session.close()
        log.info("Telegram: stopped")
