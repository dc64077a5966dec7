"""SPEC §1 Enrollment: before confirming, the parent sees this year's cost and,
for a program that continues into later years, each later year's cost and the
share the certificate would cover at this year's nominal (an estimate)."""
from __future__ import annotations

import datetime as dt

from core.costing import YearEstimate
from core.enrollment import enroll, quote
from core.estimates import enrollment_later_years
from tests import factories as f


def on(clock, year, month, day):
    clock.set(dt.datetime(year, month, day, 12, 0))


def estimates(q) -> list[tuple[int, int, int, int]]:
    return [(e.year, e.cost, e.covered, e.copay) for e in q.later_years]


async def test_preview_shows_each_later_years_cost(db, clock):
    on(clock, 2026, 11, 21)
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=3000, start=dt.date(2026, 9, 1), end=dt.date(2028, 5, 31))
        q = await quote(s, parent, child.id, program.id, clock)
    assert (q.cost, q.covered, q.copay) == (6000_00, 6000_00, 0)   # November and December
    assert q.later_years == (
        YearEstimate(year=2027, months=[1, 2, 3, 4, 5, 9, 10, 11, 12], cost=27000_00, covered=12000_00,
                     copay=15000_00),
        YearEstimate(year=2028, months=[1, 2, 3, 4, 5], cost=15000_00, covered=12000_00, copay=3000_00),
    )


async def test_a_later_year_is_estimated_at_this_years_nominal(db, clock):
    on(clock, 2026, 12, 1)
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        await f.nominal(s, 2027, rubles=50000)      # known already, but not what the SPEC promises
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=4000)
        q = await quote(s, parent, child.id, program.id, clock)
    assert estimates(q) == [(2027, 20000_00, 12000_00, 8000_00)]


async def test_older_continuing_enrollments_take_their_share_of_later_years_first(db, clock):
    on(clock, 2026, 10, 5)
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        older = await f.program(s, clock, price_rub=1000)                       # Jan–May 2027: 5 000 ₽
        ended = await f.program(s, clock, price_rub=1000, end=dt.date(2026, 12, 31))
        newer = await f.program(s, clock, price_rub=2000)                       # Jan–May 2027: 10 000 ₽
        first = await enroll(s, parent, child.id, older.id, clock)
        await enroll(s, parent, child.id, ended.id, clock)
        q = await quote(s, parent, child.id, newer.id, clock)
        second = await enroll(s, parent, child.id, newer.id, clock)
        _, older_later = await enrollment_later_years(s, first.enrollment, 2026)
        _, newer_later = await enrollment_later_years(s, second.enrollment, 2026)
    # The ended program does not continue into 2027, so it takes nothing there.
    assert estimates(q) == [(2027, 10000_00, 7000_00, 3000_00)]
    # Each enrollment's estimate counts only the ones renewed before it.
    assert [(e.year, e.covered) for e in older_later] == [(2027, 5000_00)]
    assert [(e.year, e.covered, e.copay) for e in newer_later] == [(2027, 7000_00, 3000_00)]


async def test_a_program_starting_next_year_is_quoted_for_next_year(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=3000, start=dt.date(2027, 1, 11), end=dt.date(2027, 12, 20))
        q = await quote(s, parent, child.id, program.id, clock)
    assert q.cost == 0 and q.months == []
    assert estimates(q) == [(2027, 27000_00, 12000_00, 15000_00)]


async def test_an_hours_certificate_estimates_later_years_in_hours(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026, hours=72)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=None, hours=8, end=dt.date(2028, 5, 31))
        q = await quote(s, parent, child.id, program.id, clock)
    assert q.cost == 16
    assert estimates(q) == [(2027, 72, 72, 0), (2028, 40, 40, 0)]


async def test_a_program_ending_this_year_has_no_later_years(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, end=dt.date(2026, 12, 25))
        q = await quote(s, parent, child.id, program.id, clock)
    assert q.later_years == ()


async def test_a_program_running_for_decades_is_estimated_for_the_next_five_years(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, end=dt.date(2099, 5, 31))
        q = await quote(s, parent, child.id, program.id, clock)
    assert [e.year for e in q.later_years] == [2027, 2028, 2029, 2030, 2031]
