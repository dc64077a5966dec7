"""SPEC §1 Enrollment: when money frees up on a certificate, the current year's
co-payments of its active enrollments are covered first, oldest enrollment
first, and the parent is told (core/copay.py)."""
import datetime as dt

from sqlalchemy import select

from core.certificates import balance, open_reservations, year_plan
from core.clock import FixedClock
from core.copay import plan_coverage
from core.enrollment import cancel, cancel_quote, enroll
from core.models import Charge, Child, Enrollment, LedgerEntry, LedgerKind
from core.calendar_jobs import settle_month, year_rollover
from tests import factories as f


def on(clock, year, month, day, hour=12):
    clock.set(dt.datetime(year, month, day, hour, 0))


async def _family(db, clock, prices, *, rubles=12000, hours=None, start=dt.date(2026, 9, 1),
                  end=dt.date(2026, 12, 31)):
    """One child enrolled, a minute apart, in programs of these monthly prices (rubles, or
    hours with `hours` set as the nominal)."""
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=rubles, hours=hours)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        enrollments = []
        for n, price in enumerate(prices):
            program = await f.program(s, clock, title=f"Кружок{n}", start=start, end=end,
                                      price_rub=None if hours else price, hours=price if hours else None)
            enrollments.append((await enroll(s, parent, child.id, program.id, clock)).enrollment)
            clock.advance(minutes=1)
    return parent, child, enrollments


async def _charge(s, enrollment_id, year=2026):
    return (await s.execute(select(Charge).where(Charge.enrollment_id == enrollment_id, Charge.year == year)
                            .execution_options(populate_existing=True))).scalar_one()


async def _certificate(s, enrollment):
    return (await s.get(Enrollment, enrollment.id)).child.certificate


async def _rows(s, enrollment_id, kind):
    return [(e.month, e.amount) for e in (await s.execute(
        select(LedgerEntry).where(LedgerEntry.enrollment_id == enrollment_id, LedgerEntry.kind == kind)
        .order_by(LedgerEntry.id))).scalars()]


async def test_refund_covers_existing_copayment_of_oldest_enrollment_first(any_db, clock):
    db = any_db
    on(clock, 2026, 9, 10)
    # 12 000 ₽: A 4 × 2 000 covered; B 4 × 1 500 gets 4 000 (co-pays 2 000: 500 of
    # November, all December); C 4 × 1 000 gets nothing (co-pays 4 000).
    parent, _, (a, b, c) = await _family(db, clock, [2000, 1500, 1000])
    on(clock, 2026, 10, 15)
    async with db.write() as s:
        done = await cancel(s, parent, a.id, clock)
    assert done.refund == 4000_00   # November and December of A
    # B (the older) first: the rest of November and December; then C from October on
    # (September is over), as far as the money goes.
    assert [(x.enrollment_id, x.covered, x.copay, x.months) for x in done.covered] == [
        (b.id, 2000_00, 0, ((11, 500_00), (12, 1500_00))),
        (c.id, 2000_00, 2000_00, ((10, 1000_00), (11, 1000_00))),
    ]
    assert [x.title.split()[0] for x in done.covered] == ["Кружок1", "Кружок2"]
    assert done.balance.available == 0
    async with db.read() as s:
        assert ((await _charge(s, b.id)).covered, (await _charge(s, b.id)).copay) == (6000_00, 0)
        assert ((await _charge(s, c.id)).covered, (await _charge(s, c.id)).copay) == (2000_00, 2000_00)
        # The ledger is appended to: November of B is its first reservation and a top-up.
        assert await _rows(s, b.id, LedgerKind.RESERVE) == [
            (9, 1500_00), (10, 1500_00), (11, 1000_00), (11, 500_00), (12, 1500_00)]
        assert await open_reservations(s, b.id) == [(2026, m, 1500_00) for m in (9, 10, 11, 12)]
        cert_balance = await balance(s, done.enrollment.child.certificate, 2026)
        assert cert_balance.credited == cert_balance.available + cert_balance.reserved + cert_balance.spent
        # A keeps September and October; B all four months, C October and November.
        assert cert_balance.reserved == 2 * 2000_00 + 4 * 1500_00 + 2 * 1000_00 == 12000_00


async def test_the_refund_of_the_oldest_enrollment_goes_to_the_next_oldest(db, clock):
    """Oldest first is by enrollment time, not by which co-payment is the smaller."""
    on(clock, 2026, 9, 10)
    # 12 000 ₽: A 4 × 1 000; B 4 × 2 500 gets 8 000 (co-pays 2 000); C 4 × 500 co-pays all 2 000.
    parent, _, (a, b, c) = await _family(db, clock, [1000, 2500, 500])
    on(clock, 2026, 11, 3)
    async with db.write() as s:
        done = await cancel(s, parent, a.id, clock)   # December of A: 1 000 ₽ back
    assert [(x.enrollment_id, x.covered, x.copay) for x in done.covered] == [(b.id, 1000_00, 1000_00)]


async def test_coverage_never_touches_a_settled_month(db, clock):
    on(clock, 2026, 9, 10)
    # 7 000 ₽: A 4 × 1 000 covered; B 4 × 2 000 gets 3 000 (September, half of October).
    parent, child, (a, b) = await _family(db, clock, [1000, 2000], rubles=7000)
    on(clock, 2026, 11, 1, 0)
    await settle_month(db, 2026, 10, clock)   # September and October are spent
    # Whatever the clock says, October is settled: freed money starts at November.
    async with db.read() as s:
        certificate = (await s.get(Child, child.id)).certificate
        back_in_october = FixedClock(dt.datetime(2026, 10, 31, 12, 0))
        planned = await plan_coverage(s, certificate, 2026, back_in_october, free=1500_00)
    assert [(x.enrollment_id, x.months) for x in planned] == [(b.id, ((11, 1500_00),))]
    on(clock, 2026, 11, 1, 10)
    async with db.write() as s:
        done = await cancel(s, parent, a.id, clock)        # December of A: 1 000 ₽ back
        reserved, settled = await _rows(s, b.id, LedgerKind.RESERVE), await _rows(s, b.id, LedgerKind.SETTLE)
    assert [(x.enrollment_id, x.months, x.copay) for x in done.covered] == [(b.id, ((11, 1000_00),), 4000_00)]
    assert reserved == [(9, 2000_00), (10, 1000_00), (11, 1000_00)]
    assert settled == [(9, 2000_00), (10, 1000_00)]


async def test_refund_in_hours_covers_a_copayment_in_hours(any_db, clock):
    db = any_db
    on(clock, 2026, 9, 10)
    # 24 hours: A 4 × 2 h; B 4 × 5 h gets 16 h, co-pays 4 h of December.
    parent, _, (a, b) = await _family(db, clock, [2, 5], hours=24)
    clock.advance(hours=2)
    async with db.write() as s:
        done = await cancel(s, parent, a.id, clock)         # the same day: all 8 hours back
        plan = await year_plan(s, done.enrollment.child.certificate, 2026)
    assert [(x.enrollment_id, x.covered, x.copay, x.unit.value) for x in done.covered] == [(b.id, 4, 0, "hours")]
    assert done.balance.available == 4 and done.balance.reserved == 20
    assert [m.reserved for m in plan.months][8:] == [5, 5, 5, 5] and plan.free == 4


async def test_the_cancellation_preview_names_the_same_coverage_and_balance(db, clock):
    on(clock, 2026, 9, 10)
    parent, _, (a, b, c) = await _family(db, clock, [2000, 1500, 1000])
    on(clock, 2026, 10, 15)
    async with db.write() as s:
        preview = await cancel_quote(s, parent, a.id, clock)
        done = await cancel(s, parent, a.id, clock)
    assert preview.covers == done.covered and len(done.covered) == 2
    assert preview.balance_after == done.balance.available == 0


async def test_freed_money_with_no_copayment_to_cover_stays_free(db, clock):
    on(clock, 2026, 9, 10)
    parent, _, (a, b) = await _family(db, clock, [1000, 1000])
    on(clock, 2026, 10, 15)
    async with db.write() as s:
        done = await cancel(s, parent, a.id, clock)
    assert done.covered == () and done.balance.available == 12000_00 - 2 * 4 * 1000_00 + 2 * 1000_00


async def test_another_childs_copayment_is_not_paid_from_this_certificate(db, clock):
    on(clock, 2026, 9, 10)
    parent, _, (a,) = await _family(db, clock, [1000])
    async with db.write() as s:
        sister = await f.child(s, parent, clock, name="Иванова Анна Сергеевна")
        dear = await f.program(s, clock, price_rub=5000)
        theirs = (await enroll(s, parent, sister.id, dear.id, clock)).enrollment  # co-pays 8 000 ₽
    async with db.write() as s:
        done = await cancel(s, parent, a.id, clock)
        assert done.covered == () and (await _charge(s, theirs.id)).copay == 8000_00


async def test_a_topped_up_month_is_settled_once_with_its_summed_amount(any_db, clock):
    db = any_db
    on(clock, 2026, 9, 10)
    parent, _, (a, b, c) = await _family(db, clock, [2000, 1500, 1000])
    on(clock, 2026, 10, 15)
    async with db.write() as s:
        await cancel(s, parent, a.id, clock)     # tops up November of B (1 000 + 500), covers C's Oct, Nov
    on(clock, 2026, 12, 1, 0)
    await settle_month(db, 2026, 11, clock)
    await settle_month(db, 2026, 11, clock)   # twice changes nothing
    async with db.write() as s:
        settled_b = await _rows(s, b.id, LedgerKind.SETTLE)
        settled_c = await _rows(s, c.id, LedgerKind.SETTLE)
        after = await balance(s, await _certificate(s, b), 2026)
    assert settled_b == [(9, 1500_00), (10, 1500_00), (11, 1500_00)]
    assert settled_c == [(10, 1000_00), (11, 1000_00)]
    # Spent: A September–October, B September–November, C October–November.
    assert after.spent == 2 * 2000_00 + 3 * 1500_00 + 2 * 1000_00 and after.reserved == 1500_00
    assert after.credited == after.available + after.reserved + after.spent + after.expired


async def test_a_topped_up_month_is_refunded_whole_in_one_row(any_db, clock):
    db = any_db
    on(clock, 2026, 9, 10)
    parent, _, (a, b, c) = await _family(db, clock, [2000, 1500, 1000])
    on(clock, 2026, 10, 15)
    async with db.write() as s:
        await cancel(s, parent, a.id, clock)     # tops up November of B (1 000 + 500), covers C's Oct, Nov
    on(clock, 2026, 10, 20)
    async with db.write() as s:
        preview = await cancel_quote(s, parent, b.id, clock)
        done = await cancel(s, parent, b.id, clock)
        refunds = await _rows(s, b.id, LedgerKind.REFUND)
        after = await balance(s, await _certificate(s, b), 2026)
    assert refunds == [(11, 1500_00), (12, 1500_00)] and preview.refund == done.refund == 3000_00
    # C's December; its September is over, so 1 000 ₽ stays its co-payment and 2 000 ₽ free.
    assert [(x.enrollment_id, x.months, x.copay) for x in done.covered] == [(c.id, ((12, 1000_00),), 1000_00)]
    assert after.available == preview.balance_after == 2000_00
    assert after.credited == after.available + after.reserved + after.spent + after.expired


async def test_a_renewals_co_payment_is_covered_in_the_new_year(any_db, clock):
    db = any_db
    on(clock, 2026, 11, 21)
    parent, _, (a, b) = await _family(db, clock, [1000, 3000], start=dt.date(2026, 9, 1), end=dt.date(2027, 5, 31))
    async with db.write() as s:
        await f.nominal(s, 2027, rubles=10000)
    on(clock, 2027, 1, 1, 0)
    await year_rollover(db, 2027, clock)
    # Renewed oldest first: A 5 × 1 000; B 5 × 3 000 gets 5 000 (January, 2 000 of February).
    async with db.read() as s:
        assert ((await _charge(s, b.id, 2027)).copay, (await _charge(s, b.id, 2027)).renewal) == (10000_00, True)
    on(clock, 2027, 2, 10)
    async with db.write() as s:
        done = await cancel(s, parent, a.id, clock)   # March–May of A: 3 000 ₽ back
        charge = await _charge(s, b.id, 2027)
    assert [(x.enrollment_id, x.year, x.months) for x in done.covered] == [
        (b.id, 2027, ((2, 1000_00), (3, 2000_00)))]
    assert (charge.covered, charge.copay) == (8000_00, 7000_00) and done.balance.available == 0
