"""/find: search words, filters, pages of five, program cards."""
from __future__ import annotations

from core import catalog
from core.models import Category, Funding
from tests.dialogs.kit import SNILS_1, DialogClient, add_nominal, add_program, dialog_state, make_dialogs


async def world(db, clock) -> DialogClient:
    await add_nominal(db, "Город Тест", 2026, 1_200_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    return client


async def test_find_with_words_lists_matching_programs_with_buttons(db, clock):
    await add_program(db, clock, title="Робототехника", description="Собираем роботов")
    await add_program(db, clock, title="Хор", category=Category.ART, description="Поём", funding=Funding.MUNICIPAL,
                      price=None)
    client = await world(db, clock)
    await client.send("/find робот")
    text = client.text
    assert "Робототехника" in text and "Хор" not in text and "Найдено: 1" in text
    assert "1 500 ₽ в месяц" in text and "Возможна оплата сертификатом" in text
    await client.click("1")
    card = client.text
    for part in ("Робототехника", "ДДТ «Радуга»", "ул. Ленина, 1", "Вт, Чт 16:00", "5–17 лет",
                 "1 500 ₽ в месяц", "Свободных мест: 10", "01.09.2026", "31.05.2027"):
        assert part in card, part
    assert client.has_button("Записать ребёнка") and client.has_button("К результатам")
    await client.click("К результатам")
    assert "Робототехника" in client.text


async def test_typed_text_on_the_search_screen_is_search_words(db, clock):
    await add_program(db, clock, title="Шахматы", description="Играем в шахматы", category=Category.SOCIAL)
    await add_program(db, clock, title="Футбол", description="Мяч", category=Category.SPORT)
    client = await world(db, clock)
    await client.send("/find")
    assert "Найдено: 2" in client.text
    await client.send("шахматы")
    assert "Шахматы" in client.text and "Футбол" not in client.text
    assert (await dialog_state(db))["find"]["words"] == "шахматы"
    await client.send("<b>" + "ы" * 300 + "</b>")
    assert "Слишком длинный запрос" in client.text and "Шахматы" in client.text


async def test_words_with_no_letters_or_digits_are_refused_and_the_search_kept(db, clock):
    await add_program(db, clock, title="Шахматы", description="Играем в шахматы", category=Category.SOCIAL)
    await add_program(db, clock, title="Футбол", description="Мяч", category=Category.SPORT)
    client = await world(db, clock)
    await client.send("/find шахматы")
    await client.send("🤷 ?!")
    assert "нет ни одного слова" in client.text and "Шахматы" in client.text
    assert (await dialog_state(db))["find"]["words"] == "шахматы"
    await client.send("/find 🤷")
    assert "нет ни одного слова" in client.text
    assert (await dialog_state(db))["find"]["words"] == "шахматы"


async def test_pages_of_five_with_arrows(db, clock):
    for n in range(7):
        await add_program(db, clock, title=f"Кружок {n}")
    client = await world(db, clock)
    await client.send("/find")
    assert "Страница 1 из 2" in client.text and "Кружок 4" in client.text
    assert [b.label for b in client.last.rows[0]] == ["1", "2", "3", "4", "5"]
    assert not client.has_button("◀")
    await client.click("▶")
    assert "Страница 2 из 2" in client.text and "Кружок 6" in client.text
    assert not client.has_button("▶")
    await client.click("◀")
    assert "Страница 1 из 2" in client.text


async def test_a_search_matching_more_than_the_limit_says_so_and_pages_on(db, clock, monkeypatch):
    monkeypatch.setattr(catalog, "COUNT_LIMIT", 6)
    for n in range(8):
        await add_program(db, clock, title=f"Кружок {n}")
    client = await world(db, clock)
    await client.send("/find")
    assert "Найдено больше 6. Страница 1." in client.text and "сузить поиск" in client.text
    assert "Кружок 0" in client.text and "Кружок 4" in client.text and not client.has_button("◀")
    await client.click("▶")
    assert "Страница 2." in client.text and "Кружок 7" in client.text and not client.has_button("▶")
    await client.click("Муниципалитет")
    await client.click("Город Тест")
    assert "Найдено: 8. Страница 1 из 2." in client.text


async def test_filters_by_category_age_municipality_and_certificate(db, clock):
    await add_program(db, clock, title="Роботы", category=Category.TECHNICAL, age_min=10, age_max=14)
    await add_program(db, clock, title="Рисование", category=Category.ART, funding=Funding.PAID)
    await add_program(db, clock, title="Лыжи", category=Category.SPORT, municipality="Село Другое")
    client = await world(db, clock)
    await client.send("/find")
    await client.click("Направленность")
    await client.click("Художественная")
    assert "Рисование" in client.text and "Роботы" not in client.text
    assert "художественная" in client.text
    await client.click("Только за сертификат")
    assert "Ничего не нашлось" in client.text
    await client.click("Сбросить")
    assert "Найдено: 3" in client.text
    await client.click("Муниципалитет")
    await client.click("Село Другое")
    assert "Лыжи" in client.text and "Найдено: 1" in client.text
    await client.click("Муниципалитет")
    await client.click("Любой")
    await client.click("Возраст")
    await client.click("8")
    assert "Роботы" not in client.text and "возраст 8 лет" in client.text


async def test_age_and_town_filters_from_a_child(db, clock):
    await add_program(db, clock, title="Роботы", age_min=10, age_max=14)
    await add_program(db, clock, title="Малыши", age_min=5, age_max=7)
    client = await world(db, clock)
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, "Город Тест")
    await client.send("/find")
    assert "Роботы" in client.text and "Малыши" not in client.text and "возраст 10 лет" in client.text
    await client.click("Все")
    assert "Малыши" in client.text
    await client.click("Мария")
    assert "Роботы" in client.text and "Малыши" not in client.text and "Город Тест" in client.text


async def test_paid_program_card_explains_payment_goes_to_the_provider(db, clock):
    program_id = await add_program(db, clock, title="Английский", funding=Funding.PAID)
    client = await world(db, clock)
    await client.press(f"card:{program_id}")       # as from an alert digest
    assert "Платная" in client.text and "напрямую организации" in client.text
    assert not client.has_button("Записать ребёнка") and client.has_button("В меню")


async def test_card_of_a_missing_program_is_refused(db, clock):
    client = await world(db, clock)
    await client.press("card:999")
    assert "Программа не найдена" in client.text and client.has_button("Мои дети")
