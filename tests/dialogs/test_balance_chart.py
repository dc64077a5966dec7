"""/balance's picture of the year: per certificate with money a chart (an image screen) and
its numbers in words, before the balance text; drawn once per change of the ledger."""
from __future__ import annotations

from pathlib import Path

from bot import charts
from core.models import Unit
from tests.dialogs.kit import SNILS_1, SNILS_2, DialogClient, add_nominal, add_program, make_dialogs

MUNI = "Город Тест"


def counting_render(monkeypatch) -> list:
    drawn: list = []
    real = charts.draw

    async def counting(path, figures):
        drawn.append(figures)
        await real(path, figures)
    monkeypatch.setattr(charts, "draw", counting)
    return drawn


async def enrolled(db, clock, *, unit: Unit = Unit.RUB) -> DialogClient:
    if unit is Unit.RUB:
        await add_nominal(db, MUNI, 2026, 1_200_000)
        program_id = await add_program(db, clock, price=150_000)
    else:
        await add_nominal(db, MUNI, 2026, 20, Unit.HOURS)
        program_id = await add_program(db, clock, price=None, hours=8)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    await client.click("Подтвердить")
    return client


async def test_balance_shows_the_chart_then_its_numbers_then_the_balance(db, clock, tmp_path, monkeypatch):
    drawn = counting_render(monkeypatch)
    client = await enrolled(db, clock)
    await client.add_child("Петров Пётр", "01.01.2012", SNILS_2, MUNI)   # no certificate: no chart
    await client.send("/balance")
    picture, words, balance = client.reply.screens
    assert picture.image and Path(picture.image).parent == tmp_path / "charts"
    assert Path(picture.image).read_bytes().startswith(b"\x89PNG") and len(drawn) == 1
    assert "Мария" in picture.text and "2026" in picture.text and not picture.rows
    words_text = words.text.replace("\u00a0", " ")
    # 1 500 ₽ a month, enrolled on 21 November: November and December reserved.
    assert "• Ноябрь: зарезервировано 1 500 ₽" in words_text and "• Декабрь: зарезервировано 1 500 ₽" in words_text
    assert "В остальные месяцы — ничего." in words_text
    assert "Итого: оплачено 0 ₽, зарезервировано 3 000 ₽, без доплаты; свободно 9 000 ₽." in words_text
    assert "2027 год (прогноз по номиналу 2026 года — 12 000 ₽)" in words_text     # it runs until May 2027
    assert "• Январь: сертификатом ≈ 1 500 ₽" in words_text and "Останется свободным ≈ 4 500 ₽." in words_text
    assert "Доступно: 9 000 ₽" in balance.text.replace("\u00a0", " ") and client.has_button("План на год")
    assert client.last is balance      # its buttons stay at the bottom of the chat

    # The ledger did not change: the same file, nothing drawn.
    await client.send("/balance")
    assert client.reply.screens[0].image == picture.image and len(drawn) == 1
    # From the menu's button: the same reply.
    await client.send("/start")
    await client.click("Баланс")
    assert client.reply.screens[0].image == picture.image and len(drawn) == 1


async def test_an_hours_certificate_is_charted_in_hours(db, clock, monkeypatch):
    counting_render(monkeypatch)
    client = await enrolled(db, clock, unit=Unit.HOURS)
    await client.send("/balance")
    picture, words, _ = client.reply.screens
    assert picture.image.endswith(".png") and "-hours-" in picture.image
    text = words.text.replace("\u00a0", " ")
    assert "• Ноябрь: зарезервировано 8 ч" in text and "свободно 4 ч" in text
    assert "₽" not in text


async def test_a_parent_without_money_on_a_certificate_gets_no_chart(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await client.send("/balance")
    assert [s.image for s in client.reply.screens] == [None]


async def test_a_failed_drawing_still_answers_and_the_next_balance_draws_again(db, clock, monkeypatch):
    client = await enrolled(db, clock)
    real = charts.draw

    async def broken(path, figures):
        raise RuntimeError("no fonts today")
    monkeypatch.setattr(charts, "draw", broken)
    await client.send("/balance")
    picture = client.reply.screens[0]
    assert not Path(picture.image).exists() and "Доступно:" in client.text
    monkeypatch.setattr(charts, "draw", real)
    await client.send("/balance")
    assert Path(client.reply.screens[0].image).exists()
