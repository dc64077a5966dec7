"""Issue 13, the import: optional columns phone, email, website (by header name, after
description), each checked and normalised; a value that does not parse refuses the file
with its line and reason; the schedule parsed into lessons, and a schedule the parser
does not understand imported as text with a warning (the CLI prints it)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from core.importer import COLUMNS, ImportRejected, import_file, import_rows
from core.models import Program
from core.municipalities import register
from tests.unit.test_import import run_cli

TOWN = "г. Пятигорск"


@pytest.fixture
async def db(db):
    async with db.write() as session:
        await register(session, TOWN)
    return db


@pytest.fixture
async def any_db(any_db):
    async with any_db.write() as session:
        await register(session, TOWN)
    return any_db


def row(external_id: str, **overrides: str) -> dict[str, str]:
    values = {
        "external_id": external_id, "title": "Шахматы", "provider": "ЦДТ", "provider_kind": "municipal",
        "municipality": TOWN, "category": "sport", "age_min": "6", "age_max": "15",
        "price_per_month": "2000", "hours_per_month": "8", "start_date": "2026-09-01",
        "end_date": "2027-05-31", "address": "ул. Ленина 1", "schedule": "Сб 11:00–12:30", "seats": "16",
        "funding": "certificate", "description": "",
    }
    values.update(overrides)
    return values


def csv_file(tmp_path: Path, rows: list[dict[str, str]], extra: tuple[str, ...] = ()) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *extra])
    for values in rows:
        writer.writerow([values.get(column, "") for column in (*COLUMNS, *extra)])
    path = tmp_path / "programs.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


async def stored(db) -> dict[str, Program]:
    async with db.read() as session:
        return {p.external_id: p for p in (await session.execute(select(Program))).scalars()}


async def test_contact_columns_after_description_are_stored_normalised(any_db, clock, tmp_path):
    db = any_db
    path = csv_file(tmp_path, [
        row("A", phone="8 (8793) 33-12-45", email="Info@CDT26.RU", website="cdt26.ru"),
        row("B", phone="+7 928 123 45 67", email="", website="https://cdt26.ru/kruzhki?id=5"),
    ], extra=("phone", "email", "website"))
    report = await import_file(db, path, clock)
    assert report.created == 2 and report.warnings == []
    found = await stored(db)
    assert (found["A"].phone, found["A"].email, found["A"].website) == (
        "+7 879 333-12-45", "Info@cdt26.ru", "https://cdt26.ru")
    assert (found["B"].phone, found["B"].email, found["B"].website) == (
        "+7 928 123-45-67", None, "https://cdt26.ru/kruzhki?id=5")


async def test_the_old_column_set_still_imports_without_contacts(db, clock, tmp_path):
    report = await import_file(db, csv_file(tmp_path, [row("A")]), clock)
    assert report.created == 1
    program = (await stored(db))["A"]
    assert (program.phone, program.email, program.website) == (None, None, None)


async def test_optional_columns_may_come_in_any_order_with_months(db, clock, tmp_path):
    path = csv_file(tmp_path, [row("A", website="http://сайт.рф", months="9-12,1-5", phone="89281234567")],
                    extra=("website", "months", "phone"))
    await import_file(db, path, clock)
    program = (await stored(db))["A"]
    assert (program.website, program.phone, program.study_months) == (
        "http://сайт.рф", "+7 928 123-45-67", "1-5,9-12")


@pytest.mark.parametrize("column, value, reason", [
    ("phone", "123-45", "phone '123-45' is not a Russian number"),
    ("phone", "+1 202 555 0100", "is not a Russian number"),
    ("phone", "звонить вечером", "is not a Russian number"),
    ("email", "info@", "email 'info@' is not an e-mail address"),
    ("email", "info cdt@mail.ru", "is not an e-mail address"),
    ("website", "ftp://cdt26.ru", "website 'ftp://cdt26.ru' is not a web address"),
    ("website", "cdt26", "is not a web address"),
    ("website", "javascript:alert(1)", "is not a web address"),
])
async def test_a_contact_that_does_not_parse_refuses_the_file_with_its_line(db, clock, tmp_path,
                                                                            column, value, reason):
    path = csv_file(tmp_path, [row("A"), row("B", **{column: value})], extra=(column,))
    with pytest.raises(ImportRejected) as refusal:
        await import_file(db, path, clock)
    assert [(p.line, reason in p.reason) for p in refusal.value.problems] == [(3, True)]
    assert await stored(db) == {}, "nothing imported"


async def test_json_rows_take_the_contacts_by_key(db, clock, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps([row("J", phone="+79281234567", email="a@b.ru", website="www.b.ru")],
                               ensure_ascii=False), encoding="utf-8")
    await import_file(db, path, clock)
    program = (await stored(db))["J"]
    assert (program.phone, program.email, program.website) == ("+7 928 123-45-67", "a@b.ru", "https://www.b.ru")


async def test_a_phone_given_as_a_json_number_is_refused(db, clock):
    with pytest.raises(ImportRejected) as refusal:
        await import_rows(db, [{**row("J"), "phone": 89281234567}], clock)
    assert "phone must be text" in refusal.value.problems[0].reason


async def test_a_parsed_schedule_is_stored_as_lessons(any_db, clock, tmp_path):
    db = any_db
    await import_file(db, csv_file(tmp_path, [row("A", schedule="пн, ср 16:00–17:30; сб 10.00-12.00")]), clock)
    assert (await stored(db))["A"].lessons == "1 16:00-17:30;3 16:00-17:30;6 10:00-12:00"


async def test_an_unparsed_schedule_imports_as_text_with_a_warning(db, clock, tmp_path):
    path = csv_file(tmp_path, [row("A"), row("B", schedule="по договорённости"), row("C", schedule="")])
    report = await import_file(db, path, clock)
    assert report.created == 3
    assert [(w.line, w.reason) for w in report.warnings] == [
        (3, "schedule 'по договорённости' not understood: imported as text, no lessons")]
    found = await stored(db)
    assert found["B"].schedule == "по договорённости" and found["B"].lessons is None
    assert found["C"].lessons is None


async def test_a_changed_schedule_updates_the_lessons(db, clock, tmp_path):
    await import_file(db, csv_file(tmp_path, [row("A")]), clock)
    report = await import_file(db, csv_file(tmp_path, [row("A", schedule="Вт 15:00-16:00")]), clock)
    assert report.updated == 1
    assert (await stored(db))["A"].lessons == "2 15:00-16:00"


def test_cli_prints_the_warnings_of_an_import(tmp_path):
    assert run_cli(tmp_path, "municipality", "add", TOWN).returncode == 0
    path = csv_file(tmp_path, [row("A"), row("B", schedule="по субботам утром")])
    result = run_cli(tmp_path, "import-programs", str(path))
    assert result.returncode == 0, result.stderr
    assert "2 new" in result.stdout
    assert "1 warning(s):" in result.stdout
    assert "line 3: schedule 'по субботам утром' not understood" in result.stdout
