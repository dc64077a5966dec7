"""What expires, when it matters: from 1 December /balance, the year's plan and the year-end
reminder say how much expires on 31 December on each certificate, in its unit, and suggest
only programs that can still be paid this December; before December, the usual advice."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.dialogs import texts
from bot.dialogs.year_end import expires_verb
from bot.jobs import screens, tasks
from bot.jobs.delivery import Deliverer
from core import outbox, year_end
from core.models import Child, Funding, Unit
from tests.dialogs.kit import SNILS_1, SNILS_2, DialogClient, add_nominal, add_program, children_of, make_dialogs
from tests.unit.test_jobs_delivery import FakeSender, FakeTime

MUNI = "Город Тест"


async def enroll(client: DialogClient, program_id: int, child: str = "Мария") -> None:
    await client.press(f"enr:start:{program_id}")
    if client.has_button(child):
        await client.click(child)
    await client.click("Подтвердить")
    assert "Подтвердить" not in client.labels(), client.text


async def a_funded_child(db, clock, unit: Unit = Unit.RUB, platform: str = "test") -> tuple[DialogClient, int]:
    """21 November: Мария enrolls in «Робототехника» (November and December reserved)."""
    rub = unit is Unit.RUB
    await add_nominal(db, MUNI, 2026, 1_200_000 if rub else 36, unit)
    robots = await add_program(db, clock, title="Робототехника", price=150_000 if rub else None,
                               hours=None if rub else 4)
    client = DialogClient(make_dialogs(db, clock), platform=platform)
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await enroll(client, robots)
    return client, robots


def card_ids(client: DialogClient) -> list[int]:
    return [int(b.action.split(":")[1]) for b in client.buttons() if b.action.startswith("card:")]


@pytest.mark.parametrize("unit, free", [(Unit.RUB, "9 000 ₽"), (Unit.HOURS, "28 ч")])
async def test_from_1_december_balance_says_what_expires_on_31_december(db, clock, unit, free):
    client, _ = await a_funded_child(db, clock, unit)
    await client.send("/balance")
    assert "сгор" not in client.text and "31 декабря" not in client.text     # November: nothing yet
    await client.click("План на год")
    assert texts.PLAN_ADVICE in client.text

    clock.set(dt.datetime(2026, 12, 1, 0, 30))            # just after midnight in TIMEZONE
    await client.send("/balance")
    assert f"{free} сгорят 31 декабря" in client.text
    await client.click("План на год")
    assert f"{free} сгорят 31 декабря" in client.text and texts.PLAN_ADVICE not in client.text
    assert f"Свободно: {free}" in client.text


async def test_november_by_the_clock_in_timezone_is_still_november(db, clock):
    client, _ = await a_funded_child(db, clock)
    clock.set(dt.datetime(2026, 11, 30, 20, 30, tzinfo=dt.timezone.utc))   # 23:30 in Moscow
    await client.send("/balance")
    assert "сгорят" not in client.text
    clock.set(dt.datetime(2026, 11, 30, 21, 30, tzinfo=dt.timezone.utc))   # 00:30, 1 December
    await client.send("/balance")
    assert "9 000 ₽ сгорят 31 декабря" in client.text


async def test_nothing_free_in_december_says_nothing_expires(db, clock):
    await add_nominal(db, MUNI, 2026, 300_000)
    robots = await add_program(db, clock, title="Робототехника", price=150_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await enroll(client, robots)                          # November + December take all 3 000 ₽
    clock.set(dt.datetime(2026, 12, 2, 12, 0))
    await client.send("/balance")
    assert "сгорят" not in client.text
    await client.click("План на год")
    assert texts.EXPIRES_NOTHING in client.text and texts.PLAN_ADVICE not in client.text


async def test_december_suggestions_are_only_programs_that_can_still_be_paid_this_december(any_db, clock):
    db = any_db
    client, robots = await a_funded_child(db, clock)
    good = [await add_program(db, clock, title="Лепка", start=dt.date(2026, 12, 15)),   # in title order
            await add_program(db, clock, title="Шахматы")]
    not_payable = [
        await add_program(db, clock, title="Без декабря", months="1-5,9-11"),
        await add_program(db, clock, title="Кончилась", start=dt.date(2026, 1, 10), end=dt.date(2026, 11, 30)),
        await add_program(db, clock, title="Ещё не началась", start=dt.date(2027, 1, 10)),
        await add_program(db, clock, title="Другой город", municipality="Город Другой"),
        await add_program(db, clock, title="Для старших", age_min=14),
        await add_program(db, clock, title="Бесплатная", funding=Funding.MUNICIPAL, price=None),
        await add_program(db, clock, title="Платная", funding=Funding.PAID),
        await add_program(db, clock, title="Только часы", price=None, hours=4),
        await add_program(db, clock, title="Мест нет", seats=1),
    ]
    other = DialogClient(make_dialogs(db, clock), user_id="2")          # takes the one seat
    await other.start()
    await other.add_child("Петров Пётр Иванович", "01.01.2014", SNILS_2, MUNI)
    await enroll(other, not_payable[-1], child="Пётр")

    clock.set(dt.datetime(2026, 12, 1, 10, 0))
    await client.send("/balance")
    text = client.text
    assert card_ids(client) == good
    for title in ("Шахматы", "Лепка"):
        assert f"«{title}» — 1 500 ₽ в месяц" in text
    for title in ("Без декабря", "Кончилась", "Ещё не началась", "Другой город", "Для старших",
                  "Бесплатная", "Платная", "Только часы", "Мест нет"):
        assert title not in text, title
    assert "«Робототехника» —" not in text                # already hers
    await client.click("План на год")
    assert card_ids(client) == good
    await client.click("1")                               # the number opens the card
    assert "Лепка" in client.text
    assert client.has_button("Записать")


async def test_at_most_three_programs_are_suggested(db, clock):
    client, _ = await a_funded_child(db, clock)
    for title in ("А", "Б", "В", "Г", "Д"):
        await add_program(db, clock, title=f"{title} — кружок")
    clock.set(dt.datetime(2026, 12, 1, 10, 0))
    [child] = await children_of(db)
    async with db.read() as session:
        child = await session.get(Child, child.id)
        programs = await year_end.december_programs(session, child, Unit.RUB, clock)
    assert [p.title for p in programs] == ["А — кружок", "Б — кружок", "В — кружок"]
    await client.send("/balance")
    assert len(card_ids(client)) == 3


async def test_year_end_reminder_says_what_expires_and_suggests_the_same_programs(db, clock):
    client, _ = await a_funded_child(db, clock, platform="telegram")   # the terminal gets no reminders
    chess = await add_program(db, clock, title="Шахматы")
    clock.set(dt.datetime(2026, 12, 1, 10, 0))
    assert (await tasks.run_year_end(db, clock)).notices == 1
    time = FakeTime()
    sender = FakeSender("telegram", time)
    await Deliverer(db, clock, {"telegram": sender}, monotonic=time.clock, sleep=time.sleep).run()
    [(user, _, screen)] = sender.sent
    text = screen.text.replace("\u00a0", " ")
    assert user == "1"
    assert texts.YEAR_END_TITLE in text
    assert "Мария: сертификат №" in text and "— 9 000 ₽ сгорят 31 декабря" in text
    assert "1. «Шахматы» — 1 500 ₽ в месяц" in text
    reminder_cards = [b.action for b in screen.buttons if b.action.startswith("card:")]
    assert reminder_cards == [f"card:{chess}"]
    await client.send("/balance")
    assert [b.action for b in client.buttons() if b.action.startswith("card:")] == reminder_cards


async def test_a_year_end_reminder_built_before_december_says_nothing(db, clock):
    await a_funded_child(db, clock, platform="telegram")
    [child] = await children_of(db, platform="telegram")
    unit = outbox.Unit(parent_id=child.parent_id, platform="telegram", user_id="1", kind=outbox.YEAR_END,
                       row_ids=(1,), refs=(outbox.year_end_ref(dt.date(2026, 12, 1)),))
    async with db.read() as session:
        assert await screens.build(session, unit, clock.today(), clock.tz, clock.now()) is None   # 21 November
        december = dt.datetime(2026, 12, 1, 9, 0, tzinfo=clock.tz)
        screen = await screens.build(session, unit, december.date(), clock.tz, december)
    assert "9\u00a0000\u00a0₽ сгорят 31 декабря" in screen.text


async def test_year_end_reminder_of_an_hours_certificate_speaks_in_hours(db, clock):
    await a_funded_child(db, clock, Unit.HOURS, platform="telegram")
    await add_program(db, clock, title="Шахматы", price=None, hours=3)
    clock.set(dt.datetime(2026, 12, 20, 10, 0))
    assert (await tasks.run_year_end(db, clock)).notices == 1
    time = FakeTime()
    sender = FakeSender("telegram", time)
    await Deliverer(db, clock, {"telegram": sender}, monotonic=time.clock, sleep=time.sleep).run()
    [(_, _, screen)] = sender.sent
    text = screen.text.replace("\u00a0", " ")
    assert "— 28 ч сгорят 31 декабря" in text and "«Шахматы» — 3 ч в месяц" in text
    assert "₽" not in text


def test_the_verb_agrees_with_the_amount():
    assert expires_verb(2100, Unit.RUB) == "сгорит"       # 21 рубль сгорит
    assert expires_verb(1100, Unit.RUB) == "сгорят"       # 11 рублей сгорят
    assert expires_verb(1_150_000, Unit.RUB) == "сгорят"
    assert expires_verb(150, Unit.RUB) == "сгорят"        # 1,50 ₽
    assert expires_verb(31, Unit.HOURS) == "сгорит"
    assert expires_verb(28, Unit.HOURS) == "сгорят"
