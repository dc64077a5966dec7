"""/children → a child: the name is corrected at any time; the birth date and the
municipality only while nothing hangs on them; a child with no certificate and no
enrollment is deleted after a confirmation; another parent's child is never touched."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from core import municipalities
from core.models import Child, Funding
from tests import factories as f
from tests.dialogs.test_personal_data_at_rest import (  # noqa: F401 - file_db is a fixture
    CLEAR,
    file_bytes,
    file_db,
    found_in,
    sealed_values,
)
from tests.dialogs.kit import (
    SNILS_1,
    DialogClient,
    add_nominal,
    add_program,
    children_of,
    count,
    make_dialogs,
    snapshot,
)

MUNI = "Город Тест"
OTHER = "Посёлок Другой"
NAME = "Иванова Мария Петровна"


async def parent_with_child(db, clock, user_id="1") -> DialogClient:
    await add_nominal(db, MUNI, 2026, 1_200_000)
    async with db.write() as session:
        await municipalities.register(session, OTHER)
    client = DialogClient(make_dialogs(db, clock), user_id=user_id)
    await client.start()
    await client.add_child(NAME, "05.03.2016", SNILS_1, MUNI)
    assert "Ребёнок добавлен" in client.text
    return client


async def open_child(client: DialogClient) -> None:
    await client.send("/children")
    await client.click("1. Мария")


async def enroll(client: DialogClient, program_id: int) -> None:
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    await client.click("Подтвердить")
    assert "записан" in client.text


async def the_child(db, user_id="1") -> Child:
    [child] = await children_of(db, user_id=user_id)
    return child


async def test_the_name_is_corrected_and_the_rest_stays(any_db, clock):
    client = await parent_with_child(any_db, clock)
    await open_child(client)
    text = client.text
    assert NAME in text and "***-***-445 95" in text and "112-233" not in text and MUNI in text
    assert "СНИЛС изменить нельзя" in text and "удалите ребёнка и добавьте" in text
    await client.click("ФИО")
    assert "Сейчас: " + NAME in client.text
    before = await snapshot(any_db)
    await client.send("<b>Иванова</b>")
    assert "Не похоже на ФИО" in client.text and "Напишите ФИО" in client.text
    assert (await the_child(any_db)).full_name == NAME
    await client.send("  иванова   марина петровна ")
    assert "ФИО исправлено" in client.text and "Иванова Марина Петровна" in client.text
    child = await the_child(any_db)
    assert (child.full_name, child.birth_date, child.snils) == (
        "Иванова Марина Петровна", dt.date(2016, 3, 5), "11223344595")
    assert await snapshot(any_db) == before


async def test_birth_date_and_municipality_are_corrected_before_enrolling(any_db, clock):
    client = await parent_with_child(any_db, clock)
    await open_child(client)
    await client.click("Дата рождения")
    assert "Сейчас: 05.03.2016" in client.text
    await client.send("22.11.2021")                  # four years old: the age rule still holds
    assert "от 5 лет до 18-летия" in client.text
    assert (await the_child(any_db)).birth_date == dt.date(2016, 3, 5)
    await client.send("10.04.2015")
    assert "Дата рождения исправлена" in client.text and "10.04.2015 (11 лет)" in client.text
    await client.click("Муниципалитет")
    assert "Сейчас: " + MUNI in client.text
    await client.click(OTHER)
    assert "Муниципалитет изменён" in client.text and OTHER in client.text
    child = await the_child(any_db)
    assert (child.birth_date, child.municipality.name, child.full_name) == (dt.date(2015, 4, 10), OTHER, NAME)


async def test_once_enrolled_birth_date_and_municipality_are_refused_and_nothing_changes(any_db, clock):
    client = await parent_with_child(any_db, clock)
    # A free municipal program: no money on the certificate, the enrollment alone fixes the data.
    program_id = await add_program(any_db, clock, funding=Funding.MUNICIPAL, price=None)
    await open_child(client)
    stale_birth, stale_muni = client.button("Дата рождения").action, client.button("Муниципалитет").action
    await enroll(client, program_id)
    child_id = (await the_child(any_db)).id
    other_id = await _muni_id(any_db, OTHER)
    before = await snapshot(any_db)
    await open_child(client)
    assert "Дату рождения и муниципалитет сейчас изменить нельзя: ребёнок записан" in client.text
    assert "напишите оператору" in client.text           # no deleting and re-adding any more
    await client.press(stale_birth)
    assert "Ребёнок записан на программу" in client.text and "/enrollments" in client.text
    await client.press(stale_muni)
    assert "Ребёнок записан на программу" in client.text
    await client.press(f"ch:m:{child_id}:{other_id}")   # the municipality button, forged
    assert "Ребёнок записан на программу" in client.text
    child = await the_child(any_db)
    assert (child.birth_date, child.municipality.name) == (dt.date(2016, 3, 5), MUNI)
    assert await snapshot(any_db) == before
    await client.click("ФИО")                             # the name is still corrected
    await client.send("Иванова Марина Петровна")
    assert (await the_child(any_db)).full_name == "Иванова Марина Петровна"


async def test_after_cancelling_a_paid_enrollment_the_funded_certificate_keeps_the_municipality(db, clock):
    client = await parent_with_child(db, clock)
    program_id = await add_program(db, clock)
    await enroll(client, program_id)
    await client.send("/enrollments")
    await client.click("1. Робототехника")
    await client.click("Отменить запись")
    await client.click("Да, отменить")
    await open_child(client)
    assert "изменить нельзя: на сертификат ребёнка уже зачислен номинал" in client.text
    await client.click("Муниципалитет")
    assert "уже зачислен номинал муниципалитета" in client.text and "отмените" not in client.text
    assert (await the_child(db)).municipality.name == MUNI


async def test_a_child_with_no_enrollments_is_deleted_after_a_confirmation(any_db, clock):
    client = await parent_with_child(any_db, clock)
    await open_child(client)
    await client.click("Удалить ребёнка")
    assert "Удалить ребёнка «" + NAME in client.text
    await client.click("Назад")                          # changed their mind: nothing goes
    assert await count(any_db, Child) == 1
    await client.click("Удалить ребёнка")
    await client.click("Да, удалить")
    assert "Ребёнок удалён" in client.text and "ещё не добавили детей" in client.text
    assert await count(any_db, Child) == 0
    await client.add_child(NAME, "05.03.2016", SNILS_1, MUNI)   # the same SNILS may come again
    assert "Ребёнок добавлен" in client.text


async def test_an_enrolled_child_is_not_deleted_and_forget_is_pointed_to(any_db, clock):
    client = await parent_with_child(any_db, clock)
    program_id = await add_program(any_db, clock)
    await open_child(client)
    await client.click("Удалить ребёнка")
    stale_yes = client.button("Да, удалить").action
    await enroll(client, program_id)
    before = await snapshot(any_db)
    await open_child(client)
    await client.click("Удалить ребёнка")
    assert "удалить ребёнка из списка нельзя" in client.text and "/forget" in client.text
    await client.press(stale_yes)                         # the confirmation of before enrolling
    assert not client.text.startswith("✅")
    assert await snapshot(any_db) == before
    assert (await the_child(any_db)).full_name == NAME


async def test_another_parents_child_is_refused_on_every_button_and_nothing_written(any_db, clock):
    await parent_with_child(any_db, clock)
    child_id = (await the_child(any_db)).id
    other_id = await _muni_id(any_db, OTHER)
    stranger = DialogClient(make_dialogs(any_db, clock), user_id="2")
    await stranger.start()
    before = await snapshot(any_db)
    for action in (f"ch:v:{child_id}", f"ch:en:{child_id}", f"ch:eb:{child_id}", f"ch:em:{child_id}",
                   f"ch:m:{child_id}:{other_id}", f"ch:d:{child_id}", f"ch:dy:{child_id}"):
        await stranger.press(action)
        assert NAME not in stranger.text and "Мария" not in stranger.text, action
        assert "не найден" in stranger.text or "устарела" in stranger.text, action
    for action in ("ch:v:abc", "ch:v:", "ch:m:1", "ch:v:99999999999999"):
        await stranger.press(action)
        assert "устарела" in stranger.text, action
    assert await snapshot(any_db) == before
    child = await the_child(any_db)
    assert (child.full_name, child.birth_date, child.municipality.name) == (NAME, dt.date(2016, 3, 5), MUNI)


async def test_many_children_are_paged_within_the_keyboard_limits(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    async with db.write() as session:
        parent = await _parent(session)
        for n in range(14):
            await f.child(session, parent, clock, name=f"Петров Ребёнок{'а' * (n + 1)} Сергеевич")
    await client.send("/children")
    assert client.has_button("1. Ребёнока") and client.has_button("▶") and not client.has_button("14.")
    await client.click("▶")
    assert client.has_button("14. ") and client.has_button("◀")
    await client.click("14. ")
    assert "Петров Ребёнок" + "а" * 14 in client.text


async def _muni_id(db, name: str) -> int:
    async with db.read() as session:
        return (await municipalities.find(session, name)).id


async def _parent(session):
    from core.parents import get_parent
    return await get_parent(session, "test", "1")


async def test_a_deleted_or_corrected_childs_old_values_leave_no_copy_in_the_files_or_log(file_db, clock):
    client = await parent_with_child(file_db, clock)
    old_name = await sealed_values(file_db)
    assert len(old_name) == 3 and all(value.encode() in file_bytes(file_db.path) for value in old_name)
    await open_child(client)
    await client.click("ФИО")
    await client.send("Петрова Анна Ивановна")
    assert "ФИО исправлено" in client.text
    blob = file_bytes(file_db.path)
    assert found_in(blob, [old_name[0]]) == [] and found_in(blob, old_name[1:]) == old_name[1:]
    stored = await sealed_values(file_db)
    await client.click("Удалить ребёнка")
    await client.click("Да, удалить")
    assert "Ребёнок удалён" in client.text
    blob = file_bytes(file_db.path)
    assert Path(f"{file_db.path}-wal").stat().st_size == 0              # checkpointed and emptied
    assert found_in(blob, CLEAR + ["Петрова Анна Ивановна"]) == []
    assert found_in(blob, sorted(set(stored + old_name))) == []
    log_text = file_db.log_file.read_text(encoding="utf-8")
    assert [clear for clear in CLEAR + ["Петрова Анна Ивановна"] if clear in log_text] == []
