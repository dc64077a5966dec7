"""SPEC §1 Money, as a property: whatever parents and the calendar do, the ledger
keeps its invariants.

Random sequences of enroll / cancel / advance the clock / settle the month /
roll the year over, on one SQLite database; after every step, for every
certificate and year: available ≥ 0, reserved ≥ 0, and
credit = available + reserved + spent + expired; per enrollment month a
reservation is settled or refunded at most once, never both. With freed money
covering co-payments (core/copay.py): an active enrollment's charge matches its
reservations, no month is reserved beyond its price, and no active enrollment
has an unpaid month still to come while its certificate has free money.
"""
import asyncio
import datetime as dt
import tempfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.certificates import balance
from core.clock import FixedClock
from core.db import Database
from core.enrollment import cancel, enroll
from core.errors import DomainError
from core.calendar_jobs import settle_month, year_rollover
from core.costing import payable_months
from core.models import Base, Certificate, Charge, Enrollment, EnrollmentStatus, LedgerEntry, LedgerKind, Parent
from core.settlement import previous_month
from tests import factories as f

steps = st.lists(st.one_of(
    st.tuples(st.just("enroll"), st.integers(0, 2), st.integers(0, 4)),
    # Two of the three children, more often: enrollments of one certificate that leave
    # co-payments beside others that a cancellation then frees money from.
    st.tuples(st.just("enroll"), st.integers(0, 1), st.integers(0, 4)),
    st.tuples(st.just("cancel"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("advance"), st.integers(1, 75), st.just(0)),
    st.tuples(st.just("settle"), st.just(0), st.just(0)),
    st.tuples(st.just("rollover"), st.just(0), st.just(0)),
), min_size=5, max_size=25)


async def _check_copayments(s, clock):
    """Freed money never sits beside a co-payment it could cover."""
    today = clock.today()
    rows = (await s.execute(
        select(Enrollment, Charge).join(Charge, Charge.enrollment_id == Enrollment.id)
        .where(Enrollment.status == EnrollmentStatus.ACTIVE))).all()
    for enrollment, charge in rows:
        sums = dict((await s.execute(
            select(LedgerEntry.month, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.enrollment_id == enrollment.id, LedgerEntry.year == charge.year,
                   LedgerEntry.kind == LedgerKind.RESERVE).group_by(LedgerEntry.month))).all())
        assert charge.covered == sum(sums.values()) and charge.copay == charge.cost - charge.covered, charge
        if not charge.months:
            continue
        price = charge.cost // charge.months
        assert all(amount <= price for amount in sums.values()), (sums, price)
        if charge.year != today.year or charge.copay == 0:
            continue
        enrolled = enrollment.enrolled_at.astimezone(clock.tz).date()
        first = enrolled.month if enrolled.year == charge.year else 1
        settled = set((await s.execute(select(LedgerEntry.month).where(
            LedgerEntry.enrollment_id == enrollment.id, LedgerEntry.year == charge.year,
            LedgerEntry.kind == LedgerKind.SETTLE))).scalars())
        unpaid_to_come = [month for month in payable_months(enrollment.program, charge.year, first)
                          if month >= today.month and month not in settled and sums.get(month, 0) < price]
        if unpaid_to_come:
            free = (await balance(s, enrollment.child.certificate, charge.year)).available
            assert free == 0, (enrollment.id, unpaid_to_come, free)


async def _check_invariants(s):
    certificates = (await s.execute(select(Certificate))).scalars().all()
    years = (await s.execute(select(LedgerEntry.year).distinct())).scalars().all()
    for certificate in certificates:
        for year in years:
            b = await balance(s, certificate, year)
            assert b.available >= 0, b
            assert b.reserved >= 0, b
            assert b.credited == b.available + b.reserved + b.spent + b.expired, b
    closes = (await s.execute(
        select(LedgerEntry.enrollment_id, LedgerEntry.year, LedgerEntry.month, func.count())
        .where(LedgerEntry.kind.in_([LedgerKind.SETTLE, LedgerKind.REFUND]))
        .group_by(LedgerEntry.enrollment_id, LedgerEntry.year, LedgerEntry.month))).all()
    assert all(count == 1 for *_, count in closes)


async def _run(sequence):
    clock = FixedClock(dt.datetime(2026, 8, 20, 12, 0))
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite+aiosqlite:///{tmp}/p.sqlite3")
        async with database.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with database.write() as s:
            for year in (2026, 2027, 2028):
                await f.nominal(s, year, rubles=10000)
            parent = await f.parent(s, clock)
            children = [await f.child(s, parent, clock) for _ in range(3)]
            programs = [await f.program(s, clock, price_rub=price, start=start, end=end)
                        for price, start, end in [
                            (1500, dt.date(2026, 9, 1), dt.date(2028, 5, 31)),
                            (2500, dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
                            (4000, dt.date(2026, 10, 1), dt.date(2027, 6, 30)),
                            (900, dt.date(2027, 1, 1), dt.date(2028, 12, 31)),
                            (3000, dt.date(2025, 9, 1), dt.date(2027, 5, 31))]]
        enrollment_ids: list[int] = []
        for action, a, b in sequence:
            try:
                if action == "settle":
                    year, month = previous_month(clock.today())
                    await settle_month(database, year, month, clock, batch_size=2)
                elif action == "rollover":
                    await year_rollover(database, clock.today().year, clock, batch_size=2)
                async with database.write() as s:
                    parent_row = await s.get(Parent, parent.id)
                    if action == "enroll":
                        result = await enroll(s, parent_row, children[a].id, programs[b].id, clock)
                        enrollment_ids.append(result.enrollment.id)
                    elif action == "cancel" and enrollment_ids:
                        await cancel(s, parent_row, enrollment_ids[a % len(enrollment_ids)], clock)
                    elif action == "advance":
                        clock.advance(days=a)
            except DomainError:
                pass  # a refusal writes nothing; the invariants are checked below either way
            async with database.read() as s:
                await _check_invariants(s)
                await _check_copayments(s, clock)
        await database.dispose()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
# A child's second program co-pays 8 500 ₽; cancelling the first frees 6 000 ₽ for it.
@example([("enroll", 0, 0), ("enroll", 0, 1), ("advance", 10, 0), ("cancel", 0, 0), ("settle", 0, 0)])
# The same with a month settled in between, and a top-up settled and refunded after it.
@example([("enroll", 0, 1), ("enroll", 0, 0), ("enroll", 0, 2), ("advance", 45, 0), ("settle", 0, 0),
          ("cancel", 0, 0), ("advance", 31, 0), ("settle", 0, 0), ("cancel", 1, 0), ("advance", 70, 0),
          ("rollover", 0, 0)])
def test_random_enroll_cancel_settle_rollover_keep_the_ledger_invariants(sequence):
    asyncio.run(_run(sequence))
