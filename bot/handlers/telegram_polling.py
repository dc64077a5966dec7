"""Telegram long polling (TELEGRAM_WEBHOOK_URL empty): our own getUpdates loop.

Not `Dispatcher.start_polling`: aiogram's loop confirms an update before handling it, so a
crash loses it. Ours confirms an update only after it and all older ones were handled (a
crash means redelivery, never loss), keeps polling while updates are handled (a slow one,
waiting out a flood limit say, holds up nobody else), handles one parent's updates in order
and different parents' concurrently, and stops as soon as `stop` is set, letting the updates
in flight finish.
"""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramConflictError, TelegramRetryAfter, TelegramUnauthorizedError
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot import metrics
from bot.handlers.telegram_send import PLATFORM, short
from bot.runtime import until_stopped

log = logging.getLogger("bot.telegram")

POLL_TIMEOUT = 10          # seconds a getUpdates long poll may wait
BACKOFF = (0.5, 1, 2, 5, 10)
# While updates are in flight Telegram has not been told they are done, so every getUpdates
# brings them back too (up to 100, each validated again): poll at most this often meanwhile.
# Polling at once after each answer re-read them dozens of times a second under load
# (benchmark 2: p50 1.2 s, a quarter of the CPU in validating the same updates again).
BUSY_POLL_INTERVAL = 0.1
DRAIN_SECONDS = 8.0        # on shutdown, the updates in flight may finish within this
ALLOWED_UPDATES = ["message", "callback_query"]


async def wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


def user_of(update: Update) -> int:
    for event in (update.message, update.callback_query, update.edited_message):
        if event is not None and event.from_user is not None:
            return event.from_user.id
    return 0


async def handle_batch(dispatcher: Dispatcher, bot: Bot, updates: list[Update]) -> None:
    """Each parent's updates in order; different parents side by side."""
    by_user: dict[int, list[Update]] = defaultdict(list)
    for update in updates:
        by_user[user_of(update)].append(update)

    async def one_parent(queue: list[Update]) -> None:
        for update in queue:
            await _feed(dispatcher, bot, update)

    await asyncio.gather(*(one_parent(queue) for queue in by_user.values()))


async def _feed(dispatcher: Dispatcher, bot: Bot, update: Update) -> None:
    try:
        await dispatcher.feed_update(bot, update)
    except Exception as exc:  # noqa: BLE001 - one bad update must not stop the bot
        metrics.UPDATES.labels(PLATFORM, "error").inc()
        log.error("update %s failed: %s", update.update_id, short(exc),
                  exc_info=log.isEnabledFor(logging.DEBUG))
    else:
        metrics.UPDATES.labels(PLATFORM, "ok").inc()


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
            user = user_of(update)
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
        """Wait `seconds`, or less if every update in flight is done first (the next poll may
        then wait for new ones)."""
        if self.in_flight:
            await asyncio.wait(list(self.in_flight.values()), timeout=seconds)

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
    while not stop.is_set():
        # While updates are in flight they are not confirmed yet, so Telegram answers at once
        # with them (and anything new): poll briefly, and between polls let one finish.
        request = GetUpdates(offset=pipeline.offset(), timeout=0 if pipeline.busy else POLL_TIMEOUT,
                             allowed_updates=ALLOWED_UPDATES)
        try:
            finished, updates = await until_stopped(
                stop, bot(request, request_timeout=POLL_TIMEOUT + 30))
        except TelegramUnauthorizedError:
            raise RuntimeError("Telegram refused TELEGRAM_BOT_TOKEN (401 Unauthorized)") from None
        except TelegramRetryAfter as exc:
            await wait(stop, float(exc.retry_after))
            continue
        except (TelegramAPIError, OSError, asyncio.TimeoutError) as exc:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            if isinstance(exc, TelegramConflictError):
                log.warning("another process is polling this bot; retrying in %ss", delay)
            else:
                log.warning("getUpdates failed (%s); retrying in %ss", short(exc), delay)
            await wait(stop, delay)
            continue
        if not finished:
            break
        attempt = 0
        pipeline.take(updates)
        if pipeline.busy:
            await pipeline.settle(BUSY_POLL_INTERVAL)
