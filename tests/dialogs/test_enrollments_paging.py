"""/enrollments reaches every enrollment and waiting place, a page at a time, each
enrollment with its cost and co-payment per year in the certificate's unit."""
from __future__ import annotations

from sqlalchemy import select

from core.models import Enrollment, EnrollmentStatus, Unit
from tests.dialogs.kit import SNILS_1, DialogClient, add_nominal, add_program, make_dialogs, snapshot

MUNI = "Город Тест"


async def enroll_in(client: DialogClient, program_id: int, child: str = "Иванова Мария") -> None:
    await client.press(f"enr:start:{program_id}")
    await client.click(child)
    await client.click("Подтвердить")
    assert "записана в программу" in client.text, client.text


async def test_ninth_enrollment_can_be_opened_and_cancelled(db, clock):
    await add_nominal(db, MUNI, 2026, 10_000_000)
    programs = [await add_program(db, clock, title=f"Кружок {n:02d}", price=150_000) for n in range(1, 11)]
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    for program_id in programs[:9]:
        await enroll_in(client, program_id)
    await client.send("/enrollments")
    first_page = [b.action for b in client.buttons() if b.action.startswith("enl:view:")]
    assert len(first_page) == 6 and "Страница 1 из 2" in client.text
    await client.click("▶")
    assert "Страница 2 из 2" in client.text
    second_page = [b.action for b in client.buttons() if b.action.startswith("enl:view:")]
    assert len(second_page) == 3 and not set(first_page) & set(second_page)
    async with db.read() as session:
        ninth = (await session.execute(select(Enrollment.id).where(Enrollment.program_id == programs[0]))).scalar_one()
    assert f"enl:view:{ninth}" in second_page      # newest first: the first one made is the ninth line
    assert "9. Кружок 01 — Иванова Мария Петровна (действует)" in client.text
    assert "2026: стоимость 3 000 ₽, без доплаты" in client.text
    await client.click("9. Кружок 01")
    assert "«Кружок 01»" in client.text and "Статус: действует" in client.text
    await client.click("Отменить запись")
    await client.click("Да, отменить")
    assert "Запись отменена" in client.text
    async with db.read() as session:
        assert (await session.get(Enrollment, ninth)).status is EnrollmentStatus.CANCELLED
    # Back on the list, the cancelled one is listed last, without a button; the rest keep theirs.
    await client.click("▶")
    assert "9. Кружок 01 — Иванова Мария Петровна (отменена)" in client.text
    assert f"enl:view:{ninth}" not in [b.action for b in client.buttons()]
    await client.click("◀")
    assert "Страница 1 из 2" in client.text


async def test_enrollment_lines_show_each_years_cost_and_copay_in_the_certificates_unit(db, clock):
    await add_nominal(db, MUNI, 2026, 20, Unit.HOURS)
    program_id = await add_program(db, clock, title="Шахматы", price=None, hours=16)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await enroll_in(client, program_id)
    await client.send("/enrollments")
    # November–December: 2 × 16 h = 32 h, the certificate's 20 h cover the rest but 12 h.
    assert "2026: стоимость 32 ч, доплата 12 ч" in client.text
    assert "Страница" not in client.text and not client.has_button("▶")


async def test_a_forged_page_shows_the_nearest_page_and_writes_nothing(db, clock):
    await add_nominal(db, MUNI, 2026, 10_000_000)
    program_id = await add_program(db, clock, title="Лепка", price=150_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await enroll_in(client, program_id)
    before = await snapshot(db)
    await client.press("enl:p:999")
    assert "1. Лепка" in client.text
    await client.press("enl:p:x")
    assert "устарела" in client.text
    assert await snapshot(db) == before
