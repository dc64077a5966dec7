"""SPEC §1 the calendar (settlement on the 1st, rollover on 1 January, year-end
reminders) as scheduled jobs: idempotent, and a missed period runs once at start."""
from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select

from bot.config import Settings
from bot.jobs import cli, tasks
from bot.dialogs import texts as job_texts
from bot.jobs.delivery import Deliverer
from bot.runtime import AppContext
from core import enrollment, outbox
from core.clock import FixedClock
from core.db import Database
from core.models import Charge, JobRun, LedgerEntry, LedgerKind, Parent
from core.settlement import SETTLE_MONTH, YEAR_ROLLOVER
from tests import factories
from tests.unit.test_jobs_delivery import FakeSender, FakeTime


async def funded_child(db, clock, *, price_rub: int = 3000, external_id: str = "77"):
    """A parent (telegram) whose child is enrolled in a certificate program: money left."""
    async with db.write() as session:
        await factories.nominal(session, 2026, rubles=12000)
        parent = await factories.parent(session, clock, external_id, platform="telegram")
        child = await factories.child(session, parent, clock)
        program = await factories.program(session, clock, price_rub=price_rub)
        result = await enrollment.enroll(session, parent, child.id, program.id, clock)
        return parent, result


async def job_runs(db) -> set[tuple[str, str]]:
    async with db.read() as session:
        return {(r.job, r.period) for r in (await session.execute(select(JobRun))).scalars()}


async def ledger(db, kind: LedgerKind) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(LedgerEntry)
                                      .where(LedgerEntry.kind == kind))).scalar_one()


async def test_catch_up_runs_each_missed_period_once(db):
    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    await funded_child(db, clock)                        # reserves November and December
    clock.set(dt.datetime(2027, 2, 3, 9, 0))             # the bot was down over 1 January and 1 February
    done = await tasks.catch_up(db, clock)
    assert done.rolled_over == 2027 and done.settled == "2027-01"
    assert {(YEAR_ROLLOVER, "2027"), (SETTLE_MONTH, "2027-01")} <= await job_runs(db)
    settled, expired = await ledger(db, LedgerKind.SETTLE), await ledger(db, LedgerKind.EXPIRE)
    assert settled >= 2 and expired == 1                 # Nov+Dec 2026 (+ Jan 2027) spent; 2026's rest expired
    again = await tasks.catch_up(db, clock)              # a second start changes nothing
    assert again == tasks.CatchUp()
    assert (await ledger(db, LedgerKind.SETTLE), await ledger(db, LedgerKind.EXPIRE)) == (settled, expired)


async def test_settle_month_settles_the_month_before_and_twice_changes_nothing(db):
    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    await funded_child(db, clock)
    clock.set(dt.datetime(2026, 12, 1, 0, 5))
    first = await tasks.run_settle_month(db, clock)
    assert (first.period, first.settled, first.already_done) == ("2026-11", 1, False)
    assert await ledger(db, LedgerKind.SETTLE) == 1
    again = await tasks.run_settle_month(db, clock)
    assert (again.period, again.settled, again.already_done) == ("2026-11", 0, True)
    assert await ledger(db, LedgerKind.SETTLE) == 1


async def test_a_renewal_shortfall_is_told_to_the_parent_once(db):
    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    parent, result = await funded_child(db, clock, price_rub=3000)
    async with db.write() as session:
        await factories.nominal(session, 2027, rubles=6000)   # Jan–May 2027 costs 15 000 ₽
    clock.set(dt.datetime(2027, 1, 1, 0, 10))
    assert (await tasks.run_year_rollover(db, clock)).shortfalls == 1
    assert (await tasks.run_year_rollover(db, clock)).shortfalls == 0   # idempotent: no new shortfall
    time = FakeTime()
    telegram = FakeSender("telegram", time)
    report = await tasks.notify(db, clock, Deliverer(db, clock, {"telegram": telegram},
                                                     monotonic=time.clock, sleep=time.sleep))
    assert report.delivery.sent == 1
    [(user, _, screen)] = telegram.sent
    assert user == parent.external_id
    assert "9\u00a0000\u00a0₽" in screen.text and "2027" in screen.text    # 15 000 − 6 000 to co-pay
    async with db.read() as session:
        [charge] = (await session.execute(select(Charge).where(Charge.year == 2027))).scalars().all()
        assert charge.notified_at is not None
    await tasks.notify(db, clock, Deliverer(db, clock, {"telegram": telegram}, monotonic=time.clock,
                                            sleep=time.sleep))
    assert len(telegram.sent) == 1


async def test_new_enrollment_with_copay_queues_no_new_year_notice(db):
    """The parent saw today's co-payment before confirming; "С 1 января продлена запись"
    is only for the year rollover's renewals."""
    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    _, result = await funded_child(db, clock, price_rub=9000)   # Nov + Dec: 18 000 ₽, 12 000 covered
    assert result.quote.copay == 6000_00
    report = await tasks.enqueue(db, clock)
    async with db.read() as session:
        pending = (await session.execute(select(func.count()).select_from(outbox.Outbox))).scalar_one()
        [charge] = (await session.execute(select(Charge))).scalars().all()
    assert report.queued_notices == 0 and pending == 0
    assert charge.renewal is False and charge.notified_at is None and charge.copay == 6000_00
    # The same enrollment continuing into 2027 with too little money is told on 1 January.
    async with db.write() as session:
        await factories.nominal(session, 2027, rubles=6000)
    clock.set(dt.datetime(2027, 1, 1, 0, 10))
    report = await tasks.run_year_rollover(db, clock)
    assert (report.shortfalls, report.notices) == (1, 1)
    async with db.read() as session:
        rows = (await session.execute(select(outbox.Outbox.kind, outbox.Outbox.ref_id))).all()
        renewal = (await session.execute(select(Charge).where(Charge.year == 2027))).scalar_one()
    assert renewal.renewal is True and rows == [(outbox.COPAY, renewal.id)]


async def test_year_end_reminders_go_on_1_and_20_december_once_each(db):
    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    parent, _ = await funded_child(db, clock)
    async with db.write() as session:
        await factories.parent(session, clock, "88", platform="telegram")   # no certificate: no reminder
    assert await tasks.run_year_end(db, clock) is None                       # November: none
    clock.set(dt.datetime(2026, 12, 1, 10, 0))
    assert (await tasks.run_year_end(db, clock)).notices == 1
    assert (await tasks.run_year_end(db, clock)).already_done
    clock.set(dt.datetime(2026, 12, 25, 10, 0))                               # down on the 20th
    assert (await tasks.catch_up(db, clock)).reminded == "2026-12-20"
    assert (await tasks.catch_up(db, clock)).reminded is None
    time = FakeTime()
    telegram = FakeSender("telegram", time)
    await Deliverer(db, clock, {"telegram": telegram}, monotonic=time.clock, sleep=time.sleep).run()
    assert [u for u, _, _ in telegram.sent] == [parent.external_id] * 2
    text = telegram.sent[0][2].text
    assert job_texts.YEAR_END_TITLE in text and "31 декабря" in text and "6\u00a0000\u00a0₽" in text
    assert "Пётр" in text


def settings_for(tmp_path, **extra) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3", **extra)


async def test_the_scheduler_starts_with_the_calendar_and_catches_up_at_start(db):
    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    settings = Settings(_env_file=None, notify_interval_seconds=1)
    ctx = AppContext(settings=settings, db=db, clock=clock, dialogs=None)
    from bot.jobs import scheduler

    jobs = await scheduler.start(ctx)
    try:
        assert {job.id for job in jobs.scheduler.get_jobs()} >= {"notify", "settle-month", "year-rollover",
                                                                 "year-end"}
        settle = jobs.scheduler.get_job("settle-month").next_run_time
        assert (settle.day, settle.hour, settle.minute) == (1, 0, 5)
        rollover = jobs.scheduler.get_job("year-rollover").next_run_time
        assert (rollover.month, rollover.day, rollover.hour, rollover.minute) == (1, 1, 0, 10)
        for _ in range(100):                             # the catch-up runs right away (bounded wait)
            if (SETTLE_MONTH, "2026-10") in await job_runs(db):
                break
            await asyncio.sleep(0.05)
        assert {(SETTLE_MONTH, "2026-10"), (YEAR_ROLLOVER, "2026")} <= await job_runs(db)
    finally:
        await jobs.shutdown()
    assert not jobs.scheduler.running
