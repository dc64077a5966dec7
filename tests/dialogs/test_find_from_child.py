"""Issue 13, "search that starts from the child": a parent's /find starts from their
child's municipality and age; each filter is a «✕» button; every line names the program's
municipality and marks full programs; every /find starts afresh, «Как в прошлый раз»
brings the last filters back, «Сбросить фильтры» keeps the words; and a child's
certificate is quoted in its own unit for a program of another municipality."""
from __future__ import annotations

from core.models import Category, Funding, Unit
from tests.dialogs.kit import (
    SNILS_1,
    SNILS_2,
    DialogClient,
    add_nominal,
    add_program,
    dialog_state,
    make_dialogs,
    snapshot,
)

PYATIGORSK = "г. Пятигорск"
ABAKAN = "г. Абакан"


async def parent(db, clock, *children: tuple[str, str, str]) -> DialogClient:
    """A consented parent with children given as (name, birth date, municipality)."""
    await add_nominal(db, PYATIGORSK, 2026, 1_500_000)
    await add_nominal(db, ABAKAN, 2026, 72, Unit.HOURS)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    for (name, birth, municipality), snils in zip(children, (SNILS_1, SNILS_2)):
        await client.add_child(name, birth, snils, municipality)
        assert "Ребёнок добавлен" in client.text
    return client


MARIA = ("Иванова Мария Петровна", "05.03.2016", PYATIGORSK)    # 10 years old on 21.11.2026
PETYA = ("Иванов Пётр Петрович", "10.01.2020", ABAKAN)          # 6 years old


async def test_a_parents_first_find_shows_only_what_fits_their_child_in_their_town(db, clock):
    await add_program(db, clock, title="Робототехника", municipality=PYATIGORSK, age_min=8, age_max=12)
    await add_program(db, clock, title="Шахматы", municipality=PYATIGORSK, age_min=14, age_max=17)
    await add_program(db, clock, title="Театр", municipality=ABAKAN, price=280_000, hours=8)
    client = await parent(db, clock, MARIA)
    await client.send("/find")
    text = client.text
    assert "Подбираю для ребёнка: Мария" in text and "Найдено: 1." in text
    assert "Робототехника" in text and "Шахматы" not in text and "Театр" not in text
    assert f"📍 {PYATIGORSK} · ДДТ «Радуга»; 8–12 лет; 1 500 ₽ в месяц" in text
    for label in ("✓ Мария", "Все", f"✕ {PYATIGORSK}", "✕ 10 лет"):
        assert client.has_button(label), label
    # «Все»: every program, each line naming its municipality.
    await client.click("Все")
    text = client.text
    assert "Найдено: 3." in text and "Подбираю для ребёнка" not in text
    assert f"📍 {ABAKAN} · " in text and text.count(f"📍 {PYATIGORSK} · ") == 2
    assert client.has_button("Мария") and not client.has_button("✓ Мария") and not client.has_button("✕")


async def test_a_button_per_child_switches_to_that_childs_town_and_age(db, clock):
    await add_program(db, clock, title="Робототехника", municipality=PYATIGORSK, age_min=8, age_max=12)
    await add_program(db, clock, title="Лего для малышей", municipality=ABAKAN, age_min=5, age_max=7,
                      price=None, hours=4)
    client = await parent(db, clock, MARIA, PETYA)
    await client.send("/find")
    assert "Робототехника" in client.text and "Лего" not in client.text and client.has_button("✓ Мария")
    await client.click("Пётр")
    text = client.text
    assert "Подбираю для ребёнка: Пётр" in text and "Лего для малышей" in text and "Робототехника" not in text
    assert client.has_button(f"✕ {ABAKAN}") and client.has_button("✕ 6 лет") and client.has_button("✓ Пётр")
    assert "4 ч в месяц" in text    # Пётр's certificate is in hours, as Абакан's nominal
    # The next /find starts from the child searched for last time.
    await client.send("/find")
    assert "Подбираю для ребёнка: Пётр" in client.text


async def test_full_programs_are_marked_in_the_results(db, clock):
    await add_program(db, clock, title="Плавание", municipality=PYATIGORSK, seats=0)
    await add_program(db, clock, title="Английский", municipality=PYATIGORSK, seats=0, funding=Funding.PAID)
    await add_program(db, clock, title="Шахматы", municipality=PYATIGORSK, seats=3)
    client = await parent(db, clock, MARIA)
    await client.send("/find")
    items = client.text.split("\n\n")
    swimming = next(item for item in items if "Плавание" in item)
    english = next(item for item in items if "Английский" in item)
    chess = next(item for item in items if "Шахматы" in item)
    assert "⛔ мест нет — можно встать в лист ожидания" in swimming
    assert "⛔ мест нет" in english and "лист ожидания" not in english    # a paid one has no waiting list
    assert "мест нет" not in chess


async def test_each_filter_is_a_button_that_removes_only_it(db, clock):
    await add_program(db, clock, title="Робототехника", municipality=PYATIGORSK, description="Собираем роботов")
    await add_program(db, clock, title="Роботы на Lego", municipality=PYATIGORSK, funding=Funding.PAID,
                      description="Собираем роботов")
    await add_program(db, clock, title="Рисуем роботов", municipality=ABAKAN, category=Category.ART,
                      description="Роботы на бумаге")
    client = await parent(db, clock, MARIA)
    await client.send("/find робот")
    await client.click("Направленность")
    await client.click("Техническая")
    await client.click("Только за сертификат")
    for label in ("✕ слова: робот", f"✕ {PYATIGORSK}", "✕ 10 лет", "✕ Техническая", "✕ только сертификат"):
        assert client.has_button(label), label
    assert "Найдено: 1." in client.text and "Фильтр снимается кнопкой с «✕»" in client.text
    await client.click("✕ только сертификат")
    assert "Найдено: 2." in client.text and not client.has_button("✕ только сертификат")
    assert client.has_button("✕ Техническая") and client.has_button("Только за сертификат")
    await client.click(f"✕ {PYATIGORSK}")
    await client.click("✕ Техническая")
    assert "Найдено: 3." in client.text and "Рисуем роботов" in client.text
    await client.click("✕ слова: робот")
    assert not client.has_button("✕ слова") and client.has_button("✕ 10 лет")
    assert (await dialog_state(db))["find"].get("words") in (None, "")


async def test_every_new_find_starts_afresh_and_the_last_filters_come_back(db, clock):
    """"/find футбол" found nothing because last time's filters were still on."""
    await add_program(db, clock, title="Футбол", category=Category.SPORT, description="Мяч и ворота")
    await add_program(db, clock, title="Хор", category=Category.ART, description="Поём")
    client = DialogClient(make_dialogs(db, clock))        # no children: as before, no child's filters
    await client.send("/find")
    assert not client.has_button("Как в прошлый раз") and not client.has_button("Все")
    await client.click("Направленность")
    await client.click("Художественная")
    assert "Хор" in client.text and "Футбол" not in client.text
    await client.send("хор")                              # words typed on the results keep the filters
    assert "Найдено: 1." in client.text and client.has_button("✕ Художественная")
    await client.send("/find футбол")
    assert "Футбол" in client.text and "Найдено: 1." in client.text
    assert not client.has_button("✕ Художественная")
    await client.click("Как в прошлый раз")
    assert "Хор" in client.text and client.has_button("✕ Художественная") and client.has_button("✕ слова: хор")
    assert not client.has_button("Как в прошлый раз")    # it is what is shown now


async def test_a_new_find_of_a_parent_with_a_child_remembers_what_they_changed(db, clock):
    await add_program(db, clock, title="Футбол", municipality=PYATIGORSK, category=Category.SPORT)
    await add_program(db, clock, title="Театр", municipality=ABAKAN, category=Category.ART, price=280_000, hours=8)
    client = await parent(db, clock, MARIA)
    await client.send("/find")
    await client.click(f"✕ {PYATIGORSK}")
    await client.click("Направленность")
    await client.click("Художественная")
    assert "Театр" in client.text and "Футбол" not in client.text
    await client.send("/find")
    assert "Футбол" in client.text and "Театр" not in client.text and client.has_button(f"✕ {PYATIGORSK}")
    await client.click("Как в прошлый раз")
    assert "Театр" in client.text and not client.has_button(f"✕ {PYATIGORSK}")
    assert client.has_button("✓ Мария") and client.has_button("✕ Художественная")


async def test_reset_drops_every_filter_but_the_words(db, clock):
    await add_program(db, clock, title="Робототехника", municipality=PYATIGORSK, age_min=8, age_max=12)
    await add_program(db, clock, title="Роботы для старших", municipality=ABAKAN, age_min=14, age_max=17,
                      category=Category.SOCIAL)
    client = await parent(db, clock, MARIA)
    await client.send("/find робот")
    await client.click("Направленность")
    await client.click("Техническая")
    await client.click("Сбросить фильтры")
    text = client.text
    assert "Найдено: 2." in text and "Фильтры: слова «робот»" in text
    assert client.has_button("✕ слова: робот") and not client.has_button("✕ Техническая")
    assert not client.has_button(f"✕ {PYATIGORSK}") and not client.has_button("✕ 10 лет")


async def test_another_towns_program_is_quoted_in_the_childs_unit_and_explained(db, clock):
    """A Пятигорск child (rubles) was quoted for an Абакан program (hours), and an hours-only
    program there was refused with «нет цены в единицах вашего сертификата». A certificate
    pays for a program of any municipality of the region (seed 004), in its own unit."""
    both = await add_program(db, clock, title="Театр", municipality=ABAKAN, price=280_000, hours=8)
    hours_only = await add_program(db, clock, title="Изостудия", municipality=ABAKAN, price=None, hours=6)
    client = await parent(db, clock, MARIA)
    await client.send("/find")
    await client.click(f"✕ {PYATIGORSK}")
    text = client.text
    theatre = next(item for item in text.split("\n\n") if "Театр" in item)
    drawing = next(item for item in text.split("\n\n") if "Изостудия" in item)
    assert f"📍 {ABAKAN}" in theatre and "2 800 ₽ в месяц" in theatre and " ч в месяц" not in theatre
    assert "6 ч в месяц (цены в рублях нет — сертификат в рублях её не оплатит)" in drawing
    await client.click("1" if text.index("Изостудия") > text.index("Театр") else "2")
    assert "Театр" in client.text and "2 800 ₽ в месяц" in client.text and " ч в месяц" not in client.text
    await client.click("Записать ребёнка")
    await client.click("Иванова Мария")
    text = client.text
    assert "Стоимость: 5 600 ₽" in text and "было 15 000 ₽, станет 9 400 ₽" in text
    assert f"Программа — в муниципалитете «{ABAKAN}», а ребёнок — из муниципалитета «{PYATIGORSK}»" in text
    assert "Стоимость считается в рублях, как и сертификат ребёнка" in text
    assert both

    before = await snapshot(db)
    await client.press(f"enr:start:{hours_only}")
    text = client.text
    assert f"Программа идёт в муниципалитете «{ABAKAN}», и цены в рублях у неё нет" in text
    assert f"выдан в муниципалитете «{PYATIGORSK}» и считается в рублях" in text
    assert "нет цены в единицах вашего сертификата" not in text
    await client.press(f"enr:pick:{hours_only}:1")
    assert "цены в рублях у неё нет" in client.text
    assert await snapshot(db) == before


async def test_a_childs_own_town_quote_says_nothing_about_other_towns(db, clock):
    program_id = await add_program(db, clock, title="Робототехника", municipality=PYATIGORSK)
    client = await parent(db, clock, MARIA)
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    assert "Стоимость: 3 000 ₽" in client.text and "другом" not in client.text
    assert "муниципалитетах региона" not in client.text
