"""SPEC §2 seed-demo / run: a demo catalog a parent can try every rule on."""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.catalog import SearchFilters, search
from core.costing import payable_months
from core.demo import catalog_is_empty, demo_rows, seed_demo
from core.importer import validate_row
from core.models import Category, Funding, Municipality, Nominal, Program, ProviderKind, Unit


async def all_programs(db) -> list[Program]:
    async with db.read() as session:
        return list((await session.execute(select(Program))).scalars())


async def test_the_demo_catalog_covers_the_whole_domain(db, clock):
    assert await catalog_is_empty(db)
    report = await seed_demo(db, clock)
    assert not await catalog_is_empty(db)
    programs = await all_programs(db)
    assert report.created == len(programs) >= 60
    assert len({p.municipality_id for p in programs}) == 3
    assert {p.category for p in programs} == set(Category)
    assert {p.funding for p in programs} == set(Funding)
    assert {p.provider_kind for p in programs} == set(ProviderKind)
    covered = {age for p in programs for age in range(p.age_min, p.age_max + 1)}
    assert set(range(5, 18)) <= covered
    prices = {p.price_per_month for p in programs if p.price_per_month}
    assert min(prices) <= 150_000 and max(prices) >= 550_000     # 1 500 … 6 000 ₽ a month
    assert any(p.seats == 1 for p in programs) and any(1 < p.seats <= 2 for p in programs)
    assert any(p.start_date > clock.today() for p in programs)              # starting next year
    assert any(p.end_date.year >= clock.today().year + 2 for p in programs)  # multi-year


async def test_the_demo_catalog_has_a_summer_camp_and_programs_with_their_own_months(db, clock):
    report = await seed_demo(db, clock)
    programs = await all_programs(db)
    assert report.created == len(programs) == 66             # 21 per municipality + 3 with their own months
    own = {p.external_id: p for p in programs if p.study_months is not None}
    assert {p.study_months for p in own.values()} == {"6-8", "1-12", "1-3,11-12"}
    camp = next(p for p in own.values() if p.study_months == "6-8")
    assert camp.funding is Funding.CERTIFICATE and payable_months(camp, clock.today().year + 1) == [6, 7, 8]
    assert sum(p.study_months is None for p in programs) == 62   # the default: all but June–August


async def test_this_years_nominals_are_two_in_rubles_and_one_in_hours(db, clock):
    await seed_demo(db, clock)
    async with db.read() as session:
        nominals = list((await session.execute(select(Nominal))).scalars())
    assert {n.year for n in nominals} == {clock.today().year}
    assert sorted((n.unit, n.amount) for n in nominals) == sorted(
        [(Unit.RUB, 1_200_000), (Unit.RUB, 1_500_000), (Unit.HOURS, 72)])


async def test_programs_in_the_hours_municipality_carry_hours(db, clock):
    await seed_demo(db, clock)
    async with db.read() as session:
        hours_town = (await session.execute(
            select(Nominal.municipality_id).where(Nominal.unit == Unit.HOURS))).scalar_one()
    in_hours_town = [p for p in await all_programs(db) if p.municipality_id == hours_town]
    assert len(in_hours_town) >= 20
    assert all(p.hours_per_month for p in in_hours_town if p.funding is not Funding.PAID)


async def test_seeding_twice_creates_no_duplicates(db, clock):
    first = await seed_demo(db, clock)
    second = await seed_demo(db, clock)
    assert second.created == 0 and second.unchanged == first.created
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Program))).scalar_one() == first.created
        assert (await session.execute(select(func.count()).select_from(Municipality))).scalar_one() == 3
        assert (await session.execute(select(func.count()).select_from(Nominal))).scalar_one() == 3


async def test_the_demo_catalog_is_searchable_on_the_day_it_is_loaded(db, clock):
    await seed_demo(db, clock)
    async with db.read() as session:
        shown = await search(session, SearchFilters(), clock=clock)
        robots = await search(session, SearchFilters(words="робототехника"), clock=clock)
    assert shown.total >= 55
    assert robots.total >= 3


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2040, 12, 31)))
def test_demo_rows_are_valid_import_rows_on_any_day(today):
    rows = demo_rows(today)
    ids = [validate_row(row)["external_id"] for row in rows]
    assert len(set(ids)) == len(ids)
