"""/balance: status, number, nominal = available + reserved + spent, and the year's plan."""
from __future__ import annotations

from sqlalchemy import select

from core.models import Certificate
from tests.dialogs.kit import SNILS_1, SNILS_2, DialogClient, add_nominal, add_program, make_dialogs

MUNI = "Город Тест"


async def test_balance_before_and_after_the_first_enrollment(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, price=150_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.send("/balance")
    assert "ещё не добавили детей" in client.text and client.has_button("Добавить ребёнка")
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await client.add_child("Петров Пётр", "01.01.2012", SNILS_2, MUNI)
    await client.send("/balance")
    assert "ещё не выпущен — выпустится при первой записи" in client.text
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    await client.click("Подтвердить")

    await client.send("/balance")
    async with db.read() as session:
        number = (await session.execute(select(Certificate.number))).scalar_one()
    text = client.text
    assert f"Иванова Мария Петровна: сертификат № {number}, статус «с номиналом»" in text
    for part in ("Номинал 2026: 12 000 ₽", "Доступно: 9 000 ₽", "Зарезервировано: 3 000 ₽", "Потрачено: 0 ₽"):
        assert part in text, part
    assert "Петров Пётр: сертификат ещё не выпущен" in text
    await client.click("План на год: Мария")
    plan = client.text
    assert "План на 2026 год" in plan and "Ноябрь: 1 500 ₽" in plan and "Декабрь: 1 500 ₽" in plan
    assert "Январь: —" in plan and "Свободно: 9 000 ₽" in plan and "31 декабря" in plan
    assert client.has_button("К балансу")


async def test_plan_of_a_child_without_a_certificate_says_so(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    from tests.dialogs.kit import children_of
    child = (await children_of(db))[0]
    await client.press(f"bal:plan:{child.id}")
    assert "пока нет сертификата с номиналом" in client.text
