"""The calendar jobs at a region's scale: month settlement, the year rollover and the
year-end reminders, in batches.

Each batch is its own write transaction over a few hundred certificates (or parents), kept
well under 100 ms, and between batches the event loop runs every other update waiting
(`asyncio.sleep(0)`): the bot answers parents all through 1 January. A batch moves the
job's cursor in `job_progress` (the last id done) and adds its counts there in the same
transaction, so after a crash the job resumes after the last committed batch, never doing
one twice, and its report still counts the whole period. The period is recorded as done
(`job_runs`) with the last batch; a run for a period already done changes nothing.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.clock import Clock
from core.db import Database
from core.models import Certificate, JobProgress, Parent
from core.settlement import (
    SETTLE_MONTH,
    YEAR_ROLLOVER,
    RolloverReport,
    check_month_over,
    check_year_started,
    job_done,
    mark_done,
    roll_certificates,
    settle_certificates,
)

YEAR_END = "year-end-reminder"

# The most ids one batch takes. A batch starts at FIRST_BATCH ids and then grows or shrinks
# so that its transaction takes about BUDGET seconds: the writer lock is held that long,
# and a parent's reply may wait for it (machines and databases differ tenfold).
SETTLE_BATCH = 1000
ROLL_BATCH = 500
YEAR_END_BATCH = 1000
FIRST_BATCH = 20
MIN_BATCH = 10   # on a machine too busy to keep to the budget, still some progress a batch
BUDGET = 0.04    # SQLite: a batch holds the database's one write lock, every writer waits
# PostgreSQL: a batch locks its own children's rows only, and the event loop runs other
# updates at each of its statements; longer batches roll over faster and delay no one else.
ROW_LOCK_BUDGET = 0.25

# The default budget: BUDGET on SQLite, ROW_LOCK_BUDGET on PostgreSQL (None: fixed batch_size).
BY_DATABASE = -1.0

# Called after each committed batch with its number (tests inject a crash here).
AfterBatch = Callable[[int], Awaitable[None]]


# --- reports: one summary, printed by `jobs run` and logged by the scheduler --------------

@dataclass
class SettleMonthReport:
    period: str
    settled: int = 0
    batches: int = 0
    resumed: bool = False
    already_done: bool = False

    def summary(self) -> str:
        if self.already_done:
            return f"settle-month {self.period}: already done, nothing changed"
        return (f"settle-month {self.period}: {self.settled} reservation(s) settled"
                f"{_how(self.batches, self.resumed)}")


@dataclass
class YearRolloverReport:
    year: int
    certificates: int = 0    # funded certificates rolled into the year
    settled: int = 0         # reservations of the old year settled (December and older)
    expired: int = 0         # certificates whose free remainder expired
    credited: int = 0        # certificates credited with the new nominal
    renewals: int = 0        # continuing enrollments reserved first
    shortfalls: int = 0      # of them with a co-payment
    notices: int = 0         # co-payment notices queued for parents
    batches: int = 0
    resumed: bool = False
    already_done: bool = False

    def summary(self) -> str:
        if self.already_done:
            return f"year-rollover {self.year}: already done, nothing changed"
        return (f"year-rollover {self.year}: {self.certificates} certificate(s) rolled "
                f"({self.credited} credited, {self.expired} remainder(s) expired, {self.settled} "
                f"reservation(s) settled), {self.renewals} renewal(s), {self.shortfalls} shortfall(s), "
                f"{self.notices} co-payment notice(s) queued{_how(self.batches, self.resumed)}")


@dataclass
class YearEndReport:
    day: str
    notices: int = 0
    batches: int = 0
    resumed: bool = False
    already_done: bool = False

    def summary(self) -> str:
        if self.already_done:
            return f"year-end reminders of {self.day}: already done, nothing changed"
        return f"year-end reminders of {self.day}: {self.notices} notice(s) queued{_how(self.batches, self.resumed)}"


def _how(batches: int, resumed: bool) -> str:
    return f" in {batches} batch(es)" + (", resumed after an interruption" if resumed else "")


# --- the batched run ----------------------------------------------------------------------

@dataclass
class _Run:
    totals: dict[str, int]
    batches: int = 0
    resumed: bool = False
    already_done: bool = False


# One batch: (session, the next ids after the cursor) -> its counts.
_Work = Callable[[AsyncSession, Sequence[int]], Awaitable[dict[str, int]]]
_Ids = Callable[[AsyncSession, int, int], Awaitable[Sequence[int]]]


async def _progress(session: AsyncSession, job: str, period: str, clock: Clock) -> JobProgress:
    """The job's progress row for the period, locked (PostgreSQL; SQLite's writer holds the
    database): two runs of one job at once take turns batch by batch."""
    key = {"job": job, "period": period}
    found = await session.get(JobProgress, (job, period), with_for_update=True, populate_existing=True)
    if found is not None:
        return found
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(insert(JobProgress).values(**key, cursor=0, totals={}, updated_at=clock.now())
                          .on_conflict_do_nothing())
    found = await session.get(JobProgress, (job, period), with_for_update=True, populate_existing=True)
    assert found is not None
    return found


async def _run_in_batches(db: Database, job: str, period: str, clock: Clock, next_ids: _Ids,
                          work: _Work, batch_size: int, budget: float | None,
                          after_batch: AfterBatch | None) -> _Run:
    """Batches of `batch_size` ids, or at most that many sized to `budget` seconds each."""
    async with db.read() as session:
        if await job_done(session, job, period):
            return _Run(totals={}, already_done=True)
    run = _Run(totals={})
    if budget is not None and budget < 0:   # BY_DATABASE
        budget = BUDGET if db.sqlite else ROW_LOCK_BUDGET
    size = batch_size if budget is None else min(FIRST_BATCH, batch_size)
    while True:
        async with db.write() as session:
            if await job_done(session, job, period):   # finished meanwhile by another run
                return run
            started = time.perf_counter()   # from here on the batch holds the writer lock (SQLite)
            progress = await _progress(session, job, period, clock)
            if run.batches == 0 and progress.cursor:
                run.resumed = True
            ids = await next_ids(session, progress.cursor, size)
            if ids:
                counts = await work(session, ids)
                totals = dict(progress.totals)
                for name, count in counts.items():
                    totals[name] = totals.get(name, 0) + count
                progress.totals, progress.cursor, progress.updated_at = totals, ids[-1], clock.now()
            finished = len(ids) < size
            if finished:
                await mark_done(session, job, period, clock)
            run.totals = dict(progress.totals)
        if ids:
            run.batches += 1
        if finished:
            return run
        if budget is not None:
            took = max(time.perf_counter() - started, 1e-4)
            size = max(min(MIN_BATCH, batch_size), min(batch_size, int(size * budget / took), 2 * size))
        if after_batch is not None:
            await after_batch(run.batches)
        await asyncio.sleep(0)   # every update waiting runs before the next batch


def _ids_after(column: Any) -> _Ids:
    async def next_ids(session: AsyncSession, cursor: int, limit: int) -> Sequence[int]:
        return (await session.execute(
            select(column).where(column > cursor).order_by(column).limit(limit))).scalars().all()
    return next_ids


# --- the jobs -----------------------------------------------------------------------------

async def settle_month(db: Database, year: int, month: int, clock: Clock, *, batch_size: int = SETTLE_BATCH,
                       budget: float | None = BY_DATABASE,
                       after_batch: AfterBatch | None = None) -> SettleMonthReport:
    """Settle (year, month) and anything older still open: reservations become spent.
    Run on the 1st for the previous month; a late run settles everything missed."""
    period = check_month_over(year, month, clock)

    async def work(session: AsyncSession, ids: Sequence[int]) -> dict[str, int]:
        return {"settled": await settle_certificates(session, year, month, ids, clock)}

    run = await _run_in_batches(db, SETTLE_MONTH, period, clock, _ids_after(Certificate.id), work,
                                batch_size, budget, after_batch)
    return SettleMonthReport(period=period, settled=run.totals.get("settled", 0), batches=run.batches,
                             resumed=run.resumed, already_done=run.already_done)


async def year_rollover(db: Database, year: int, clock: Clock, *, batch_size: int = ROLL_BATCH,
                        budget: float | None = BY_DATABASE,
                        after_batch: AfterBatch | None = None) -> YearRolloverReport:
    """1 January: every funded certificate expires its old remainder, is credited, renews its
    continuing enrollments first (core.settlement); each batch queues its own co-payment
    notices in its transaction."""
    check_year_started(year, clock)

    async def work(session: AsyncSession, ids: Sequence[int]) -> dict[str, int]:
        batch = RolloverReport(year=year)
        await roll_certificates(session, year, ids, clock, batch)
        charges = [renewal.charge.id for renewal in batch.shortfalls]
        notices = await outbox.enqueue_copay_notices(session, clock, charge_ids=charges)
        return {"certificates": batch.certificates, "settled": batch.settled, "expired": batch.expired,
                "credited": batch.credited, "renewals": len(batch.renewals),
                "shortfalls": len(batch.shortfalls), "notices": notices}

    run = await _run_in_batches(db, YEAR_ROLLOVER, str(year), clock, _ids_after(Certificate.id), work,
                                batch_size, budget, after_batch)
    t = run.totals
    return YearRolloverReport(
        year=year, certificates=t.get("certificates", 0), settled=t.get("settled", 0),
        expired=t.get("expired", 0), credited=t.get("credited", 0), renewals=t.get("renewals", 0),
        shortfalls=t.get("shortfalls", 0), notices=t.get("notices", 0), batches=run.batches,
        resumed=run.resumed, already_done=run.already_done)


async def year_end_reminders(db: Database, day: dt.date, clock: Clock, *, batch_size: int = YEAR_END_BATCH,
                             budget: float | None = BY_DATABASE,
                             after_batch: AfterBatch | None = None) -> YearEndReport:
    """Queue the reminders of `day` (free money expires on 31 December), parents in batches."""
    async def work(session: AsyncSession, ids: Sequence[int]) -> dict[str, int]:
        return {"notices": await outbox.enqueue_year_end(session, day, clock, parent_ids=(ids[0] - 1, ids[-1]))}

    run = await _run_in_batches(db, YEAR_END, day.isoformat(), clock, _ids_after(Parent.id), work,
                                batch_size, budget, after_batch)
    return YearEndReport(day=day.isoformat(), notices=run.totals.get("notices", 0), batches=run.batches,
                         resumed=run.resumed, already_done=run.already_done)
