"""`python -m bot jobs run notify|settle-month|year-rollover [--at DATE]` (bot/cli.py dispatches here).

notify: fan out and deliver once through the configured platforms' senders,
built from settings without starting any long poll. settle-month --at D settles
the month before D as if it were D 00:05 in TIMEZONE; year-rollover --at D
rolls into D's year as if it were 1 January… D 00:10.
"""
from __future__ import annotations

import datetime as dt
import inspect
from typing import Any

from bot.config import Settings
from bot.jobs import tasks
from bot.jobs.delivery import Deliverer
from bot.runtime import AppContext, make_clock, open_database
from core.clock import Clock, FixedClock

JOBS = ("notify", "settle-month", "year-rollover")
SETTLE_AT = dt.time(0, 5)
ROLLOVER_AT = dt.time(0, 10)


def _clock(settings: Settings, at: dt.date | None, time: dt.time) -> Clock:
    if at is None:
        return make_clock(settings)
    return FixedClock(dt.datetime.combine(at, time), settings.timezone)


def build_senders(ctx: AppContext) -> dict[str, Any]:
    """The configured platforms' senders (no polling)."""
    senders: dict[str, Any] = {}
    if ctx.settings.telegram_enabled:
        from bot.handlers import telegram

        senders["telegram"] = telegram.make_sender(ctx)
    if ctx.settings.vk_enabled:
        from bot.handlers import vk

        senders["vk"] = vk.make_sender(ctx)
    return senders


async def close_senders(senders: dict[str, Any]) -> None:
    for sender in senders.values():
        bot = getattr(sender, "bot", None)  # TelegramSender holds an aiogram Bot and its HTTP session
        session = getattr(bot, "session", None)
        if session is not None:
            result = session.close()
            if inspect.isawaitable(result):
                await result


async def run_job(name: str, at: dt.date | None, settings: Settings) -> int:
    if name not in JOBS:
        print(f"error: unknown job {name!r}; jobs: {', '.join(JOBS)}")
        return 2
    db = await open_database(settings)
    try:
        if name == "settle-month":
            clock = _clock(settings, at, SETTLE_AT)
            period = await tasks.run_settle_month(db, clock)
            print(f"settle-month: {period} settled")
            return 0
        if name == "year-rollover":
            clock = _clock(settings, at, ROLLOVER_AT)
            shortfalls = await tasks.run_year_rollover(db, clock, clock.today().year)
            print(f"year-rollover: {clock.today().year} done; {shortfalls} co-payment(s) to tell parents")
            return 0
        clock = _clock(settings, at, dt.time(12, 0)) if at else make_clock(settings)
        ctx = AppContext(settings=settings, db=db, clock=clock, dialogs=None)
        ctx.senders.update(build_senders(ctx))
        try:
            report = await tasks.notify(db, clock, Deliverer(db, clock, ctx.senders))
        finally:
            await close_senders(ctx.senders)
        d = report.delivery
        platforms = ", ".join(sorted(ctx.senders)) or "none configured (alerts stay queued)"
        print(f"notify: queued {report.queued_programs} program alert(s) and {report.queued_notices} notice(s); "
              f"sent {d.sent}, failed {d.failed}, to retry {d.retried}, dropped {d.dropped} "
              f"(platforms: {platforms})")
        return 0
    finally:
        await db.dispose()
