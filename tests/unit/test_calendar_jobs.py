"""SPEC §1 the calendar at a region's scale, and SPEC §2 `jobs run … --at`: settlement, the
year rollover and the year-end reminders run in batches (each its own transaction), let other
updates through between them, resume after a crash without doing anything twice, and cannot
be run for a day still to come."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.jobs import cli, tasks
from core import calendar_jobs
from core.clock import FixedClock
from core.db import Database
from core.enrollment import enroll
from core.models import Charge, JobProgress, JobRun, LedgerEntry, Parent
from core.outbox import Outbox
from core.settlement import SETTLE_MONTH, YEAR_ROLLOVER
from tests import factories as f

CHILDREN = 7


class Crash(Exception):
    """The process dying between two batches."""


async def families(db, clock, count: int = CHILDREN) -> None:
    """`count` telegram parents, each child enrolled in a program continuing into 2027 (November
    and December reserved, money left to expire); 2027's nominal leaves every third short."""
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        await f.nominal(s, 2027, rubles=10000)
        cheap = await f.program(s, clock, price_rub=1000, seats=100)
        dear = await f.program(s, clock, price_rub=3000, seats=100, title="Шахматы")
        for n in range(count):
            parent = await f.parent(s, clock, f"p{n}", platform="telegram")
            child = await f.child(s, parent, clock, snils=f.snils_for(5000 + n))
            await enroll(s, parent, child.id, (dear if n % 3 == 0 else cheap).id, clock)


async def ledger(db) -> list[tuple]:
    async with db.read() as s:
        rows = (await s.execute(select(LedgerEntry.certificate_id, LedgerEntry.kind, LedgerEntry.amount,
                                       LedgerEntry.year, LedgerEntry.month, LedgerEntry.enrollment_id))).all()
    return sorted((tuple(str(v) for v in row) for row in rows))


async def count(db, model, *where) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


def crash_after(batch: int):
    async def hook(done: int) -> None:
        if done == batch:
            raise Crash()
    return hook


def on(clock, *moment):
    clock.set(dt.datetime(*moment))


async def test_a_rollover_interrupted_after_some_batches_and_run_again_ends_as_one_clean_run(any_db, tmp_path):
    clock = FixedClock(dt.datetime(2026, 11, 2, 12, 0))
    clean = Database(f"sqlite+aiosqlite:///{tmp_path}/clean.sqlite3")
    from core.models import Base

    async with clean.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        for db in (any_db, clean):
            on(clock, 2026, 11, 2, 12, 0)
            await families(db, clock)
        on(clock, 2027, 1, 1, 0, 10)
        whole = await calendar_jobs.year_rollover(clean, 2027, clock, batch_size=2, budget=None)

        with pytest.raises(Crash):
            await calendar_jobs.year_rollover(any_db, 2027, clock, batch_size=2, budget=None,
                                             after_batch=crash_after(2))
        assert await count(any_db, JobRun, JobRun.job == YEAR_ROLLOVER) == 0     # not done yet
        async with any_db.read() as s:
            progress = await s.get(JobProgress, (YEAR_ROLLOVER, "2027"))
        assert progress.totals["certificates"] == 4                            # two batches of two
        resumed = await calendar_jobs.year_rollover(any_db, 2027, clock, batch_size=2, budget=None)
        again = await calendar_jobs.year_rollover(any_db, 2027, clock, batch_size=2)

        assert await ledger(any_db) == await ledger(clean)       # nothing credited or expired twice
        assert resumed.resumed and not whole.resumed
        numbers = lambda r: (r.certificates, r.settled, r.expired, r.credited, r.renewals,  # noqa: E731
                             r.shortfalls, r.notices)
        assert numbers(resumed) == numbers(whole) == (CHILDREN, 2 * CHILDREN, CHILDREN, CHILDREN, CHILDREN, 3, 3)
        assert again.already_done and numbers(again) == (0,) * 7
        assert await count(any_db, Outbox) == await count(clean, Outbox) == 3   # one notice per shortfall
        assert await count(any_db, Charge) == await count(clean, Charge)
    finally:
        await clean.dispose()


async def test_a_month_settlement_interrupted_resumes_after_the_last_batch(any_db):
    clock = FixedClock(dt.datetime(2026, 11, 2, 12, 0))
    await families(any_db, clock)
    on(clock, 2026, 12, 1, 0, 5)
    with pytest.raises(Crash):
        await calendar_jobs.settle_month(any_db, 2026, 11, clock, batch_size=3, budget=None,
                                         after_batch=crash_after(1))
    report = await calendar_jobs.settle_month(any_db, 2026, 11, clock, batch_size=3, budget=None)
    assert (report.settled, report.resumed, report.already_done) == (CHILDREN, True, False)
    assert report.summary() == "settle-month 2026-11: 7 reservation(s) settled in 2 batch(es), " \
                               "resumed after an interruption"
    from core.models import LedgerKind

    assert await count(any_db, LedgerEntry, LedgerEntry.kind == LedgerKind.SETTLE) == CHILDREN
    assert await count(any_db, JobRun, JobRun.job == SETTLE_MONTH, JobRun.period == "2026-11") == 1


async def test_without_a_nominal_for_the_new_year_the_remainder_expires_and_nothing_is_renewed(db):
    clock = FixedClock(dt.datetime(2026, 11, 2, 12, 0))
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)                 # no nominal for 2027 yet
        parent = await f.parent(s, clock, "p1", platform="telegram")
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=1000)
        await enroll(s, parent, child.id, program.id, clock)
    on(clock, 2027, 1, 1, 0, 10)
    report = await calendar_jobs.year_rollover(db, 2027, clock)
    assert (report.certificates, report.expired, report.credited, report.renewals) == (1, 1, 0, 0)
    assert await count(db, Charge, Charge.year == 2027) == 0   # no co-payment of the whole year


async def test_year_end_reminders_go_out_in_batches_of_parents_once_each(any_db):
    clock = FixedClock(dt.datetime(2026, 11, 2, 12, 0))
    await families(any_db, clock)
    on(clock, 2026, 12, 1, 10, 0)
    with pytest.raises(Crash):
        await calendar_jobs.year_end_reminders(any_db, clock.today(), clock, batch_size=2, budget=None,
                                               after_batch=crash_after(1))
    report = await calendar_jobs.year_end_reminders(any_db, clock.today(), clock, batch_size=2, budget=None)
    assert report.notices == CHILDREN and report.resumed
    assert await count(any_db, Outbox) == CHILDREN
    assert (await calendar_jobs.year_end_reminders(any_db, clock.today(), clock)).already_done


async def test_other_updates_get_through_between_the_batches_of_a_rollover(db):
    """A parent's write waiting while the rollover runs is served before the rollover's next
    batch, not after the whole rollover."""
    clock = FixedClock(dt.datetime(2026, 11, 2, 12, 0))
    await families(db, clock, count=6)
    on(clock, 2027, 1, 1, 0, 10)
    batches_done: list[int] = []
    parent_served_after: list[int] = []
    started = asyncio.Event()

    async def hook(done: int) -> None:
        batches_done.append(done)
        started.set()

    async def parent_writes() -> None:
        await started.wait()
        async with db.write() as s:
            (await s.execute(select(Parent).where(Parent.external_id == "p0"))).scalar_one().unreachable_at = None
        parent_served_after.append(len(batches_done))

    rollover = asyncio.create_task(calendar_jobs.year_rollover(db, 2027, clock, batch_size=1, budget=None,
                                                          after_batch=hook))
    await asyncio.gather(parent_writes(), rollover)
    assert rollover.result().certificates == 6
    assert parent_served_after == [1]                      # right after the first batch, not the sixth


async def test_batches_shrink_or_grow_to_keep_each_transaction_within_its_time_budget(db, monkeypatch):
    clock = FixedClock(dt.datetime(2026, 11, 2, 12, 0))
    await families(db, clock)
    monkeypatch.setattr(calendar_jobs, "FIRST_BATCH", 4)
    monkeypatch.setattr(calendar_jobs, "MIN_BATCH", 1)
    on(clock, 2027, 1, 1, 0, 10)
    tight = await calendar_jobs.year_rollover(db, 2027, clock, batch_size=100, budget=1e-9)
    assert (tight.certificates, tight.batches) == (CHILDREN, 4)      # 4, then one at a time: 1, 1, 1
    on(clock, 2027, 2, 1, 0, 5)
    roomy = await calendar_jobs.settle_month(db, 2027, 1, clock, batch_size=100, budget=60)
    assert roomy.batches == 2                                         # 4, then up to twice as many


# --- `jobs run … --at`: never the future; one summary, printed and logged ------------------------

def settings_for(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3")


@pytest.mark.parametrize("job", ["settle-month", "year-rollover", "notify"])
async def test_jobs_run_refuses_a_date_after_today_and_writes_nothing(tmp_path, capsys, job):
    settings = settings_for(tmp_path)
    today = FixedClock(dt.datetime(2026, 12, 2, 14, 0))          # 2 December, as in the issue
    assert await cli.run_job(job, dt.date(2027, 1, 1), settings, clock=today) == 2
    captured = capsys.readouterr()
    assert "2027-01-01 is after today (2026-12-02" in captured.err and "Nothing was written" in captured.err
    assert captured.out == ""
    assert not (tmp_path / "cli.sqlite3").exists()               # not even migrated


async def test_jobs_run_accepts_today_in_the_bots_timezone_not_utc(tmp_path):
    # 1 January 00:30 in Moscow is still 31 December in UTC: 1 January is today, not the future.
    settings = settings_for(tmp_path)
    moscow_new_year = FixedClock(dt.datetime(2026, 12, 31, 21, 30, tzinfo=dt.timezone.utc))
    assert cli.future_refusal(dt.date(2027, 1, 1), moscow_new_year) is None
    assert cli.future_refusal(dt.date(2027, 1, 2), moscow_new_year) is not None
    assert await cli.run_job("year-rollover", dt.date(2027, 1, 1), settings, clock=moscow_new_year) == 0


async def test_jobs_run_at_a_past_date_settles_and_rolls_over_as_of_that_day(tmp_path, capsys):
    settings = settings_for(tmp_path)
    later = FixedClock(dt.datetime(2027, 1, 2, 9, 0))            # the injected clock moves time
    assert await cli.run_job("settle-month", dt.date(2026, 12, 1), settings, clock=later) == 0
    assert await cli.run_job("year-rollover", dt.date(2027, 1, 1), settings, clock=later) == 0
    assert await cli.run_job("notify", None, settings, clock=later) == 0
    assert await cli.run_job("nonsense", None, settings, clock=later) == 2
    out = capsys.readouterr().out
    assert "settle-month 2026-11:" in out and "year-rollover 2027:" in out and "notify:" in out
    db = Database(settings.database_url)
    try:
        async with db.read() as s:
            runs = {(r.job, r.period) for r in (await s.execute(select(JobRun))).scalars()}
        assert {(SETTLE_MONTH, "2026-11"), (YEAR_ROLLOVER, "2027")} <= runs
    finally:
        await db.dispose()


async def test_the_command_prints_the_summary_the_job_logs_with_the_same_numbers(tmp_path, capsys, caplog):
    settings = settings_for(tmp_path)
    clock = FixedClock(dt.datetime(2026, 11, 2, 12, 0))
    from bot.migrate import upgrade

    await asyncio.to_thread(upgrade, settings.database_url)
    db = Database(settings.database_url)
    try:
        await families(db, clock)
    finally:
        await db.dispose()
    caplog.set_level(logging.INFO, logger="bot.jobs")
    later = FixedClock(dt.datetime(2027, 1, 1, 8, 0))
    assert await cli.run_job("year-rollover", None, settings, clock=later) == 0
    printed = capsys.readouterr().out.strip()
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.jobs"]
    assert logged == [printed]
    assert printed.startswith(f"year-rollover 2027: {CHILDREN} certificate(s) rolled (7 credited, "
                              f"7 remainder(s) expired, 14 reservation(s) settled), 7 renewal(s), "
                              f"3 shortfall(s), 3 co-payment notice(s) queued")
