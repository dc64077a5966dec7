"""`python -m bot reviews list|hide|unhide` as an operator runs it: ids to find a review by,
never a parent's or a child's name, hiding takes it off the card, an unknown id is a clear error."""
from __future__ import annotations

import datetime as dt

from bot.dialogs import texts
from core.calendar_jobs import settle_month
from core.clock import FixedClock
from core.db import Database
from tests.dialogs.kit import SNILS_1, DialogClient, add_nominal, add_program, make_dialogs
from tests.unit.test_cli import bot

MUNI = "Город Тест"


async def test_an_operator_lists_hides_and_shows_a_review_again(tmp_path):
    assert bot(tmp_path, "migrate").returncode == 0
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3")
    # The process's clock is the real one: the review is made "now", a month after enrolling.
    today = dt.date.today()
    first = today.replace(day=1)
    before = (first - dt.timedelta(days=1)).replace(day=10)
    clock = FixedClock(dt.datetime.combine(before, dt.time(12, 0)))
    try:
        await add_nominal(db, MUNI, before.year, 1_200_000)
        program_id = await add_program(db, clock, title="Робототехника", start=before.replace(day=1),
                                       end=today + dt.timedelta(days=200), months="1-12")
        client = DialogClient(make_dialogs(db, clock))
        await client.start()
        await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
        await client.press(f"enr:start:{program_id}")
        await client.click("Иванова Мария")
        await client.click("Подтвердить")
        clock.set(dt.datetime.combine(first, dt.time(0, 5)))
        await settle_month(db, before.year, before.month, clock)
        clock.set(dt.datetime.combine(first, dt.time(9, 0)))
        await client.press(f"card:{program_id}")
        await client.click(texts.BTN_RATE)
        await client.click("2 ★")
        await client.send("Плохо организовано")
    finally:
        await db.dispose()

    listed = bot(tmp_path, "reviews", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"#1  program {program_id} «Робототехника»  2/5" in listed.stdout
    assert "shown" in listed.stdout and "«Плохо организовано»" in listed.stdout
    assert "Иванова" not in listed.stdout and "Мария" not in listed.stdout
    assert "#1" in bot(tmp_path, "reviews", "list", "--program", str(program_id)).stdout
    assert "no reviews of program 999 yet" in bot(tmp_path, "reviews", "list", "--program", "999").stdout

    hidden = bot(tmp_path, "reviews", "hide", "1")
    assert hidden.returncode == 0 and "review #1 is hidden from the card of «Робототехника»" in hidden.stdout
    assert "was hidden already" in bot(tmp_path, "reviews", "hide", "1").stdout
    assert "hidden " in bot(tmp_path, "reviews", "list").stdout

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3")
    try:
        visitor = DialogClient(make_dialogs(db, clock), user_id="9")
        await visitor.press(f"card:{program_id}")
        assert texts.REVIEWS_SECTION_NONE.strip() in visitor.text and "Плохо" not in visitor.text
    finally:
        await db.dispose()

    shown = bot(tmp_path, "reviews", "unhide", "1")
    assert shown.returncode == 0 and "shown on the card" in shown.stdout

    for args in (("reviews", "hide", "999"), ("reviews", "unhide", "999")):
        missing = bot(tmp_path, *args)
        assert missing.returncode == 1 and "no review #999" in missing.stderr and "reviews list" in missing.stderr
    for args in (("reviews", "hide", "abc"), ("reviews", "hide"), ("reviews", "list", "--limit", "0")):
        bad = bot(tmp_path, *args)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr + bad.stdout, args
