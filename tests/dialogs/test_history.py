"""«Движение средств»: every ledger row of a certificate in plain words, newest first, paged;
a forged certificate or page is refused."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.dialogs import texts
from core.errors import DomainError, NotFound
from core.models import Certificate, Enrollment, LedgerEntry, LedgerKind, Program, Unit
from core.calendar_jobs import settle_month, year_rollover
from tests.dialogs.kit import SNILS_1, SNILS_2, DialogClient, add_nominal, add_program, make_dialogs, snapshot

MUNI = "Город Тест"
MONTHS = ("январь", "февраль", "март", "апрель", "май", "июнь",
          "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь")


def amount(value: int, unit: Unit) -> str:
    if unit is Unit.HOURS:
        return f"{value} ч"
    rubles, kopecks = divmod(value, 100)
    assert kopecks == 0
    return f"{rubles:,} ₽".replace(",", " ")


def expected_line(row: LedgerEntry, title: str | None, tz) -> str:
    """The rule of each kind, written out independently of bot/dialogs/texts.py."""
    day = row.created_at.astimezone(tz)
    money = amount(row.amount, row.unit)
    month = ""
    if row.month is not None:
        month = MONTHS[row.month - 1] + ("" if row.year == day.year else f" {row.year}")
    what = {
        LedgerKind.CREDIT: f"зачислено {money} на {row.year} год",
        LedgerKind.RESERVE: f"зарезервировано {money} за {month}, программа «{title}»",
        LedgerKind.SETTLE: f"оплачен {month} — {money}, программа «{title}»",
        LedgerKind.REFUND: f"возвращено {money} за {month}, программа «{title}» (отмена записи)",
        LedgerKind.EXPIRE: f"сгорело {money} — остаток {row.year} года",
    }[row.kind]
    return f"{day:%d.%m.%Y} · {what}"


async def enroll(client: DialogClient, program_id: int, child: str = "Мария") -> None:
    await client.press(f"enr:start:{program_id}")
    if client.has_button(child):
        await client.click(child)
    await client.click("Подтвердить")
    assert "Подтвердить" not in client.labels(), client.text


async def a_year_of_money(db, clock, unit: Unit) -> DialogClient:
    """Enroll in three programs (the third partly co-paid), cancel one with a refund that tops
    the co-paid December up (a second reserve row), settle November, roll into 2027."""
    rub = unit is Unit.RUB
    for year in (2026, 2027):
        await add_nominal(db, MUNI, year, 1_200_000 if rub else 36, unit)
    robots = await add_program(db, clock, title="Робототехника", price=150_000 if rub else None,
                               hours=None if rub else 4)
    chess = await add_program(db, clock, title="Шахматы", price=300_000 if rub else None,
                              hours=None if rub else 6)
    dance = await add_program(db, clock, title="Танцы", price=200_000 if rub else None,
                              hours=None if rub else 10, end=dt.date(2026, 12, 31))
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await enroll(client, robots)
    await enroll(client, chess)
    await enroll(client, dance)                            # 12 000 − 9 000 leaves 3 000 of 4 000 ₽
    clock.set(dt.datetime(2026, 11, 25, 15, 0))          # not the same day: December comes back
    async with db.read() as session:
        chess_enrollment = (await session.execute(
            select(Enrollment.id).where(Enrollment.program_id == chess))).scalar_one()
    await client.press(f"cancel:yes:{chess_enrollment}")
    assert "Запись отменена" in client.text
    clock.set(dt.datetime(2026, 12, 1, 0, 5))
    await settle_month(db, 2026, 11, clock)
    clock.set(dt.datetime(2027, 1, 1, 0, 10))
    await year_rollover(db, 2027, clock)
    return client


async def ledger_rows(db) -> list[tuple[LedgerEntry, str | None]]:
    async with db.read() as session:
        return [tuple(row) for row in (await session.execute(
            select(LedgerEntry, Program.title)
            .outerjoin(Enrollment, Enrollment.id == LedgerEntry.enrollment_id)
            .outerjoin(Program, Program.id == Enrollment.program_id)
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()))).all()]


def history_lines(client: DialogClient) -> list[str]:
    return [line for line in client.text.splitlines() if " · " in line]


async def all_pages(client: DialogClient) -> list[str]:
    """The history's lines, page after page (▶), checking the page counter on the way."""
    pages = [client.text]
    shown = history_lines(client)
    while client.has_button("▶"):
        await client.click("▶")
        pages.append(client.text)
        shown += history_lines(client)
    for n, text in enumerate(pages, 1):
        assert f"Страница {n} из {len(pages)}" in text
    return shown


@pytest.mark.parametrize("unit", [Unit.RUB, Unit.HOURS])
async def test_history_lists_every_ledger_row_of_a_journey_newest_first(any_db, clock, unit):
    db = any_db
    client = await a_year_of_money(db, clock, unit)
    rows = await ledger_rows(db)
    assert {row.kind for row, _ in rows} == set(LedgerKind)      # the journey wrote every kind
    december_dance = [row for row, title in rows if title == "Танцы" and row.kind is LedgerKind.RESERVE
                      and row.month == 12]
    assert len(december_dance) == 2                               # reserved, then topped up
    assert len(rows) == 21

    await client.send("/balance")
    await client.click("Движение средств: Мария")
    assert "Движение средств: Иванова Мария Петровна" in client.text
    assert "(всего записей: 21)" in client.text
    assert len(history_lines(client)) == 10 and not client.has_button("◀")
    shown = await all_pages(client)
    assert shown == [expected_line(row, title, clock.tz) for row, title in rows]
    await client.click("◀")
    assert history_lines(client) == shown[10:20]
    assert client.has_button("К балансу")


async def test_history_spells_out_the_journey_in_plain_words(db, clock):
    client = await a_year_of_money(db, clock, Unit.RUB)
    await client.send("/balance")
    await client.click("Движение средств")
    text = "\n".join(await all_pages(client))
    for line in ("21.11.2026 · зачислено 12 000 ₽ на 2026 год",
                 "21.11.2026 · зарезервировано 3 000 ₽ за декабрь, программа «Шахматы»",
                 "21.11.2026 · зарезервировано 1 000 ₽ за декабрь, программа «Танцы»",
                 # newest first: the refund, then the co-payment it topped up, above it
                 "25.11.2026 · зарезервировано 1 000 ₽ за декабрь, программа «Танцы»\n"
                 "25.11.2026 · возвращено 3 000 ₽ за декабрь, программа «Шахматы» (отмена записи)",
                 "01.12.2026 · оплачен ноябрь — 3 000 ₽, программа «Шахматы»",   # November was not refunded
                 "01.01.2027 · оплачен декабрь 2026 — 2 000 ₽, программа «Танцы»",   # both December rows
                 "01.01.2027 · сгорело 2 000 ₽ — остаток 2026 года",   # 12 000 − 13 000 reserved + 3 000
                 "01.01.2027 · зачислено 12 000 ₽ на 2027 год",
                 "01.01.2027 · зарезервировано 1 500 ₽ за май, программа «Робототехника»"):
        assert line in text, line


async def test_a_certificate_with_no_money_yet_shows_no_history_button(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await client.send("/balance")
    assert not client.has_button("Движение средств")


async def test_another_parents_certificate_and_a_forged_page_are_refused(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program = await add_program(db, clock)
    owner = DialogClient(make_dialogs(db, clock), user_id="1")
    await owner.start()
    await owner.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await enroll(owner, program)
    async with db.read() as session:
        certificate_id = (await session.execute(select(Certificate.id))).scalar_one()

    stranger = DialogClient(make_dialogs(db, clock), user_id="2")
    await stranger.start()
    await stranger.add_child("Петров Пётр Иванович", "01.01.2012", SNILS_2, MUNI)
    before = await snapshot(db)
    await stranger.press(f"hist:{certificate_id}:0")
    assert "Сертификат не найден" in stranger.text
    assert "Иванова" not in stranger.text and "зачислено" not in stranger.text
    await stranger.press(f"hist:{certificate_id + 1}:0")            # no such certificate at all
    assert "Сертификат не найден" in stranger.text

    await owner.press(f"hist:{certificate_id}:1")                   # three rows: one page only
    assert "Такой страницы нет" in owner.text and "зачислено" not in owner.text
    for forged in (f"hist:{certificate_id}:-1", f"hist:{certificate_id}", "hist:x:0", f"hist:{certificate_id}:0:9"):
        await owner.press(forged)
        assert "устарела" in owner.text or "не подходит" in owner.text or "Кнопка" in owner.text, owner.text
    await owner.press(f"hist:{certificate_id}:0")
    assert len(history_lines(owner)) == 3                            # credit, November, December
    assert await snapshot(db) == before


def test_the_new_refusals_have_their_own_sentence():
    for error in (NotFound("certificate", certificate_id=5), DomainError("history_page_invalid", page=3)):
        text = texts.refusal(error)
        assert text != texts.REFUSAL_FALLBACK and "{" not in text and text.endswith(".")
