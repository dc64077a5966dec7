"""Telegram adapter: updates → dialog inputs, screens → messages with inline keyboards.

Nothing here knows what a certificate is. A text message becomes
`Input.from_text`, a button press `Input.press(callback_data)`; the dialog's
`Reply` comes back as messages: on a press the first screen replaces the
message the button was on, the rest are new messages.

Polling is our own loop rather than `Dispatcher.start_polling`: aiogram's
loop confirms an update before handling it, so a crash loses it. Ours
confirms an update only after it and all older ones were handled (a crash
means redelivery, never loss), keeps polling while updates are handled (a
slow one, waiting out a flood limit say, holds up nobody else), handles one
parent's updates in order and different parents' concurrently, and stops as
soon as `stop` is set, letting the updates in flight finish.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from bot.lean_aiogram import build_now, defer_schemas

defer_schemas()  # before aiogram's first import: its models build on first use (memory)

from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetUpdates, SendMessage  # noqa: E402
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)

from bot.config import TELEGRAM_OFFICIAL_API
from bot.delivery import Blocked, DeliveryError, RetryLater, TransientError
from bot.dialogs.screen import Input, Reply, Screen
from bot.runtime import AppContext, keep_startup_objects_out_of_gc, until_stopped

log = logging.getLogger("bot.telegram")

PLATFORM = "telegram"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
POLL_TIMEOUT = 10          # seconds a getUpdates long poll may wait
REPLY_ATTEMPTS = 3         # a reply waits out at most two flood limits …
MAX_REPLY_WAIT = 10        # … of at most this many seconds each
BACKOFF = (0.5, 1, 2, 5, 10)
BUSY_POLL_PAUSE = 0.01     # between polls while updates are in flight and nothing new came
DRAIN_SECONDS = 15.0       # on shutdown, the updates in flight may finish within this

router = Router(name="telegram")
# What every conversation and alert uses, built before the first parent writes (bot/lean_aiogram.py).
CONVERSATION_MODELS = (Update, Message, CallbackQuery, GetUpdates, SendMessage, EditMessageText,
                       AnswerCallbackQuery, InlineKeyboardMarkup)


# --- rendering: Screen → Telegram ------------------------------------------
def keyboard(screen: Screen) -> InlineKeyboardMarkup | None:
    if not screen.rows:
        return None
    rows = []
    for row in screen.rows:
        buttons = []
        for button in row:
            if len(button.action.encode()) > MAX_CALLBACK_DATA:  # Button already refuses > 60
                raise ValueError(f"callback_data over {MAX_CALLBACK_DATA} bytes")
            # model_construct: the Screen's buttons are checked already; pydantic validation of
            # each button was a tenth of a dialog step's time.
            buttons.append(InlineKeyboardButton.model_construct(text=button.label, callback_data=button.action))
        rows.append(buttons)
    return InlineKeyboardMarkup.model_construct(inline_keyboard=rows)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` characters, cut at line ends where possible."""
    if not text.strip():
        text = "…"  # Telegram refuses an empty message
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:  # a single line longer than a message: cut it hard
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    cleaned = [part.rstrip("\n") for part in parts]
    return [part for part in cleaned if part.strip()] or ["…"]


def render(screen: Screen) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """The messages for one screen; the keyboard rides on the last one."""
    parts = split_text(screen.text)
    markup = keyboard(screen)
    return [(part, markup if i == len(parts) - 1 else None) for i, part in enumerate(parts)]


async def send_screen(bot: Bot, chat_id: int, screen: Screen, *, patient: bool = False) -> None:
    """Send a screen as new message(s). `patient` (replies in a conversation) waits out a short
    flood limit; alerts are not patient: their Sender reports RetryLater and the worker paces."""
    if screen.image and len(screen.text) <= MAX_CAPTION and os.path.isfile(screen.image):
        markup = keyboard(screen)
        send_photo = lambda: bot.send_photo(chat_id=chat_id, photo=FSInputFile(screen.image),  # noqa: E731
                                            caption=screen.text, reply_markup=markup)
        await (_patiently(send_photo) if patient else send_photo())
        return
    for text, markup in render(screen):
        send = lambda t=text, m=markup: bot.send_message(chat_id=chat_id, text=t, reply_markup=m)  # noqa: E731
        await (_patiently(send) if patient else send())


async def _patiently(call: Callable[[], Awaitable[Any]]) -> Any:
    """Telegram allows about one message a second per chat: wait out a short 429 (bounded)."""
    for attempt in range(REPLY_ATTEMPTS):
        try:
            return await call()
        except TelegramRetryAfter as exc:
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
        await _patiently(lambda: bot.edit_message_text(chat_id=chat_id, message_id=message.message_id,
                                                       text=first_text, reply_markup=first_markup))
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            # Too old, deleted, not text…: the parent still gets the screen.
            log.info("edit failed (%s), sending a new message instead", _short(exc))
            await _patiently(lambda: bot.send_message(chat_id=chat_id, text=first_text, reply_markup=first_markup))
    for text, markup in parts[1:]:
        await _patiently(lambda t=text, m=markup: bot.send_message(chat_id=chat_id, text=t, reply_markup=m))


def _short(exc: Exception) -> str:
    # Telegram's descriptions carry no personal data; keep them short anyway.
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def _error_screen() -> Screen:
    from bot.dialogs import texts

    return Screen(texts.GENERIC_ERROR)


async def _ask(dialogs: Any, user_id: int, inp: Input) -> Reply:
    try:
        return await dialogs.handle(PLATFORM, str(user_id), inp)
    except Exception as exc:  # noqa: BLE001 - no stack trace ever reaches the chat
        log.error("dialog failed on a %s input: %s", inp.kind, type(exc).__name__,
                  exc_info=log.isEnabledFor(logging.DEBUG))
        return Reply(screens=[_error_screen()])


async def _replied(dialogs: Any, user_id: int, inp: Input) -> None:
    """The answer went out: a copy of this update delivered again gets none (issue 15)."""
    try:
        await dialogs.replied(PLATFORM, str(user_id), inp.event_id)
    except Exception as exc:  # noqa: BLE001 - a copy would only see its screen again
        log.warning("marking an update answered failed: %s", type(exc).__name__)


# --- handlers ----------------------------------------------------------------
# Private chats only: in a group, a SNILS typed to the bot would be read by everyone.
# An async function, not a magic filter (F.chat.type == …): aiogram runs a synchronous filter
# in a worker thread (asyncio.to_thread), a hand-off that cost ~0.5 ms per message here.
async def from_a_parent_in_private(message: Message) -> bool:
    return message.chat.type == "private" and message.from_user is not None


@router.message(from_a_parent_in_private)
async def on_message(message: Message, bot: Bot, dialogs: Any) -> None:
    assert message.from_user is not None
    raw = message.text if message.text is not None else (message.caption or "")
    inp = Input.from_text(raw).with_event(f"m{message.message_id}")
    reply = await _ask(dialogs, message.from_user.id, inp)
    for screen in reply.screens:
        await send_screen(bot, message.chat.id, screen, patient=True)
    await _replied(dialogs, message.from_user.id, inp)


@router.callback_query()
async def on_callback(callback: CallbackQuery, bot: Bot, dialogs: Any) -> None:
    notice: str | None = None
    try:
        inp = Input.press(callback.data or "").with_event(f"c{callback.id}")
        reply = await _ask(dialogs, callback.from_user.id, inp)
        notice = reply.notice
        screens = list(reply.screens)
        message = callback.message if isinstance(callback.message, Message) else None
        if screens and message is not None:
            await replace_screen(bot, message, screens.pop(0))
        for screen in screens:
            await send_screen(bot, callback.from_user.id, screen, patient=True)
        await _replied(dialogs, callback.from_user.id, inp)
    finally:
        # Always answered, so the button stops spinning even if sending failed.
        try:
            await bot.answer_callback_query(callback.id, text=(notice or None) and notice[:200])
        except TelegramAPIError as exc:
            log.info("answerCallbackQuery failed: %s", _short(exc))


# --- alerts: the Sender of bot/delivery.py ----------------------------------
class TelegramSender:
    platform = PLATFORM

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        build_now(*CONVERSATION_MODELS)  # serve() makes one before polling: the warm-up for both

    async def send(self, user_id: str, screen: Screen) -> None:
        try:
            await send_screen(self.bot, int(user_id), screen)
        except TelegramRetryAfter as exc:
            raise RetryLater(exc.retry_after) from None
        except TelegramForbiddenError:
            raise Blocked(f"telegram user {user_id} blocked the bot") from None
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise TransientError(_short(exc)) from None
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message or "user is deactivated" in exc.message:
                raise Blocked(_short(exc)) from None
            raise DeliveryError(_short(exc)) from None
        except TelegramAPIError as exc:
            raise DeliveryError(_short(exc)) from None
        except (OSError, asyncio.TimeoutError) as exc:
            raise TransientError(type(exc).__name__) from None


def make_bot(ctx: AppContext) -> Bot:
    settings = ctx.settings
    url = settings.telegram_api_url.rstrip("/")
    session = AiohttpSession()
    if url and url != TELEGRAM_OFFICIAL_API:
        session = AiohttpSession(api=TelegramAPIServer.from_base(url))
    return Bot(token=settings.telegram_bot_token.get_secret_value(), session=session)


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
async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


async def _prepare(bot: Bot, stop: asyncio.Event) -> bool:
    """Drop a webhook and publish the command menu, retrying while Telegram is unreachable."""
    from bot.dialogs.engine import command_menu

    commands = [BotCommand(command=name, description=description) for name, description in command_menu()]
    attempt = 0
    while not stop.is_set():
        try:
            finished, _ = await until_stopped(stop, _setup_calls(bot, commands))
            return finished
        except TelegramUnauthorizedError:
            raise RuntimeError("Telegram refused TELEGRAM_BOT_TOKEN (401 Unauthorized)") from None
        except (TelegramAPIError, OSError, asyncio.TimeoutError) as exc:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            log.warning("Telegram setup failed (%s); retrying in %ss", _short(exc), delay)
            await _wait(stop, delay)
    return False


async def _setup_calls(bot: Bot, commands: list[BotCommand]) -> None:
    await bot.delete_webhook(drop_pending_updates=False)
    await bot.set_my_commands(commands)


def _user_of(update: Update) -> int:
    for event in (update.message, update.callback_query, update.edited_message):
        if event is not None and event.from_user is not None:
            return event.from_user.id
    return 0


async def handle_batch(dispatcher: Dispatcher, bot: Bot, updates: list[Update]) -> None:
    """Each parent's updates in order; different parents side by side."""
    by_user: dict[int, list[Update]] = defaultdict(list)
    for update in updates:
        by_user[_user_of(update)].append(update)

    async def one_parent(queue: list[Update]) -> None:
        for update in queue:
            await _feed(dispatcher, bot, update)

    await asyncio.gather(*(one_parent(queue) for queue in by_user.values()))


async def _feed(dispatcher: Dispatcher, bot: Bot, update: Update) -> None:
    try:
        await dispatcher.feed_update(bot, update)
    except Exception as exc:  # noqa: BLE001 - one bad update must not stop the bot
        log.error("update %s failed: %s", update.update_id, _short(exc),
                  exc_info=log.isEnabledFor(logging.DEBUG))


class Pipeline:
    """Updates are handled as they arrive, while polling goes on: one parent's in the order
    they came, different parents' side by side. Telegram is told an update is done (the
    getUpdates offset) only once it and every older one were handled, so a crash means
    redelivery, never loss (the dialogs skip an event they already handled)."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.in_flight: dict[int, asyncio.Task[None]] = {}      # update_id → its task
        self._last_of: dict[int, asyncio.Task[None]] = {}       # user → their newest task
        self._newest: int | None = None                          # newest update_id taken

    @property
    def busy(self) -> bool:
        return bool(self.in_flight)

    def offset(self) -> int | None:
        """Where the next getUpdates starts: the oldest update still being handled."""
        if self.in_flight:
            return min(self.in_flight)
        return None if self._newest is None else self._newest + 1

    def take(self, updates: list[Update]) -> int:
        """Start handling the updates not seen before; how many there were."""
        fresh = 0
        for update in updates:
            if self._newest is not None and update.update_id <= self._newest:
                continue  # in flight, or handled but not yet confirmed
            self._newest = update.update_id
            fresh += 1
            user = _user_of(update)
            task = asyncio.create_task(self._handle(update, self._last_of.get(user)))
            self.in_flight[update.update_id] = task
            self._last_of[user] = task
            task.add_done_callback(lambda t, uid=update.update_id, u=user: self._done(uid, u, t))
        return fresh

    async def _handle(self, update: Update, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait([before])  # the same parent's previous update first
        await _feed(self.dispatcher, self.bot, update)

    def _done(self, update_id: int, user: int, task: asyncio.Task[None]) -> None:
        self.in_flight.pop(update_id, None)
        if self._last_of.get(user) is task:
            del self._last_of[user]

    async def settle(self, seconds: float) -> None:
        """Wait until an update in flight is done, at most `seconds`."""
        if self.in_flight:
            await asyncio.wait(list(self.in_flight.values()), timeout=seconds,
                               return_when=asyncio.FIRST_COMPLETED)

    async def drain(self, seconds: float) -> None:
        """On shutdown: let the updates in flight finish (bounded), then cancel the rest."""
        if self.in_flight:
            await asyncio.wait(list(self.in_flight.values()), timeout=seconds)
        for task in list(self.in_flight.values()):
            task.cancel()


async def poll(dispatcher: Dispatcher, bot: Bot, stop: asyncio.Event) -> None:
    pipeline = Pipeline(dispatcher, bot)
    try:
        await _poll(pipeline, bot, stop)
    finally:
        await pipeline.drain(DRAIN_SECONDS)


async def _poll(pipeline: Pipeline, bot: Bot, stop: asyncio.Event) -> None:
    attempt = 0
    allowed = ["message", "callback_query"]
    while not stop.is_set():
        # While updates are in flight they are not confirmed yet, so Telegram answers at once
        # with them (and anything new): poll briefly, and between polls let one finish.
        request = GetUpdates(offset=pipeline.offset(), timeout=0 if pipeline.busy else POLL_TIMEOUT,
                             allowed_updates=allowed)
        try:
            finished, updates = await until_stopped(
                stop, bot(request, request_timeout=POLL_TIMEOUT + 30))
        except TelegramUnauthorizedError:
            raise RuntimeError("Telegram refused TELEGRAM_BOT_TOKEN (401 Unauthorized)") from None
        except TelegramRetryAfter as exc:
            await _wait(stop, float(exc.retry_after))
            continue
        except (TelegramAPIError, OSError, asyncio.TimeoutError) as exc:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            if isinstance(exc, TelegramConflictError):
                log.warning("another process is polling this bot; retrying in %ss", delay)
            else:
                log.warning("getUpdates failed (%s); retrying in %ss", _short(exc), delay)
            await _wait(stop, delay)
            continue
        if not finished:
            break
        attempt = 0
        if not pipeline.take(updates) and pipeline.busy:
            await pipeline.settle(BUSY_POLL_PAUSE)


async def serve(ctx: AppContext, stop: asyncio.Event) -> None:
    """Serve Telegram until `stop` is set (adapter contract of bot/runtime.py)."""
    bot = make_bot(ctx)
    ctx.senders[PLATFORM] = TelegramSender(bot)
    dispatcher = make_dispatcher(ctx.dialogs)
    try:
        if await _prepare(bot, stop):
            keep_startup_objects_out_of_gc()  # after the warm-up (TelegramSender) and the setup calls
            log.info("Telegram: polling for updates")
            await poll(dispatcher, bot, stop)
    finally:
        await bot.session.close()
        log.info("Telegram: stopped")
