"""SPEC §1 Enrollment, study months: a program is taught in every month of its
dates except June–August unless it lists its own (import column `months`);
the cost of a year counts only the study months within the dates."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.costing import payable_months
from core.enrollment import enroll, quote
from core.errors import DomainError
from core.importer import COLUMNS, ImportRejected, import_file, parse_csv
from tests.unit.test_import import register_towns
from core.models import Charge, LedgerEntry, LedgerKind, Program
from core.calendar_jobs import year_rollover
from core.study_months import DEFAULT_MONTHS, MonthsInvalid, canonical, parse_months, study_months
from tests import factories as f

HEADER = ",".join(COLUMNS)


# The import tests' towns are registered first, as an operator does before importing.
@pytest.fixture
async def db(db):
    await register_towns(db)
    return db


@pytest.fixture
async def any_db(any_db):
    await register_towns(any_db)
    return any_db


def on(clock, year, month, day, hour=12):
    clock.set(dt.datetime(year, month, day, hour, 0))


# --- the parser -------------------------------------------------------------

@pytest.mark.parametrize("text, months", [
    ("9-12,1-5", {1, 2, 3, 4, 5, 9, 10, 11, 12}),
    ("9-5", {1, 2, 3, 4, 5, 9, 10, 11, 12}),           # a range may wrap over New Year
    ("6,7,8", {6, 7, 8}),
    ("1-12", set(range(1, 13))),
    (" 11 - 3 ", {11, 12, 1, 2, 3}),
    ("9–12, 1–5", {1, 2, 3, 4, 5, 9, 10, 11, 12}),      # a spreadsheet's en dash
    ("7", {7}),
    ("3-3", {3}),
])
def test_months_are_numbers_and_inclusive_ranges_that_may_wrap(text, months):
    assert parse_months(text) == months


@pytest.mark.parametrize("text, reason", [
    ("13", "month 13 is not between 1 and 12"),
    ("0", "month 0 is not between 1 and 12"),
    ("abc", "'abc' is not a month number 1-12 or a range like 9-12"),
    ("5-", "range '5-' needs a month on both sides"),
    ("9-12,,1-5", "an empty piece between commas"),
    ("9-12,", "an empty piece between commas"),
    ("-3", "month '-3' is not between 1 and 12"),
    ("1-13", "month 13 is not between 1 and 12"),
    ("1-2-3", "'1-2-3' is not a month number 1-12 or a range like 9-12"),
    ("٣", "'٣' is not a month number 1-12 or a range like 9-12"),
])
def test_bad_months_are_refused_with_the_reason(text, reason):
    with pytest.raises(MonthsInvalid) as refusal:
        parse_months(text)
    assert str(refusal.value) == reason


def test_without_months_a_program_is_taught_all_year_but_summer():
    assert study_months(None) == DEFAULT_MONTHS == frozenset({1, 2, 3, 4, 5, 9, 10, 11, 12})
    assert canonical(DEFAULT_MONTHS) == "1-5,9-12"


@given(st.sets(st.integers(min_value=1, max_value=12), min_size=1))
def test_the_stored_form_reads_back_as_the_same_months(months):
    assert parse_months(canonical(months)) == months
    assert len(canonical(months)) <= 40   # fits Program.study_months


# --- the cost rule ------------------------------------------------------------

def _program(start, end, months=None) -> Program:
    return Program(start_date=start, end_date=end, study_months=months)


def test_summer_months_are_not_charged():
    whole_year = _program(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert payable_months(whole_year, 2026) == [1, 2, 3, 4, 5, 9, 10, 11, 12]
    assert payable_months(whole_year, 2026, 6) == [9, 10, 11, 12]


def test_study_months_only_narrow_the_dates():
    camp = _program(dt.date(2026, 7, 1), dt.date(2027, 12, 31), "6-8")
    assert payable_months(camp, 2026) == [7, 8]          # June 2026 is before the start
    assert payable_months(camp, 2027) == [6, 7, 8]
    assert payable_months(camp, 2026, 9) == []
    all_year = _program(dt.date(2026, 3, 10), dt.date(2026, 10, 5), "1-12")
    assert payable_months(all_year, 2026) == [3, 4, 5, 6, 7, 8, 9, 10]
    winter = _program(dt.date(2026, 9, 1), dt.date(2027, 5, 31), "11-2")
    assert payable_months(winter, 2026) == [11, 12] and payable_months(winter, 2027) == [1, 2]


async def test_a_summer_camp_costs_its_summer_months(db, clock):
    on(clock, 2026, 5, 20)
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=30000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        camp = await f.program(s, clock, price_rub=4000, start=dt.date(2026, 6, 1), end=dt.date(2026, 8, 31))
        camp.study_months = "6-8"
        q = await quote(s, parent, child.id, camp.id, clock)
    assert q.months == [6, 7, 8] and q.cost == 3 * 4000_00 and q.later_years == ()


async def test_a_program_whose_last_study_month_is_past_cannot_be_enrolled(db, clock):
    on(clock, 2026, 9, 10)
    async with db.write() as s:
        await f.nominal(s, 2026)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        camp = await f.program(s, clock, start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
        camp.study_months = "6-8"
        with pytest.raises(DomainError) as refusal:
            await quote(s, parent, child.id, camp.id, clock)
    assert refusal.value.reason == "no_months_left"


async def test_renewal_does_not_charge_the_summer(db, clock):
    on(clock, 2026, 11, 2)
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        await f.nominal(s, 2027, rubles=40000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=3000, start=dt.date(2026, 9, 1), end=dt.date(2028, 5, 31))
        result = await enroll(s, parent, child.id, program.id, clock)
    on(clock, 2027, 1, 1, 0)
    await year_rollover(db, 2027, clock)
    async with db.read() as s:
        charge = (await s.execute(select(Charge).where(Charge.year == 2027))).scalar_one()
        reserved = sorted((await s.execute(select(LedgerEntry.month).where(
            LedgerEntry.kind == LedgerKind.RESERVE, LedgerEntry.year == 2027,
            LedgerEntry.enrollment_id == result.enrollment.id))).scalars())
    assert charge.months == 9 and charge.cost == 9 * 3000_00
    assert reserved == [1, 2, 3, 4, 5, 9, 10, 11, 12]


# --- the import column ----------------------------------------------------------

def _line(external_id: str, months: str | None = None, **overrides: str) -> str:
    values = {
        "external_id": external_id, "title": "Лагерь", "provider": "ЦДТ", "provider_kind": "municipal",
        "municipality": "г. Пятигорск", "category": "sport", "age_min": "6", "age_max": "15",
        "price_per_month": "2000", "hours_per_month": "8", "start_date": "2026-01-01",
        "end_date": "2027-12-31", "address": "ул. Ленина 1", "schedule": "Сб 11:00", "seats": "16",
        "funding": "certificate", "description": "",
    }
    values.update(overrides)
    cells = [values[column] for column in COLUMNS]
    if months is not None:
        cells.append(f'"{months}"')
    return ",".join(cells)


async def _stored(db) -> dict[str, str | None]:
    async with db.read() as s:
        return {p.external_id: p.study_months for p in (await s.execute(select(Program))).scalars()}


async def test_the_months_column_is_read_by_its_header_name(any_db, clock, tmp_path: Path):
    path = tmp_path / "programs.csv"
    path.write_text("\n".join([HEADER + ",months", _line("A", "9-5"), _line("B", "6,7,8"),
                               _line("C", "1-12"), _line("D", "")]) + "\n", encoding="utf-8")
    report = await import_file(any_db, path, clock)
    assert report.created == 4
    assert await _stored(any_db) == {"A": "1-5,9-12", "B": "6-8", "C": "1-12", "D": None}
    # The same file again changes nothing (the stored form compares equal).
    again = await import_file(any_db, path, clock)
    assert again.unchanged == 4 and again.updated == 0


async def test_a_file_without_the_months_column_still_imports(any_db, clock, tmp_path: Path):
    path = tmp_path / "programs.csv"
    path.write_text("\n".join([HEADER, _line("A")]) + "\n", encoding="utf-8")
    assert (await import_file(any_db, path, clock)).created == 1
    assert await _stored(any_db) == {"A": None}


async def test_the_months_key_in_json(any_db, clock, tmp_path: Path):
    base = dict(zip(COLUMNS, _line("X").split(",")))
    rows = [{**base, "external_id": "A", "months": "6,7,8"}, {**base, "external_id": "B", "months": [6, 7, 8]},
            {**base, "external_id": "C", "months": 7}, {**base, "external_id": "D"}]
    path = tmp_path / "programs.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    await import_file(any_db, path, clock)
    assert await _stored(any_db) == {"A": "6-8", "B": "6-8", "C": "7", "D": None}


async def test_bad_months_refuse_the_whole_file_naming_each_line(db, clock, tmp_path: Path):
    path = tmp_path / "programs.csv"
    path.write_text("\n".join([
        HEADER + ",months", _line("OK", "9-5"), _line("A", "13"), _line("B", "0"), _line("C", "abc"),
        _line("D", "5-"), _line("E", "9-12,,1-5"),
        _line("F", "6-8", start_date="2026-09-01", end_date="2027-05-31"),
    ]) + "\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as refusal:
        await import_file(db, path, clock)
    problems = [(p.line, p.reason) for p in refusal.value.problems]
    assert problems == [
        (3, "months '13': month 13 is not between 1 and 12"),
        (4, "months '0': month 0 is not between 1 and 12"),
        (5, "months 'abc': 'abc' is not a month number 1-12 or a range like 9-12"),
        (6, "months '5-': range '5-' needs a month on both sides"),
        (7, "months '9-12,,1-5': an empty piece between commas"),
        (8, "months 6-8 never fall between start_date and end_date"),
    ]
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Program))).scalar_one() == 0


async def test_a_months_value_of_the_wrong_kind_in_json_is_refused(db, clock, tmp_path: Path):
    base = dict(zip(COLUMNS, _line("X").split(",")))
    path = tmp_path / "programs.json"
    path.write_text(json.dumps([{**base, "months": {"from": 9}}, {**base, "external_id": "Y", "months": [13]}]),
                    encoding="utf-8")
    with pytest.raises(ImportRejected) as refusal:
        await import_file(db, path, clock)
    assert [p.reason for p in refusal.value.problems] == [
        "months must be text like 9-12,1-5", "months '13': month 13 is not between 1 and 12"]


def test_an_unknown_optional_column_is_still_refused(tmp_path: Path):
    with pytest.raises(ImportRejected) as refusal:
        parse_csv(HEADER + ",mnths\n")
    assert [(p.line, p.reason) for p in refusal.value.problems] == [(1, "unknown column 'mnths'")]


async def test_a_program_starting_years_ahead_can_be_enrolled(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        later = await f.program(s, clock, start=dt.date(2034, 9, 1), end=dt.date(2035, 5, 31))
        q = await quote(s, parent, child.id, later.id, clock)
    assert q.months == [] and q.cost == 0


@pytest.mark.parametrize(("start", "end", "months", "shown"), [
    (dt.date(2027, 2, 1), dt.date(2027, 6, 30), None, "февраль — май"),     # summer off, within its dates
    (dt.date(2026, 9, 1), dt.date(2027, 5, 31), None, "сентябрь — май"),
    (dt.date(2026, 9, 1), dt.date(2029, 5, 31), None, "сентябрь — май"),     # several years: the study months
    (dt.date(2026, 11, 1), dt.date(2027, 3, 31), "11-3", "ноябрь — март"),
])
def test_a_card_names_the_months_taught_within_the_programs_dates(start, end, months, shown):
    from types import SimpleNamespace

    from bot.dialogs.find import card_months_text

    program = SimpleNamespace(start_date=start, end_date=end, study_months=months)
    assert card_months_text(program) == shown
