"""The scheduled jobs themselves, each idempotent (the truth is in our tables):

notify          fan new programs out, queue waiting-list and co-payment notices,
                deliver what is due;
settle-month    settle the previous month (1st, 00:05);
year-rollover   expire, credit, renew, queue the co-payment notices (1 January, 00:10);
year-end        remind parents with free money left (1 and 20 December);
hold-expiry     pass seats held longer than 24 hours to the next in line (every few
                minutes, in batches of core.waitlist.EXPIRY_BATCH per transaction);
                the three calendar jobs run in batches (core/calendar_jobs.py): the bot
                answers between them, and a crash resumes after the last batch;
catch_up        at start-up: each calendar job whose period passed while the bot
                was down runs once, not once per missed tick.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

from bot.jobs.delivery import Deliverer, DeliveryReport
from core import calendar_jobs, handled_updates, outbox, waitlist
from core.calendar_jobs import SettleMonthReport, YearEndReport, YearRolloverReport
from core.clock import Clock
from core.db import Database
from core.settlement import SETTLE_MONTH, YEAR_ROLLOVER, job_done, month_period, previous_month

log = logging.getLogger("bot.jobs")

YEAR_END = calendar_jobs.YEAR_END
YEAR_END_DAYS = (1, 20)  # of December


@dataclass
class NotifyReport:
    queued_programs: int = 0
    queued_notices: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)


async def enqueue(db: Database, clock: Clock) -> NotifyReport:
    report = NotifyReport()
    async with db.write() as session:
        fan = await outbox.fan_out(session, clock)
        report.queued_programs = fan.queued
        report.queued_notices += await outbox.enqueue_waitlist_offers(session, clock)
        report.queued_notices += await outbox.enqueue_copay_notices(session, clock)
    return report


async def notify(db: Database, clock: Clock, deliverer: Deliverer, max_seconds: float = 600.0) -> NotifyReport:
    report = await enqueue(db, clock)
    report.delivery = await deliverer.run(max_seconds=max_seconds)
    d = report.delivery
    if report.queued_programs or report.queued_notices or d.sent or d.failed or d.retried:
        log.info("notify: queued %d program alert(s) and %d notice(s); sent %d, failed %d, retrying %d",
                 report.queued_programs, report.queued_notices, d.sent, d.failed, d.retried)
    return report


async def run_settle_month(db: Database, clock: Clock, day: dt.date | None = None) -> SettleMonthReport:
    """Settle the month before `day` (default today), in batches; logs the job's summary."""
    year, month = previous_month(day or clock.today())
    report = await calendar_jobs.settle_month(db, year, month, clock)
    log.info("%s", report.summary())
    return report


async def run_year_rollover(db: Database, clock: Clock, year: int | None = None) -> YearRolloverReport:
    """The rollover into `year` (default this year), in batches, each queuing its own
    co-payment notices; logs the job's summary."""
    report = await calendar_jobs.year_rollover(db, year or clock.today().year, clock)
    log.info("%s", report.summary())
    return report


def year_end_day(today: dt.date) -> dt.date | None:
    """The latest reminder day of December on or before `today` (None outside December)."""
    if today.month != 12:
        return None
    days = [d for d in YEAR_END_DAYS if d <= today.day]
    return dt.date(today.year, 12, days[-1]) if days else None


async def run_year_end(db: Database, clock: Clock, day: dt.date | None = None) -> YearEndReport | None:
    """Queue the year-end reminders of `day` (default: today's reminder day), once, in batches
    of parents; None outside December's reminder days."""
    day = day or year_end_day(clock.today())
    if day is None:
        return None
    report = await calendar_jobs.year_end_reminders(db, day, clock)
    if not report.already_done:
        log.info("%s", report.summary())
    return report


async def run_expire_holds(db: Database, clock: Clock, batch: int = waitlist.EXPIRY_BATCH) -> waitlist.HoldReport:
    """Pass every run-out hold to the next in line, `batch` per transaction (each one commits,
    so a crash mid-way resumes where it stopped; other updates run between batches), then hold
    the seats still free on programs with a waiting line, and queue the offers' messages."""
    report = waitlist.HoldReport()
    queued = 0
    while True:
        async with db.write() as session:
            done = await waitlist.expire_holds(session, clock, batch)
            queued += await outbox.enqueue_waitlist_offers(session, clock)
        report.add(done)
        if done.expired < batch:
            break
        await asyncio.sleep(0)
    while True:
        async with db.write() as session:
            offered = await waitlist.offer_waiting(session, clock, batch)
            queued += await outbox.enqueue_waitlist_offers(session, clock)
        report.offered += offered
        if offered == 0:
            break
        await asyncio.sleep(0)
    if report.expired or report.offered:
        log.info("hold-expiry: %d hold(s) run out; %d seat(s) held for the next in line; %d notice(s) queued",
                 report.expired, report.offered, queued)
    return report


@dataclass
class CatchUp:
    settled: str | None = None
    rolled_over: int | None = None
    reminded: str | None = None
    holds: waitlist.HoldReport | None = None   # set when a hold ran out or a seat was held


async def catch_up(db: Database, clock: Clock) -> CatchUp:
    """Run once what was missed while the bot was down (coalesced: the latest period only;
    settling a month also settles every older open month)."""
    done = CatchUp()
    today = clock.today()
    year, month = previous_month(today)
    async with db.read() as session:
        rolled = await job_done(session, YEAR_ROLLOVER, str(today.year))
        settled = await job_done(session, SETTLE_MONTH, month_period(year, month))
        reminder = year_end_day(today)
        reminded = reminder is None or await job_done(session, YEAR_END, reminder.isoformat())
    if not rolled:
        await run_year_rollover(db, clock, today.year)
        done.rolled_over = today.year
    if not settled:
        done.settled = (await run_settle_month(db, clock, today)).period
    if not reminded and reminder is not None:
        await run_year_end(db, clock, reminder)
        done.reminded = reminder.isoformat()
    holds = await run_expire_holds(db, clock)
    if holds.expired or holds.offered:
        done.holds = holds
    return done


async def prune_handled(db: Database, clock: Clock) -> int:
    """Forget the ids of platform events handled more than two days ago."""
    async with db.write() as session:
        pruned = await handled_updates.prune(session, clock.now())
    if pruned:
        log.info("prune: forgot %d handled update id(s)", pruned)
    return pruned
