"""SPEC §1 Money: the available balance never goes below zero, under any concurrency.

50 enrollments of one child (no certificate yet) in 50 programs arrive at
once; exactly one certificate is issued, nothing is overdrawn, sums are exact.
"""
import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from core.certificates import balance
from core.enrollment import cancel, enroll
from core.errors import DomainError
from core.models import Certificate, Charge, Enrollment, LedgerEntry, LedgerKind, Parent
from tests import factories as f

N = 50


async def _setup(database, clock, programs=N, seats=100):
    async with database.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program_ids = [(await f.program(s, clock, price_rub=1000, seats=seats)).id for _ in range(programs)]
    return parent.id, child.id, program_ids


async def _enroll(database, clock, parent_id, child_id, program_id):
    async with database.write() as s:
        parent = await s.get(Parent, parent_id)
        return await enroll(s, parent, child_id, program_id, clock)


async def _check_exact(database, expected_enrollments):
    async with database.read() as s:
        certificates = (await s.execute(select(Certificate))).scalars().all()
        assert len(certificates) == 1
        b = await balance(s, certificates[0], 2026)
        enrollments = (await s.execute(select(func.count()).select_from(Enrollment))).scalar()
        covered = (await s.execute(select(func.sum(Charge.covered)))).scalar()
        reserved = (await s.execute(select(func.sum(LedgerEntry.amount))
                                    .where(LedgerEntry.kind == LedgerKind.RESERVE))).scalar()
    assert enrollments == expected_enrollments
    assert b.available >= 0
    assert b.credited == 12000_00 == b.available + b.reserved + b.spent + b.expired
    assert covered == reserved == b.reserved
    return b


async def _fifty_at_once(database, clock):
    parent_id, child_id, program_ids = await _setup(database, clock)
    results = await asyncio.gather(*(_enroll(database, clock, parent_id, child_id, p) for p in program_ids),
                                   return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    issued = [r for r in results if r.certificate_issued]
    assert len(issued) == 1
    b = await _check_exact(database, N)
    # Each program costs 2 months × 1 000 ₽; 12 000 ₽ covers exactly 6 of them in full.
    assert b.available == 0 and b.reserved == 12000_00
    assert sum(r.quote.covered for r in results) == 12000_00


async def test_fifty_concurrent_enrollments_on_a_sqlite_file(db, clock):
    await _fifty_at_once(db, clock)


@pytest.mark.postgres
async def test_fifty_concurrent_enrollments_on_postgresql(pg_db, clock):
    await _fifty_at_once(pg_db, clock)


async def _last_seat(database, clock):
    async with database.write() as s:
        await f.nominal(s, 2026)
        program = await f.program(s, clock, seats=1)
        pairs = []
        for _ in range(20):
            p = await f.parent(s, clock)
            c = await f.child(s, p, clock)
            pairs.append((p.id, c.id))
    results = await asyncio.gather(*(_enroll(database, clock, p, c, program.id) for p, c in pairs),
                                   return_exceptions=True)
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(ok) == 1 and len(refused) == 19 and {r.reason for r in refused} == {"no_seats"}


async def test_twenty_parents_race_for_the_last_seat(any_db, clock):
    await _last_seat(any_db, clock)


async def test_concurrent_cancellations_refund_once(any_db, clock):
    parent_id, child_id, program_ids = await _setup(any_db, clock, programs=1)
    result = await _enroll(any_db, clock, parent_id, child_id, program_ids[0])

    async def _cancel():
        async with any_db.write() as s:
            return await cancel(s, await s.get(Parent, parent_id), result.enrollment.id, clock)

    outcomes = await asyncio.gather(*(_cancel() for _ in range(10)), return_exceptions=True)
    assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 1
    assert {o.reason for o in outcomes if isinstance(o, DomainError)} == {"not_active"}
    async with any_db.read() as s:
        refunds = (await s.execute(select(func.count()).select_from(LedgerEntry)
                                   .where(LedgerEntry.kind == LedgerKind.REFUND))).scalar()
    assert refunds == 2  # November and December, once each


async def test_concurrent_cancellations_cover_the_next_co_payments_exactly(any_db, clock):
    """Ten programs of one child: 12 000 ₽ covers the first six; cancelling those six at once
    pays the other four's co-payments in full, each month once, and leaves 4 000 ₽ free."""
    parent_id, child_id, program_ids = await _setup(any_db, clock, programs=10)
    results = []
    for program_id in program_ids:
        results.append(await _enroll(any_db, clock, parent_id, child_id, program_id))
        clock.advance(minutes=1)
    assert [r.quote.copay for r in results] == [0] * 6 + [2000_00] * 4

    async def _cancel(enrollment_id):
        async with any_db.write() as s:
            return await cancel(s, await s.get(Parent, parent_id), enrollment_id, clock)

    outcomes = await asyncio.gather(*(_cancel(r.enrollment.id) for r in results[:6]), return_exceptions=True)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    covered = sorted(c.enrollment_id for o in outcomes for c in o.covered)
    assert covered == [r.enrollment.id for r in results[6:]]
    async with any_db.read() as s:
        b = await balance(s, (await s.execute(select(Certificate))).scalar_one(), 2026)
        charges = (await s.execute(select(Charge.copay, Charge.covered).join(Enrollment)
                                   .where(Enrollment.status == "active"))).all()
        per_month = (await s.execute(
            select(LedgerEntry.enrollment_id, LedgerEntry.month, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.kind == LedgerKind.RESERVE)
            .group_by(LedgerEntry.enrollment_id, LedgerEntry.month))).all()
    assert charges == [(0, 2000_00)] * 4
    assert all(amount == 1000_00 for *_, amount in per_month)
    assert b.available == 4000_00 and b.reserved == 8000_00
    assert b.credited == b.available + b.reserved + b.spent + b.expired
