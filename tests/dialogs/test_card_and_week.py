"""Issue 13: a card answers where, when and whom to call (contacts, map link, the parsed
schedule, seats left); enrolling ends with what next (address, first lesson, contacts,
what to bring); /children → a child → «Расписание недели»; the enrollment preview warns,
without refusing, of lessons that overlap a program the child attends."""
from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from core.models import Enrollment, Funding, Program
from tests.dialogs.kit import SNILS_2, DialogClient, add_nominal, add_program, count, make_dialogs
from tests.dialogs.test_enroll import MUNI, parent_with_child

ADDRESS = "ул. Ленина, 1"
MAP = "https://yandex.ru/maps/?text=" + quote(f"{MUNI}, {ADDRESS}", safe="")


async def program_with(db, clock, *, schedule: str = "Вт, Чт 16:00–17:30", phone: str | None = "+7 928 123-45-67",
                       email: str | None = "info@ddt.ru", website: str | None = "https://ddt.ru", **kwargs) -> int:
    program_id = await add_program(db, clock, **kwargs)
    async with db.write() as session:
        program = await session.get(Program, program_id)
        program.schedule = schedule          # the lessons follow (as the importer stores them)
        program.phone, program.email, program.website = phone, email, website
    return program_id


async def enroll(client: DialogClient, program_id: int, child_label: str = "Иванова Мария") -> None:
    await client.press(f"card:{program_id}")
    await client.click("Записать ребёнка")
    await client.click(child_label)


# --- the card -------------------------------------------------------------------------

async def test_a_card_shows_contacts_map_parsed_schedule_and_seats(db, clock):
    program_id = await program_with(db, clock, schedule="чт, вт 16.00-17.30; сб 10:00-12:00", seats=7)
    client = DialogClient(make_dialogs(db, clock))
    await client.press(f"card:{program_id}")
    text = client.text
    assert f"Адрес: {ADDRESS}\nНа карте: {MAP}" in text
    assert "Расписание: Вт, Чт 16:00–17:30; Сб 10:00–12:00" in text
    assert "Свободных мест: 7" in text
    assert "Контакты организации:\n📞 +7 928 123-45-67\n✉️ info@ddt.ru\n🌐 https://ddt.ru" in text


async def test_a_card_without_contacts_says_none_are_known_and_keeps_an_unparsed_schedule(db, clock):
    program_id = await program_with(db, clock, schedule="по договорённости", phone=None, email=None, website=None)
    client = DialogClient(make_dialogs(db, clock))
    await client.press(f"card:{program_id}")
    assert "Расписание: по договорённости" in client.text
    assert "Контакты организации в каталоге не указаны." in client.text


async def test_a_paid_card_names_whom_to_contact(db, clock):
    with_contacts = await program_with(db, clock, funding=Funding.PAID, email=None, website=None)
    without = await program_with(db, clock, funding=Funding.PAID, phone=None, email=None, website=None)
    client = DialogClient(make_dialogs(db, clock))
    await client.press(f"card:{with_contacts}")
    assert "📞 +7 928 123-45-67" in client.text and "Запишитесь, связавшись с организацией." in client.text
    assert "в разделе «Контакты организации»" in client.text
    await client.press(f"card:{without}")
    assert "Контактов организации в каталоге нет: обратитесь по адресу программы" in client.text


# --- what next --------------------------------------------------------------------------

async def test_after_enrolling_the_parent_is_told_where_when_whom_and_what_to_bring(db, clock):
    # The clock's today is 2026-11-21 (a Saturday); the program started in September.
    assert clock.today() == dt.date(2026, 11, 21)
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await program_with(db, clock, schedule="вт, чт 16:00–17:30")
    client = await parent_with_child(db, clock)
    await enroll(client, program_id)
    await client.click("Подтвердить")
    text = client.text
    assert "записана в программу «Робототехника»" in text
    assert "Что дальше:" in text
    assert f"📍 Адрес: {ADDRESS}\nНа карте: {MAP}" in text
    assert "🗓 Первое занятие: вторник, 24.11.2026, 16:00–17:30." in text
    assert "📞 +7 928 123-45-67" in text
    assert "Что взять на первое занятие:" in text
    assert "номер сертификата дополнительного образования: № " in text
    assert "свидетельство о рождении или паспорт ребёнка" in text
    assert "документ, удостоверяющий личность родителя" in text


async def test_what_next_starts_from_the_programs_start_and_admits_an_unknown_day(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    later = await program_with(db, clock, schedule="пн 10:00-11:00", start=dt.date(2027, 1, 12),
                               end=dt.date(2027, 5, 31), title="Шахматы")
    vague = await program_with(db, clock, schedule="по договорённости", phone=None, email=None, website=None,
                               title="Гитара")
    client = await parent_with_child(db, clock)
    await enroll(client, later)
    await client.click("Подтвердить")
    assert "🗓 Первое занятие: понедельник, 18.01.2027, 10:00–11:00." in client.text
    await enroll(client, vague)
    await client.click("Подтвердить")
    assert "🗓 Расписание: по договорённости. День первого занятия уточните у организации." in client.text
    assert "Контакты организации в каталоге не указаны." in client.text


# --- clashes ----------------------------------------------------------------------------

async def test_the_preview_warns_of_an_overlap_naming_the_program_and_times_and_still_enrolls(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    first = await program_with(db, clock, schedule="Пн, Ср, Пт 16:00–17:00", title="Футбол", price=50_000)
    second = await program_with(db, clock, schedule="Пн, Ср 15:00–16:30", title="Рисование", price=50_000)
    client = await parent_with_child(db, clock)
    await enroll(client, first)
    await client.click("Подтвердить")
    await enroll(client, second)
    text = client.text
    assert "⚠️ Занятия пересекаются с тем, куда ребёнок уже ходит:" in text
    assert "• Пн 15:00–16:30: в это же время — программа «Футбол» (16:00–17:00)" in text
    assert "• Ср 15:00–16:30: в это же время — программа «Футбол» (16:00–17:00)" in text
    assert "• Пт" not in text
    await client.click("Подтвердить")
    assert "записана в программу «Рисование»" in client.text
    assert await count(db, Enrollment) == 2


async def test_lessons_that_only_touch_or_an_unparsed_schedule_raise_no_warning(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    first = await program_with(db, clock, schedule="пн 16:00–17:30", title="Футбол", price=50_000)
    touching = await program_with(db, clock, schedule="пн 17:30–18:00", title="Рисование", price=50_000)
    vague = await program_with(db, clock, schedule="пн после обеда", title="Лепка", price=50_000)
    client = await parent_with_child(db, clock)
    await enroll(client, first)
    await client.click("Подтвердить")
    await enroll(client, touching)
    assert "Подтверждаете запись?" in client.text and "пересекаются" not in client.text
    await enroll(client, vague)
    assert "Подтверждаете запись?" in client.text and "пересекаются" not in client.text


async def test_another_childs_programs_do_not_clash(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    first = await program_with(db, clock, schedule="пн 16:00–17:30", title="Футбол", price=50_000)
    second = await program_with(db, clock, schedule="пн 16:00–17:30", title="Рисование", price=50_000)
    client = await parent_with_child(db, clock)
    await client.add_child("Иванов Пётр Петрович", "01.02.2015", SNILS_2, MUNI)
    await enroll(client, first, "Иванова Мария")
    await client.click("Подтвердить")
    await enroll(client, second, "Иванов Пётр")
    assert "Подтверждаете запись?" in client.text and "пересекаются" not in client.text


# --- the week ---------------------------------------------------------------------------

async def test_the_week_lists_the_childs_lessons_by_weekday(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    football = await program_with(db, clock, schedule="Пн, Ср 17:00–18:00", title="Футбол", price=50_000)
    art = await program_with(db, clock, schedule="пн 15:00-16:00; сб 10:00-12:00", title="Рисование",
                             price=50_000)
    vague = await program_with(db, clock, schedule="по договорённости", title="Гитара", price=50_000)
    client = await parent_with_child(db, clock)
    for program_id in (football, art, vague):
        await enroll(client, program_id)
        await client.click("Подтвердить")
    await client.send("/children")
    await client.click("1. Мария")
    await client.click("🗓 Расписание недели")
    text = client.text
    assert text.startswith("Расписание недели: Иванова Мария Петровна")
    assert ("Понедельник:\n• 15:00–16:00 — «Рисование»\n• 17:00–18:00 — «Футбол»\n\n"
            "Среда:\n• 17:00–18:00 — «Футбол»\n\nСуббота:\n• 10:00–12:00 — «Рисование»") in text
    assert "Свободные дни: Вт, Чт, Пт, Вс." in text
    assert "• «Гитара»: по договорённости" in text
    assert client.button("« Назад").action.startswith("ch:v:")


async def test_the_week_of_a_child_with_no_programs_says_so(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    client = await parent_with_child(db, clock)
    await client.send("/children")
    await client.click("1. Мария")
    await client.click("🗓 Расписание недели")
    assert "ребёнок пока не записан ни на одну программу" in client.text


async def test_another_parents_child_week_is_not_shown(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    dialogs = make_dialogs(db, clock)
    owner = await parent_with_child(db, clock, dialogs=dialogs)
    await owner.send("/children")
    await owner.click("1. Мария")
    action = owner.button("🗓 Расписание недели").action
    stranger = await parent_with_child(db, clock, user_id="2", snils=SNILS_2, name="Петров Пётр Петрович",
                                       dialogs=dialogs)
    await stranger.press(action)
    assert "Иванова" not in stranger.text and "Расписание недели" not in stranger.text
