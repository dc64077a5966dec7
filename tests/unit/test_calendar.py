"""SPEC §1 Cancellation and refund, and the calendar: month settlement, year rollover."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from core.certificates import balance
from core.enrollment import cancel, cancel_quote, enroll
from core.errors import DomainError
from core.models import Charge, JobRun, LedgerEntry, LedgerKind
from core.calendar_jobs import settle_month, year_rollover
from tests import factories as f


def on(clock, year, month, day, hour=12):
    clock.set(dt.datetime(year, month, day, hour, 0))


async def _enrolled(db, clock, *, price=3000, rubles=12000, start=dt.date(2026, 9, 1), end=dt.date(2027, 5, 31)):
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=rubles)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=price, start=start, end=end)
        result = await enroll(s, parent, child.id, program.id, clock)
    return parent, result


async def _ledger_count(db, kind):
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(LedgerEntry)
                                .where(LedgerEntry.kind == kind))).scalar()


async def test_same_day_cancellation_refunds_everything(db, clock):
    on(clock, 2026, 9, 10)
    parent, result = await _enrolled(db, clock)
    clock.advance(hours=5)
    async with db.write() as s:
        done = await cancel(s, parent, result.enrollment.id, clock)
    assert done.refund == 4 * 3000_00
    assert done.balance.available == 12000_00 and done.balance.reserved == 0


async def test_later_cancellation_refunds_only_months_after_the_current_one(db, clock):
    on(clock, 2026, 9, 10)
    parent, result = await _enrolled(db, clock)
    on(clock, 2026, 10, 15)
    async with db.write() as s:
        preview = await cancel_quote(s, parent, result.enrollment.id, clock)
        done = await cancel(s, parent, result.enrollment.id, clock)
    # September and October stay paid; November and December come back.
    assert preview.refund == done.refund == 2 * 3000_00
    assert preview.balance_after == done.balance.available == 12000_00 - 2 * 3000_00
    async with db.write() as s:
        with pytest.raises(DomainError) as refusal:
            await cancel(s, parent, result.enrollment.id, clock)
    assert refusal.value.reason == "not_active"


async def test_another_parent_cannot_cancel_my_enrollment(db, clock):
    parent, result = await _enrolled(db, clock)
    async with db.write() as s:
        stranger = await f.parent(s, clock)
        with pytest.raises(DomainError) as refusal:
            await cancel(s, stranger, result.enrollment.id, clock)
    assert refusal.value.reason == "enrollment_not_found"
    assert await _ledger_count(db, LedgerKind.REFUND) == 0


async def test_month_settlement_turns_reservations_into_spent_once(db, clock):
    on(clock, 2026, 9, 10)
    parent, result = await _enrolled(db, clock)
    on(clock, 2026, 10, 1, 0)
    for _ in range(2):
        await settle_month(db, 2026, 9, clock)
    async with db.read() as s:
        after = await balance(s, result.certificate, 2026)
        runs = (await s.execute(select(func.count()).select_from(JobRun))).scalar()
    assert after.spent == 3000_00 and after.reserved == 3 * 3000_00 and after.available == 0
    assert await _ledger_count(db, LedgerKind.SETTLE) == 1 and runs == 1


async def test_a_missed_settlement_run_catches_up_late(db, clock):
    on(clock, 2026, 9, 10)
    parent, result = await _enrolled(db, clock)
    on(clock, 2026, 12, 3)          # the bot was down on 1 October and 1 November
    report = await settle_month(db, 2026, 11, clock)
    assert report.settled == 3        # September, October, November


async def test_a_month_that_is_not_over_cannot_be_settled(db, clock):
    with pytest.raises(DomainError) as refusal:
        await settle_month(db, 2026, 11, clock)
    assert refusal.value.reason == "month_not_over"


async def test_year_rollover_expires_the_remainder_credits_and_renews_continuing_first(db, clock):
    on(clock, 2026, 11, 2)
    parent, result = await _enrolled(db, clock, price=4000, rubles=12000)
    # November + December reserved: 8 000 ₽, 4 000 ₽ free that will expire.
    async with db.write() as s:
        await f.nominal(s, 2027, rubles=30000)
    on(clock, 2027, 1, 1, 0)
    first = await year_rollover(db, 2027, clock)
    second = await year_rollover(db, 2027, clock)
    async with db.read() as s:
        old = await balance(s, result.certificate, 2026)
        new = await balance(s, result.certificate, 2027)
        charge = (await s.execute(select(Charge).where(Charge.year == 2027))).scalar_one()
    assert old.expired == 4000_00 and old.spent == 8000_00 and old.available == 0 and old.reserved == 0
    assert new.credited == 30000_00
    # The program runs January–May 2027: 5 × 4 000 ₽ reserved first.
    assert charge.cost == charge.covered == 20000_00 and charge.copay == 0
    assert new.reserved == 20000_00 and new.available == 10000_00
    assert (first.certificates, first.expired, first.credited, first.renewals) == (1, 1, 1, 1)
    assert second.already_done and (second.expired, second.credited, second.renewals) == (0, 0, 0)


async def test_a_renewal_shortfall_is_a_co_payment(db, clock):
    on(clock, 2026, 12, 1)
    parent, result = await _enrolled(db, clock, price=5000, rubles=12000)
    async with db.write() as s:
        await f.nominal(s, 2027, rubles=10000)
    on(clock, 2027, 1, 1, 0)
    report = await year_rollover(db, 2027, clock)
    async with db.read() as s:
        charges = (await s.execute(select(Charge).where(Charge.year == 2027))).scalars().all()
    assert report.shortfalls == 1 and [c.copay for c in charges] == [5 * 5000_00 - 10000_00]


async def test_a_new_enrollment_rolls_an_old_certificate_into_the_year_first(db, clock):
    on(clock, 2026, 12, 1)
    parent, result = await _enrolled(db, clock, price=5000, rubles=12000)
    async with db.write() as s:
        await f.nominal(s, 2027, rubles=30000)
        second = await f.program(s, clock, price_rub=1000, start=dt.date(2027, 1, 1), end=dt.date(2027, 12, 31))
    on(clock, 2027, 1, 5)            # the rollover job has not run yet
    async with db.write() as s:
        done = await enroll(s, parent, result.enrollment.child_id, second.id, clock)
    # Continuing program first: 5 × 5 000 ₽; then 9 study months (not June–August) × 1 000 ₽
    # would need 9 000 ₽, only 5 000 ₽ left.
    assert done.quote.balance_before == 5000_00 and done.quote.copay == 4000_00
