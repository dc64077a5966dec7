"""The whole cost before confirming: the preview shows this year and, for a
program continuing into later years, each later year's cost and the
certificate's estimated share; /enrollments shows the same estimate."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.models import Enrollment, Unit
from tests.dialogs.kit import SNILS_1, SNILS_2, DialogClient, add_nominal, add_program, count, make_dialogs

MUNI = "Город Тест"


async def parent_with_child(db, clock, *, municipality=MUNI, user_id="1", snils=SNILS_1) -> DialogClient:
    client = DialogClient(make_dialogs(db, clock), user_id=user_id)
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", snils, municipality)
    return client


async def preview(client: DialogClient, program_id: int) -> str:
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    return client.text


async def test_preview_shows_each_later_years_cost(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника", price=300_000,
                                   start=dt.date(2026, 9, 1), end=dt.date(2028, 5, 31))
    client = await parent_with_child(db, clock)
    text = await preview(client, program_id)
    # This year as before: November and December.
    for part in ("Месяцы 2026 года: ноябрь, декабрь", "Стоимость: 6 000 ₽", "Оплатит сертификат: 6 000 ₽",
                 "Доплата родителя: нет", "было 12 000 ₽, станет 6 000 ₽"):
        assert part in text, part
    # Then each later year, marked as an estimate at this year's nominal.
    assert "Следующие годы — это оценка" in text and "по номиналу 2026 года" in text
    assert ("• 2027: январь — май, сентябрь — декабрь (9 мес.) — стоимость 27 000 ₽, "
            "сертификатом ≈ 12 000 ₽, доплата ≈ 15 000 ₽") in text
    assert "• 2028: январь — май (5 мес.) — стоимость 15 000 ₽, сертификатом ≈ 12 000 ₽, доплата ≈ 3 000 ₽" in text
    assert await count(db, Enrollment) == 0


async def test_program_starting_next_year_is_not_quoted_as_free(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Весенний курс", price=200_000,
                                   start=dt.date(2027, 1, 11), end=dt.date(2027, 5, 31))
    client = await parent_with_child(db, clock)
    text = await preview(client, program_id)
    assert "Стоимость: 0 ₽" not in text
    assert "До конца 2026 года занятий по программе нет, платить в этом году не нужно" in text
    assert "Баланс сертификата не изменится: 12 000 ₽" in text
    assert "• 2027: январь — май (5 мес.) — стоимость 10 000 ₽, сертификатом ≈ 10 000 ₽, без доплаты" in text
    await client.click("Подтвердить")
    assert "записана в программу «Весенний курс»" in client.text


async def test_a_summer_camp_is_quoted_for_its_summer(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Летний лагерь", price=500_000,
                                   start=dt.date(2026, 1, 1), end=dt.date(2027, 12, 31), months="6-8")
    client = await parent_with_child(db, clock)
    text = await preview(client, program_id)
    assert "До конца 2026 года занятий по программе нет" in text
    assert "• 2027: июнь — август (3 мес.) — стоимость 15 000 ₽, сертификатом ≈ 12 000 ₽, доплата ≈ 3 000 ₽" in text


async def test_an_hours_certificate_sees_later_years_in_hours(db, clock):
    await add_nominal(db, "г. Абакан", 2026, 72, Unit.HOURS)
    program_id = await add_program(db, clock, municipality="г. Абакан", price=None, hours=8)
    client = await parent_with_child(db, clock, municipality="г. Абакан")
    text = await preview(client, program_id)
    assert "Стоимость: 16 ч" in text
    assert "• 2027: январь — май (5 мес.) — стоимость 40 ч, сертификатом ≈ 40 ч, без доплаты" in text


async def test_enrollment_details_show_each_later_years_estimate(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    older = await add_program(db, clock, title="Шахматы", price=100_000)
    newer = await add_program(db, clock, title="Робототехника", price=200_000)
    client = await parent_with_child(db, clock)
    for program_id in (older, newer):
        await preview(client, program_id)
        await client.click("Подтвердить")
    await client.send("/enrollments")
    await client.click("Робототехника")
    text = client.text
    assert "2026: 2 мес., стоимость 4 000 ₽" in text          # the charge, as before
    # 2027: the older Шахматы renews first (5 × 1 000 ₽), leaving 7 000 ₽ of this year's 12 000 ₽.
    assert "Следующие годы (оценка по номиналу 2026 года):" in text
    assert "• 2027: январь — май (5 мес.) — стоимость 10 000 ₽, сертификатом ≈ 7 000 ₽, доплата ≈ 3 000 ₽" in text
    await client.send("/enrollments")
    await client.click("Шахматы")
    assert "• 2027: январь — май (5 мес.) — стоимость 5 000 ₽, сертификатом ≈ 5 000 ₽, без доплаты" in client.text


async def test_a_cancelled_enrollment_shows_no_estimate(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Шахматы", price=100_000)
    client = await parent_with_child(db, clock, user_id="2", snils=SNILS_2)
    await preview(client, program_id)
    await client.click("Подтвердить")
    await client.send("/enrollments")
    await client.click("Шахматы")
    assert "Следующие годы" in client.text
    await client.click("Отменить запись")
    await client.click("Да, отменить")
    async with db.read() as session:
        enrollment_id = (await session.execute(select(Enrollment.id))).scalar_one()
    await client.press(f"enl:view:{enrollment_id}")
    assert "отменена" in client.text and "Следующие годы" not in client.text


async def test_a_program_card_names_its_study_months(db, clock):
    camp = await add_program(db, clock, title="Летний лагерь", months="6-8",
                             start=dt.date(2026, 1, 1), end=dt.date(2027, 8, 31))
    school = await add_program(db, clock, title="Робототехника")
    winter = await add_program(db, clock, title="Лыжи", months="1-3,11-12")
    client = await parent_with_child(db, clock)
    await client.press(f"card:{camp}")
    assert "Месяцы занятий: июнь — август" in client.text
    await client.press(f"card:{school}")
    assert "Месяцы занятий: сентябрь — май" in client.text      # the default: no summer
    await client.press(f"card:{winter}")
    assert "Месяцы занятий: ноябрь — март" in client.text


async def test_enrollment_ahead_of_a_programs_first_year_shows_no_empty_charge(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Весенний курс", price=200_000,
                                   start=dt.date(2027, 1, 11), end=dt.date(2027, 5, 31))
    client = await parent_with_child(db, clock)
    await preview(client, program_id)
    await client.click("Подтвердить")
    await client.send("/enrollments")
    await client.click("Весенний курс")
    assert "2026:" not in client.text and "стоимость 0 ₽" not in client.text
    assert "• 2027: январь — май (5 мес.) — стоимость 10 000 ₽, сертификатом ≈ 10 000 ₽" in client.text


async def test_summer_months_are_not_charged_in_the_preview(db, clock):
    clock.set(dt.datetime(2026, 5, 20, 12, 0))
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Шахматы", price=100_000,
                                   start=dt.date(2025, 9, 1), end=dt.date(2026, 12, 20))
    client = await parent_with_child(db, clock)
    text = await preview(client, program_id)
    assert "Месяцы 2026 года: май, сентябрь — декабрь" in text and "Стоимость: 5 000 ₽" in text
