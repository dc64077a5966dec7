"""Rating a program (issue 13, seed 004 «по итогам обучения»): from an enrollment's screen or
the program's card, 1–5 stars, an optional comment, thanks; before the first settled month the
bot says when rating opens; refusals store nothing; the card shows the average, the count and
the latest comments without names; /mydata lists the parent's reviews, /forget erases comments."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.dialogs import texts
from core.calendar_jobs import settle_month
from core.models import Enrollment, Funding, Review
from tests.dialogs.kit import (
    SNILS_1,
    SNILS_2,
    SNILS_3,
    DialogClient,
    add_nominal,
    add_program,
    count,
    make_dialogs,
    snapshot,
)

MUNI = "Город Тест"
CHILD = "Иванова Мария Петровна"


async def enrolled(db, clock, *, title="Робототехника", user_id="1", snils=SNILS_1, dialogs=None,
                   child=CHILD, **program) -> tuple[DialogClient, int, int]:
    """A parent with a child enrolled (21.11.2026) in a new program: (client, program, enrollment)."""
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title=title, **program)
    client = DialogClient(dialogs or make_dialogs(db, clock), user_id=user_id)
    await client.start()
    await client.add_child(child, "05.03.2016", snils, MUNI)
    await client.press(f"enr:start:{program_id}")
    await client.click(child.split()[0])
    await client.click("Подтвердить")
    async with db.read() as session:
        enrollment_id = (await session.execute(
            select(Enrollment.id).where(Enrollment.program_id == program_id))).scalar_one()
    return client, program_id, enrollment_id


async def november_settled(db, clock) -> None:
    """1 December: November, the first study month, is settled."""
    clock.set(dt.datetime(2026, 12, 1, 0, 5))
    await settle_month(db, 2026, 11, clock)
    clock.set(dt.datetime(2026, 12, 1, 10, 0))


async def reviews(db) -> list[tuple[int, str | None, bool]]:
    async with db.read() as session:
        return [(r.rating, r.comment, r.hidden_at is not None)
                for r in (await session.execute(select(Review).order_by(Review.id))).scalars()]


async def test_before_the_first_settled_month_the_bot_says_when_rating_opens(db, clock):
    client, program_id, enrollment_id = await enrolled(db, clock)
    await client.send("/enrollments")
    await client.click("Робототехника")
    await client.click(texts.BTN_RATE)
    assert "Оценить программу «Робототехника» можно будет с 01.12.2026" in client.text
    assert not any(b.action.startswith("rv:s:") for b in client.buttons())
    child_id = (await client_child_ids(db))[0]
    before = await snapshot(db)
    await client.press(f"rv:s:{program_id}:{child_id}:5")        # a star pressed anyway (forged)
    assert texts.REFUSALS["rating_not_open"] in client.text
    assert await reviews(db) == [] and await snapshot(db) == before
    # The card offers it too, and says the same.
    await client.press(f"card:{program_id}")
    assert texts.REVIEWS_SECTION_NONE.strip() in client.text
    await client.click(texts.BTN_RATE)
    assert "можно будет с 01.12.2026" in client.text


async def client_child_ids(db) -> list[int]:
    async with db.read() as session:
        return list((await session.execute(select(Enrollment.child_id).order_by(Enrollment.id))).scalars())


async def test_the_whole_rating_flow_from_the_enrollment_screen_then_the_card_shows_it(db, clock):
    client, program_id, _ = await enrolled(db, clock)
    await november_settled(db, clock)
    await client.send("/enrollments")
    await client.click("Робототехника")
    await client.click(texts.BTN_RATE)
    assert "Как вам программа «Робототехника»?" in client.text
    assert [b.label for b in client.last.rows[0]] == ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"]
    await client.click("4 ★")
    assert "Оценка: ★★★★☆" in client.text and "до 1 000 знаков" in client.text
    await client.send("  Ребёнок ходит с удовольствием, педагог внимательный.  ")
    assert "Спасибо! Оценка ★★★★☆ программе «Робототехника» сохранена" in client.text
    assert "Ребёнок ходит с удовольствием, педагог внимательный." in client.text
    assert await reviews(db) == [(4, "Ребёнок ходит с удовольствием, педагог внимательный.", False)]
    await client.press(f"card:{program_id}")
    assert "⭐ Оценки родителей: ★ 4,0 · 1 оценка" in client.text
    assert "★★★★☆ «Ребёнок ходит с удовольствием, педагог внимательный.»" in client.text
    assert "Иванова" not in client.text and "Мария" not in client.text   # never who wrote it
    # Rating again (from the card) replaces it: one review per child and program.
    await client.click(texts.BTN_RATE)
    assert "Ваша оценка сейчас: ★★★★☆" in client.text
    await client.click("5 ★")
    await client.click(texts.BTN_NO_COMMENT)
    assert "Оценка ★★★★★" in client.text and "Ваш отзыв" not in client.text
    assert await reviews(db) == [(5, None, False)]
    await client.click(texts.BTN_TO_CARD)
    assert "★ 5,0 · 1 оценка" in client.text and "педагог" not in client.text


async def test_a_rating_outside_one_to_five_or_a_long_comment_is_refused_and_nothing_is_stored(db, clock):
    client, program_id, _ = await enrolled(db, clock)
    await november_settled(db, clock)
    child_id = (await client_child_ids(db))[0]
    for forged in (0, 6, 9):
        await client.press(f"rv:s:{program_id}:{child_id}:{forged}")
        assert "Оценка — от 1 до 5 звёзд" in client.text, forged
    await client.press(f"rv:s:{program_id}:{child_id}:-1")
    assert texts.STALE_BUTTON in client.text
    await client.press(f"rv:s:{program_id}:{child_id}:3")
    await client.send("а" * 1001)
    assert texts.TEXT_TOO_LONG in client.text and "до 1 000 знаков" in client.text   # still asked
    assert await reviews(db) == []
    await client.send("б" * 1000)                                # exactly the limit is fine
    assert await reviews(db) == [(3, "б" * 1000, False)]
    # The card shows a long comment cut, never a message over the messenger's limit.
    await client.press(f"card:{program_id}")
    assert "б" * 299 + "…" in client.text and "б" * 301 not in client.text


async def test_a_program_the_child_never_attended_is_refused(db, clock):
    client, _, _ = await enrolled(db, clock)
    other = await add_program(db, clock, title="Шахматы")
    await november_settled(db, clock)
    child_id = (await client_child_ids(db))[0]
    before = await snapshot(db)
    await client.press(f"card:{other}")
    assert texts.BTN_RATE not in client.labels()
    for forged in (f"rv:p:{other}", f"rv:c:{other}:{child_id}", f"rv:s:{other}:{child_id}:5"):
        await client.press(forged)
        assert texts.REFUSALS["never_attended"] in client.text, forged
    assert await reviews(db) == [] and await snapshot(db) == before


async def test_another_parents_child_cannot_be_rated_for(db, clock):
    owner, program_id, enrollment_id = await enrolled(db, clock)
    stranger = DialogClient(owner.dialogs, user_id="2")
    await stranger.start()
    await november_settled(db, clock)
    child_id = (await client_child_ids(db))[0]
    for forged in (f"rv:e:{enrollment_id}", f"rv:c:{program_id}:{child_id}", f"rv:s:{program_id}:{child_id}:1"):
        await stranger.press(forged)
        assert ("не найден" in stranger.text) or texts.REFUSALS["never_attended"] in stranger.text, forged
    await stranger.press(f"card:{program_id}")
    assert texts.BTN_RATE not in stranger.labels()
    assert await reviews(db) == []


async def test_a_cancelled_enrollment_can_be_rated_after_its_month_is_settled(db, clock):
    client, program_id, enrollment_id = await enrolled(db, clock)
    clock.set(dt.datetime(2026, 11, 25, 15, 0))                 # not the day it was made: November stays
    await client.press(f"cancel:yes:{enrollment_id}")
    await client.send("/enrollments")
    await client.click("Оценить: 1. Робототехника")
    assert "можно будет с 01.12.2026" in client.text
    await november_settled(db, clock)
    await client.send("/enrollments")
    await client.click("Оценить: 1. Робототехника")
    await client.click("2 ★")
    await client.click(texts.BTN_NO_COMMENT)
    assert await reviews(db) == [(2, None, False)]


async def test_an_enrollment_cancelled_the_same_day_was_never_attended(db, clock):
    client, program_id, enrollment_id = await enrolled(db, clock)
    await client.press(f"cancel:yes:{enrollment_id}")           # everything refunded
    await november_settled(db, clock)
    await client.send("/enrollments")
    assert not any(b.action.startswith("rv:") for b in client.buttons())
    await client.press(f"rv:e:{enrollment_id}")
    assert texts.REFUSALS["never_attended"] in client.text
    assert await reviews(db) == []


async def test_a_free_program_opens_rating_on_the_first_of_the_month_after_its_first(db, clock):
    client, program_id, _ = await enrolled(db, clock, title="Хор", funding=Funding.MUNICIPAL, price=None)
    await client.press(f"card:{program_id}")
    await client.click(texts.BTN_RATE)
    assert "можно будет с 01.12.2026" in client.text
    clock.set(dt.datetime(2026, 12, 1, 9, 0))                   # nothing to settle: the calendar says
    await client.press(f"card:{program_id}")
    await client.click(texts.BTN_RATE)
    await client.click("5 ★")
    await client.click(texts.BTN_NO_COMMENT)
    assert await reviews(db) == [(5, None, False)]


async def test_two_children_in_one_program_each_rate_it_and_the_card_averages(db, clock):
    client, program_id, _ = await enrolled(db, clock)
    await client.add_child("Иванов Пётр Петрович", "01.02.2015", SNILS_2, MUNI)
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванов Пётр")
    await client.click("Подтвердить")
    third = DialogClient(client.dialogs, user_id="3")
    await third.start()
    await third.add_child("Сидорова Анна Сергеевна", "01.02.2014", SNILS_3, MUNI)
    await third.press(f"enr:start:{program_id}")
    await third.click("Сидорова Анна")
    await third.click("Подтвердить")
    await november_settled(db, clock)
    await client.press(f"card:{program_id}")
    await client.click(texts.BTN_RATE)
    assert "Выберите ребёнка" in client.text
    for name, stars, comment in (("Мария", "5 ★", "Отлично"), ("Пётр", "4 ★", "Хорошо")):
        await client.press(f"card:{program_id}")
        await client.click(texts.BTN_RATE)
        await client.click(name)
        await client.click(stars)
        await client.send(comment)
    await third.press(f"card:{program_id}")
    await third.click(texts.BTN_RATE)
    await third.click("5 ★")
    await third.send("Понравилось")
    await third.press(f"card:{program_id}")
    # (5 + 4 + 5) / 3 = 4,67 → 4,7; the newest comment first.
    assert "★ 4,7 · 3 оценки" in third.text
    assert third.text.index("«Понравилось»") < third.text.index("«Хорошо»") < third.text.index("«Отлично»")


async def test_mydata_lists_the_reviews_and_forget_erases_comments_but_keeps_ratings(db, clock):
    client, program_id, _ = await enrolled(db, clock)
    await november_settled(db, clock)
    await client.press(f"card:{program_id}")
    await client.click(texts.BTN_RATE)
    await client.click("4 ★")
    await client.send("Звоните Марии Ивановне, 8-900-000-00-00")
    await client.send("/mydata")
    shown = "\n".join(screen.text for screen in client.reply.screens)
    assert "⭐ Оценки программ" in shown and "• «Робототехника» — Мария: ★★★★☆, 01.12.2026" in shown
    assert "Отзыв: «Звоните Марии Ивановне, 8-900-000-00-00»" in shown
    await client.send("/forget")
    assert "Будут удалены тексты ваших отзывов о программах: 1" in client.text
    await client.click("Да, удалить")
    assert await reviews(db) == [(4, None, False)]
    async with db.read() as session:
        assert (await session.execute(select(Review.comment_enc))).scalar_one() is None
    visitor = DialogClient(client.dialogs, user_id="9")
    await visitor.press(f"card:{program_id}")
    assert "★ 4,0 · 1 оценка" in visitor.text and "Звоните" not in visitor.text
    assert await count(db, Review) == 1
