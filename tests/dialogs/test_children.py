"""/children: the list with certificate statuses, and adding a child step by step."""
from __future__ import annotations

from core.models import Child
from tests.dialogs.kit import (
    SNILS_1,
    SNILS_2,
    SNILS_BAD,
    SNILS_EXEMPT,
    DialogClient,
    add_nominal,
    children_of,
    count,
    dialog_state,
    make_dialogs,
    snapshot,
)

MUNI = "Город Тест"


async def ready(db, clock, user_id="1") -> DialogClient:
    await add_nominal(db, MUNI, 2026, 1_200_000)
    client = DialogClient(make_dialogs(db, clock), user_id=user_id)
    await client.start()
    return client


async def test_adding_a_child_asks_each_answer_and_saves_after_the_summary(db, clock):
    client = await ready(db, clock)
    await client.send("/children")
    assert "ещё не добавили детей" in client.last.text
    await client.click("Добавить ребёнка")
    assert "ФИО" in client.last.text and client.has_button("Отмена")
    await client.send("  иванова   мария петровна ")
    assert "Дата рождения" in client.last.text
    await client.send("5.3.2016")
    assert "СНИЛС" in client.last.text
    await client.send("11223344595")
    assert "муниципалитете" in client.last.text
    await client.click(MUNI)
    summary = client.last.text
    assert "Иванова Мария Петровна" in summary and "05.03.2016" in summary and "10 лет" in summary
    assert "***-***-445 95" in summary and "112-233" not in summary and MUNI in summary
    assert await count(db, Child) == 0          # nothing stored before «Сохранить»
    await client.click("Сохранить")
    assert "Ребёнок добавлен" in client.last.text
    assert "ещё не выпущен — выпустится при первой записи" in client.last.text
    [child] = await children_of(db)
    assert (child.full_name, child.snils, child.snils_confirmed) == ("Иванова Мария Петровна", "11223344595", True)
    assert (await dialog_state(db))["step"] == "children"


async def test_age_4_and_age_18_are_refused_and_asked_again(db, clock):
    client = await ready(db, clock)
    await client.send("/children")
    await client.click("Добавить ребёнка")
    await client.send("Петров Пётр")
    before = await snapshot(db)
    await client.send("22.11.2021")            # four years old on 21.11.2026
    assert "от 5 лет до 18-летия" in client.last.text and "4 года" in client.last.text
    assert "Дата рождения" in client.last.text
    await client.send("21.11.2008")            # eighteen today
    assert "18 лет" in client.last.text and "Дата рождения" in client.last.text
    assert (await dialog_state(db))["step"] == "ch.birth"
    await client.send("22.11.2008")            # seventeen: the last accepted day
    assert "СНИЛС" in client.last.text
    assert await snapshot(db) == before


async def test_bad_dates_long_text_and_markup_are_explained(db, clock):
    client = await ready(db, clock)
    await client.send("/children")
    await client.click("Добавить ребёнка")
    await client.send("x" * 5000)
    assert "слишком длинное" in client.last.text and "ФИО" in client.last.text
    await client.send("<b>Иванов</b>")
    assert "Не похоже на ФИО" in client.last.text and "ФИО ребёнка" in client.last.text
    await client.send("🙂🙂🙂")
    assert "Не похоже на ФИО" in client.last.text
    await client.send("Иванов Иван")
    await client.send("31.02.2015")
    assert "Такой даты не существует" in client.last.text and "ДД.ММ.ГГГГ" in client.last.text
    await client.send("завтра")
    assert "Не понял дату" in client.last.text
    await client.send("01.01.2030")
    assert "не может быть в будущем" in client.last.text
    assert (await dialog_state(db))["step"] == "ch.birth"
    assert await count(db, Child) == 0


async def test_snils_with_a_bad_checksum_is_refused(db, clock):
    client = await ready(db, clock)
    await client.send("/children")
    await client.click("Добавить ребёнка")
    await client.send("Иванов Иван")
    await client.send("01.01.2015")
    await client.send(SNILS_BAD)
    assert "контрольное число не сходится" in client.last.text and "СНИЛС ребёнка" in client.last.text
    await client.send("12345")
    assert "11 цифр" in client.last.text
    assert (await dialog_state(db))["step"] == "ch.snils"


async def test_a_snils_held_by_another_parents_child_is_refused_right_after_it_is_typed(db, clock):
    first = await ready(db, clock)
    await first.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    second = DialogClient(first.dialogs, user_id="2")
    await second.start()
    before = await snapshot(db)
    await second.send("/children")
    await second.click("Добавить ребёнка")
    await second.send("Сидоров Олег")
    await second.send("01.01.2014")
    await second.send(SNILS_1)
    refusal = second.last.text
    assert "уже указан в боте у другого родителя" in refusal and "СНИЛС ребёнка" in refusal
    # Nothing about the other child: not the name, the birth date or the municipality.
    assert "Иванова" not in refusal and "05.03.2016" not in refusal and MUNI not in refusal
    assert (await dialog_state(db, user_id="2"))["step"] == "ch.snils"
    assert await children_of(db, user_id="2") == []
    await second.send(SNILS_2)                      # another number goes on
    assert "муниципалитете" in second.last.text
    assert await children_of(db, user_id="2") == []
    assert await count(db, Child) == 1
    assert await snapshot(db) == before


async def test_the_same_parent_adding_a_child_twice_is_told_it_is_on_the_list(db, clock):
    client = await ready(db, clock)
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await client.send("/children")
    await client.click("Добавить ребёнка")
    await client.send("Иванова Мария Петровна")
    await client.send("05.03.2016")
    await client.send("11223344595")
    assert "уже есть в вашем списке" in client.last.text
    assert (await dialog_state(db))["step"] == "ch.snils"


async def test_an_old_snils_without_checksum_is_saved_unconfirmed(db, clock):
    client = await ready(db, clock)
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_EXEMPT, MUNI)
    assert "не может быть подтверждён автоматически" in client.last.text
    assert "СНИЛС не подтверждён" in client.last.text
    [child] = await children_of(db)
    assert child.snils_confirmed is False


async def test_children_list_shows_each_child(db, clock):
    client = await ready(db, clock)
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await client.add_child("Иванов Пётр Петрович", "10.10.2012", SNILS_2, MUNI)
    await client.send("/children")
    text = client.last.text
    assert "1. Иванова Мария Петровна" in text and "2. Иванов Пётр Петрович" in text
    assert "***-***-789 64" in text and "123-456" not in text and client.has_button("В меню")


async def test_a_municipality_button_from_an_old_screen_is_stale(db, clock):
    client = await ready(db, clock)
    await client.send("/children")
    before = await snapshot(db)
    await client.press("ch:muni:1")            # not on the municipality question
    assert "Эта кнопка устарела" in client.last.text and client.has_button("Добавить ребёнка")
    await client.press("ch:save")
    assert "Эта кнопка устарела" in client.last.text
    assert await snapshot(db) == before


async def test_a_long_municipality_list_is_paged(db, clock):
    for n in range(15):
        await add_nominal(db, f"Район {n:02d}", 2026, 1_000_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.send("/children")
    await client.click("Добавить ребёнка")
    await client.send("Иванов Иван")
    await client.send("01.01.2015")
    await client.send(SNILS_2)
    assert client.has_button("Район 00") and not client.has_button("Район 14")
    await client.click("▶")
    await client.click("Район 14")
    assert "Муниципалитет: Район 14" in client.text
    await client.click("Сохранить")
    assert (await children_of(db))[0].municipality.name == "Район 14"
