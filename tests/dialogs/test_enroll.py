"""Enrollment from a card: pick an eligible child, see the breakdown, confirm;
every refusal of SPEC §1 shown in words, with nothing written."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.models import Certificate, CertificateStatus, Enrollment, Funding, LedgerEntry, Unit, WaitlistEntry
from tests.dialogs.kit import (
    SNILS_1,
    SNILS_2,
    SNILS_EXEMPT,
    DialogClient,
    add_nominal,
    add_program,
    children_of,
    count,
    make_dialogs,
    snapshot,
)

MUNI = "Город Тест"


async def parent_with_child(db, clock, *, user_id="1", snils=SNILS_1, name="Иванова Мария Петровна",
                            birth="05.03.2016", municipality=MUNI, dialogs=None) -> DialogClient:
    client = DialogClient(dialogs or make_dialogs(db, clock), user_id=user_id)
    await client.start()
    await client.add_child(name, birth, snils, municipality)
    assert "Ребёнок добавлен" in client.text
    return client


async def test_certificate_enrollment_shows_breakdown_then_issues_the_certificate(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника", price=150_000)
    client = await parent_with_child(db, clock)
    await client.press(f"card:{program_id}")
    await client.click("Записать ребёнка")
    assert "Кого записываем" in client.text
    await client.click("Иванова Мария")
    text = client.text
    for part in ("ноябрь, декабрь", "Стоимость: 3 000 ₽", "Оплатит сертификат: 3 000 ₽",
                 "Доплата родителя: нет", "было 12 000 ₽, станет 9 000 ₽", "будет выпущен", "с номиналом"):
        assert part in text, part
    assert await count(db, Enrollment) == 0
    await client.click("Подтвердить")
    text = client.text
    async with db.read() as session:
        certificate = (await session.execute(select(Certificate))).scalar_one()
    assert "Иванова Мария Петровна записана в программу «Робототехника»" in text
    assert f"Выпущен сертификат № {certificate.number}" in text and "«с номиналом»" in text
    assert "доступно 9 000 ₽, зарезервировано 3 000 ₽" in text
    assert certificate.status is CertificateStatus.FUNDED
    assert await count(db, Enrollment) == 1 and await count(db, LedgerEntry) == 3  # credit + 2 reserves
    assert client.has_button("Мои записи")


async def test_municipal_program_issues_a_registration_certificate(db, clock):
    program_id = await add_program(db, clock, title="Хор", funding=Funding.MUNICIPAL, price=None)
    client = await parent_with_child(db, clock)
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    assert "бесплатная" in client.text and "«учёт»" in client.text
    await client.click("Подтвердить")
    assert "Выпущен сертификат" in client.text and "«учёт»" in client.text
    async with db.read() as session:
        certificate = (await session.execute(select(Certificate))).scalar_one()
    assert certificate.status is CertificateStatus.REGISTERED


async def test_full_program_offers_the_waiting_list(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Плавание", seats=1)
    first = await parent_with_child(db, clock)
    await first.press(f"enr:start:{program_id}")
    await first.click("Иванова Мария")
    await first.click("Подтвердить")
    second = await parent_with_child(db, clock, user_id="2", snils=SNILS_2, name="Петров Пётр",
                                     dialogs=first.dialogs)
    await second.press(f"enr:start:{program_id}")
    assert "Свободных мест нет" in second.text
    assert not [b for b in second.buttons() if b.action.startswith("enr:pick")]
    await second.click("Встать в лист ожидания")
    assert "в листе ожидания" in second.text and "место в очереди: 1" in second.text
    assert await count(db, WaitlistEntry) == 1
    before = await snapshot(db)
    await second.press(f"wl:{program_id}:{(await children_of(db, user_id='2'))[0].id}")
    assert "уже стоит в листе ожидания" in second.text
    assert await snapshot(db) == before


async def test_already_enrolled_child_is_refused(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock)
    client = await parent_with_child(db, clock)
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    confirm = client.button("Подтвердить").action
    await client.click("Подтвердить")
    before = await snapshot(db)
    await client.press(confirm)                      # the old confirmation pressed again
    assert "уже записан на эту программу" in client.text
    await client.press(f"enr:start:{program_id}")
    assert "уже записан" in client.text and not client.has_button("Иванова Мария")
    assert await snapshot(db) == before


async def test_nominal_not_set_is_refused_with_the_municipality_and_year(db, clock):
    program_id = await add_program(db, clock, municipality="Село Без Номинала")
    await add_nominal(db, MUNI, 2026, 1_200_000)
    client = await parent_with_child(db, clock, municipality="Село Без Номинала")
    before = await snapshot(db)
    await client.press(f"enr:start:{program_id}")
    assert "Номинал сертификата на 2026 год" in client.text and "Село Без Номинала" in client.text
    child_id = (await children_of(db))[0].id
    await client.press(f"enr:ok:{program_id}:{child_id}")
    assert "ещё не установлен" in client.text
    assert await snapshot(db) == before


async def test_paid_program_cannot_be_paid_with_the_certificate(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, funding=Funding.PAID)
    client = await parent_with_child(db, clock)
    before = await snapshot(db)
    await client.press(f"enr:start:{program_id}")       # forged: the card has no such button
    assert "платная программа" in client.text and not client.has_button("Иванова Мария")
    await client.press(f"enr:ok:{program_id}:{(await children_of(db))[0].id}")
    assert "сертификат здесь не применяется" in client.text
    assert await snapshot(db) == before


async def test_unconfirmed_snils_and_program_age_are_explained(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, age_min=12, age_max=15)
    client = await parent_with_child(db, clock, snils=SNILS_EXEMPT)
    await client.add_child("Петров Пётр", "01.01.2012", SNILS_2, MUNI)
    await client.press(f"enr:start:{program_id}")
    text = client.text
    assert "Иванова Мария Петровна: Программа для детей 12–15 лет, а ребёнку 10 лет" in text
    assert client.has_button("Петров Пётр") and not client.has_button("Иванова")
    program2 = await add_program(db, clock, title="Для всех")
    await client.press(f"enr:start:{program2}")
    assert "СНИЛС ребёнка не подтверждён" in client.text


async def test_another_parents_child_in_a_forged_button_is_refused(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock)
    owner = await parent_with_child(db, clock)
    stranger = await parent_with_child(db, clock, user_id="2", snils=SNILS_2, name="Петров Пётр",
                                       dialogs=owner.dialogs)
    victim = (await children_of(db, user_id="1"))[0].id
    before = await snapshot(db)
    for action in (f"enr:pick:{program_id}:{victim}", f"enr:ok:{program_id}:{victim}",
                   f"wl:{program_id}:{victim}", f"bal:plan:{victim}", f"find:child:{victim}"):
        await stranger.press(action)
        assert "Ребёнок не найден среди ваших детей" in stranger.text, action
    assert await snapshot(db) == before


async def test_budget_warning_in_spring_when_autumn_is_left_short(db, clock):
    clock.set(dt.datetime(2026, 3, 10, 12, 0))
    await add_nominal(db, MUNI, 2026, 1_200_000)
    # Taught all year, summer included (its own months): March–December = 10 × 2 000 ₽.
    program_id = await add_program(db, clock, title="Круглый год", price=200_000,
                                   start=dt.date(2026, 1, 15), end=dt.date(2026, 12, 20), months="1-12")
    client = await parent_with_child(db, clock)
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    text = client.text
    assert "сгорает 31 декабря" in text and "сентябрь — декабрь" in text
    assert "Доплата родителя: 8 000 ₽" in text and "нужно будет доплатить" in text
    await client.click("Подтвердить")
    assert "Доплата родителя: 8 000 ₽" in client.text


async def test_a_double_press_of_confirm_enrolls_once(any_db, clock):
    import asyncio

    from bot.dialogs.screen import Input

    await add_nominal(any_db, MUNI, 2026, 1_200_000)
    program_id = await add_program(any_db, clock)
    client = await parent_with_child(any_db, clock)
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    confirm = client.button("Подтвердить").action
    replies = await asyncio.wait_for(asyncio.gather(*(
        client.dialogs.handle("test", "1", Input.press(confirm)) for _ in range(2))), timeout=60)
    texts = sorted(reply.screens[0].text for reply in replies)
    assert sum("записана в программу" in text for text in texts) == 1, texts
    assert sum("уже записан на эту программу" in text for text in texts) == 1, texts
    assert await count(any_db, Enrollment) == 1 and await count(any_db, Certificate) == 1


async def test_a_nominal_in_hours_is_shown_in_hours(db, clock):
    await add_nominal(db, "г. Абакан", 2026, 72, Unit.HOURS)
    program_id = await add_program(db, clock, municipality="г. Абакан", price=None, hours=8)
    client = await parent_with_child(db, clock, municipality="г. Абакан")
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    assert "Стоимость: 16 ч" in client.text and "было 72 ч, станет 56 ч" in client.text
    await client.click("Подтвердить")
    assert "доступно 56 ч, зарезервировано 16 ч" in client.text


async def test_a_press_re_delivered_after_a_crash_is_not_run_twice(db, clock):
    """A platform re-sends an event it never saw confirmed: same event id, current screen, no new writes."""
    from bot.dialogs.screen import Input

    await add_nominal(db, MUNI, 2026, 1_200_000)
    first = await add_program(db, clock, title="Шахматы", price=100_000)
    second = await add_program(db, clock, title="Танцы", price=100_000)
    client = await parent_with_child(db, clock)
    await client.press(f"enr:start:{first}")
    await client.click("Иванова Мария")
    confirm = Input.press(client.button("Подтвердить").action).with_event("c-42")
    done = await client.dialogs.handle("test", "1", confirm)
    assert "записана в программу «Шахматы»" in done.screens[0].text
    before = await snapshot(db)
    again = await client.dialogs.handle("test", "1", confirm)
    assert await snapshot(db) == before
    assert again.screens and "записана" not in again.screens[0].text
    # A new event with the same action is a real press again (and is refused as a duplicate).
    await client.press(f"enr:start:{second}")
    assert "Кого записываем" in client.text
