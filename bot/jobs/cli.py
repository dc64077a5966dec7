"""`python -m bot jobs run notify|settle-month|year-rollover [--at DATE]` (bot/cli.py dispatches here).

notify: fan out and deliver once through the configured platforms' senders,
built from settings without starting any long poll. settle-month --at D settles
the month before D as if it were D 00:05 in TIMEZONE; year-rollover --at D
rolls into D's year as if it were D 00:10. D may be today or a day that passed
(a run the bot missed), never a day still to come: running the future would
settle months not over and expire a year's money early. Each job prints the
same one-line summary the scheduler logs.
"""
from __future__ import annotations

import datetime as dt
import inspect
import sys
from typing import Any

from bot.config import Settings
from bot.jobs import tasks
from bot.jobs.delivery import Deliverer
from bot.runtime import AppContext, make_clock, open_database
from core.clock import Clock, FixedClock

JOBS = ("notify", "settle-month", "year-rollover")
SETTLE_AT = dt.time(0, 5)
ROLLOVER_AT = dt.time(0, 10)


def _clock(settings: Settings, now: Clock, at: dt.date | None, time: dt.time) -> Clock:
    if at is None:
        return now
    return FixedClock(dt.datetime.combine(at, time), settings.timezone)


def future_refusal(at: dt.date | None, now: Clock) -> str | None:
    """Why `--at` cannot be run (a day after today in TIMEZONE), or None."""
    if at is None or at <= now.today():
        return None
    return (f"error: --at {at.isoformat()} is after today ({now.today().isoformat()} in {now.tz.key}); "
            "a job runs for today or a day that passed, never ahead. Nothing was written.")


def build_senders(ctx: AppContext) -> dict[str, Any]:
    """The configured platforms' senders (no polling)."""
    senders: dict[str, Any] = {}
    if ctx.settings.telegram_enabled:
        from bot.handlers import telegram

        senders["telegram"] = telegram.make_sender(ctx)
    if ctx.settings.vk_enabled:
        from bot.handlers import vk

        senders["vk"] = vk.make_sender(ctx)
    if ctx.settings.max_enabled:
        from bot.handlers import max as max_adapter

        senders["max"] = max_adapter.make_sender(ctx)
    return senders


async def close_senders(senders: dict[str, Any]) -> None:
    for sender in senders.values():
        bot = getattr(sender, "bot", None)  # TelegramSender holds an aiogram Bot and its HTTP session
        session = getattr(bot, "session", None)
        if session is not None:
            result = session.close()
            if inspect.isawaitable(result):
                await result


async def run_job(name: str, at: dt.date | None, settings: Settings, clock: Clock | None = None) -> int:
    """Run one job now (`clock`: the real one unless a test injects another)."""
    if name not in JOBS:
        print(f"error: unknown job {name!r}; jobs: {', '.join(JOBS)}", file=sys.stderr)
        return 2
    now = clock or make_clock(settings)
    refusal = future_refusal(at, now)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 2
    db = await open_database(settings)
    try:
        if name == "settle-month":
            report = await tasks.run_settle_month(db, _clock(settings, now, at, SETTLE_AT))
            print(report.summary())
            return 0
        if name == "year-rollover":
            rollover_clock = _clock(settings, now, at, ROLLOVER_AT)
            print((await tasks.run_year_rollover(db, rollover_clock, rollover_clock.today().year)).summary())
            return 0
        notify_clock = _clock(settings, now, at, dt.time(12, 0))
        ctx = AppContext(settings=settings, db=db, clock=notify_clock, dialogs=None)
        ctx.senders.update(build_senders(ctx))
        try:
            report = await tasks.notify(db, notify_clock, Deliverer(db, notify_clock, ctx.senders))
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
