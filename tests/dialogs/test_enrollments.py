"""/enrollments: list → details → cancel with the refund shown first → done."""
from __future__ import annotations

from core.models import Enrollment, EnrollmentStatus, LedgerEntry, Unit
from sqlalchemy import select
from tests.dialogs.kit import (
    SNILS_1,
    SNILS_2,
    DialogClient,
    add_nominal,
    add_program,
    count,
    make_dialogs,
    snapshot,
)

MUNI = "Город Тест"


async def enrolled(db, clock, user_id="1", snils=SNILS_1, dialogs=None) -> tuple[DialogClient, int]:
    program_id = await add_program(db, clock, title=f"Робототехника {user_id}", price=150_000)
    client = DialogClient(dialogs or make_dialogs(db, clock), user_id=user_id)
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", snils, MUNI)
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    await client.click("Подтвердить")
    async with db.read() as session:
        enrollment_id = (await session.execute(
            select(Enrollment.id).where(Enrollment.program_id == program_id))).scalar_one()
    return client, enrollment_id


async def test_cancel_shows_the_refund_then_refunds(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    client, enrollment_id = await enrolled(db, clock)
    await client.send("/enrollments")
    assert "Робототехника 1 — Иванова Мария Петровна (действует)" in client.text
    await client.click("Робототехника 1")
    assert "Статус: действует" in client.text and "Дата записи: 21.11.2026" in client.text
    assert "сертификатом 3 000 ₽" in client.text
    await client.click("Отменить запись")
    text = client.text
    assert "На сертификат вернётся: 3 000 ₽" in text and "было 9 000 ₽, станет 12 000 ₽" in text
    assert await count(db, LedgerEntry) == 3
    await client.click("Нет, оставить")
    assert "Статус: действует" in client.text
    await client.click("Отменить запись")
    await client.click("Да, отменить")
    assert "Запись отменена. Вернулось на сертификат: 3 000 ₽" in client.text
    assert "доступно 12 000 ₽, зарезервировано 0 ₽" in client.text
    assert "(отменена)" in client.text
    async with db.read() as session:
        status = (await session.execute(select(Enrollment.status))).scalar_one()
    assert status is EnrollmentStatus.CANCELLED


async def test_cancelling_twice_is_refused(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    client, enrollment_id = await enrolled(db, clock)
    await client.press(f"cancel:yes:{enrollment_id}")
    before = await snapshot(db)
    await client.press(f"cancel:yes:{enrollment_id}")
    assert "уже отменена" in client.text
    await client.press(f"cancel:ask:{enrollment_id}")
    assert "уже отменена" in client.text
    assert await snapshot(db) == before


async def test_another_parents_enrollment_cannot_be_seen_or_cancelled(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    owner, enrollment_id = await enrolled(db, clock)
    stranger, _ = await enrolled(db, clock, user_id="2", snils=SNILS_2, dialogs=owner.dialogs)
    before = await snapshot(db)
    for action in (f"enl:view:{enrollment_id}", f"cancel:ask:{enrollment_id}", f"cancel:yes:{enrollment_id}"):
        await stranger.press(action)
        assert "Запись не найдена среди ваших" in stranger.text, action
    assert await snapshot(db) == before
    async with db.read() as session:
        status = (await session.execute(select(Enrollment.status).where(Enrollment.id == enrollment_id))).scalar_one()
    assert status is EnrollmentStatus.ACTIVE


async def test_no_enrollments_offers_the_search(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.send("/enrollments")
    assert "Записей пока нет" in client.text and client.has_button("Найти кружок")


async def enroll_more(client: DialogClient, program_id: int) -> None:
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    await client.click("Подтвердить")


async def test_a_cancellation_names_each_programs_new_copayment(db, clock):
    """Freed money covers the child's other co-payments first, oldest enrollment first;
    the parent sees it before confirming and in the confirmation, and /enrollments and
    /balance show the new figures."""
    await add_nominal(db, MUNI, 2026, 1_200_000)
    chess = await add_program(db, clock, title="Шахматы", price=300_000)          # Nov + Dec: 6 000 ₽
    robots = await add_program(db, clock, title="Робототехника", price=400_000)   # 6 000 covered, 2 000 co-paid
    guitar = await add_program(db, clock, title="Гитара", price=500_000)          # 10 000 co-paid
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    for program_id in (chess, robots, guitar):
        await enroll_more(client, program_id)
        clock.advance(minutes=1)
    clock.advance(days=1)      # not the enrollment's day: December of «Шахматы» comes back
    await client.send("/enrollments")
    await client.click("Робототехника")
    assert "сертификатом 6 000 ₽, доплата 2 000 ₽" in client.text
    await client.send("/enrollments")
    await client.click("Шахматы")
    await client.click("Отменить запись")
    ask = client.text
    assert "На сертификат вернётся: 3 000 ₽" in ask and "было 0 ₽, станет 0 ₽" in ask
    assert "покроют доплату по другим записям" in ask
    assert "«Робототехника»: доплаты не будет (было 2 000 ₽)" in ask
    assert "«Гитара»: доплата станет 9 000 ₽ (было 10 000 ₽)" in ask
    await client.click("Да, отменить")
    done = client.text
    assert "Вернулось на сертификат: 3 000 ₽" in done
    assert "«Робототехника»: доплаты больше нет" in done and "«Гитара»: доплата теперь 9 000 ₽" in done
    assert "доступно 0 ₽, зарезервировано 12 000 ₽" in done
    await client.click("Робототехника")
    assert "сертификатом 8 000 ₽, без доплаты" in client.text
    await client.send("/balance")
    assert "Доступно: 0 ₽" in client.text and "Зарезервировано: 12 000 ₽" in client.text


async def test_a_cancellation_on_an_hours_certificate_names_the_new_copayment_in_hours(db, clock):
    await add_nominal(db, MUNI, 2026, 20, Unit.HOURS)
    drawing = await add_program(db, clock, title="Рисование", price=None, hours=4)   # 8 h
    dance = await add_program(db, clock, title="Танцы", price=None, hours=8)         # 12 h of 16
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await enroll_more(client, drawing)
    clock.advance(minutes=1)
    await enroll_more(client, dance)
    clock.advance(hours=1)     # the same day: all 8 hours come back
    await client.send("/enrollments")
    await client.click("Рисование")
    await client.click("Отменить запись")
    assert "«Танцы»: доплаты не будет (было 4 ч)" in client.text
    await client.click("Да, отменить")
    assert "Вернулось на сертификат: 8 ч" in client.text and "«Танцы»: доплаты больше нет" in client.text
    assert "доступно 4 ч, зарезервировано 16 ч" in client.text
