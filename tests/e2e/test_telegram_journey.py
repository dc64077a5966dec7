"""A parent's whole journey through the real bot process, over the fake Telegram Bot API.

`python -m bot run` runs as a subprocess against tests/e2e/fake_telegram.py;
the test types and presses buttons like a parent would, reads the chat as the
parent sees it, and checks the SQLite file the bot wrote.
"""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bot.dialogs import format as fmt
from bot.dialogs import texts
from core.models import Funding
from tests.e2e.botproc import running_bot
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram

pytestmark = pytest.mark.e2e

PARENT, STRANGER = 5001, 5002
CHILD = "Иванова Мария Петровна"
BIRTH = "05.03.2016"
SNILS = "112-233-445 95"
MUNICIPALITY = "г. Пятигорск"
PROGRAM = "Робототехника на Arduino"  # demo catalog: Пятигорск, 10–14 years, certificate-funded
START_TIMEOUT = 60


@pytest.fixture
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


def count(db_path, sql: str, *args: object) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, args).fetchone()[0]


def rows(db_path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, args).fetchall()


async def agree(fake: FakeTelegram, user: int) -> None:
    shown = await fake.say(user, "/start")
    assert texts.CONSENT.splitlines()[0] in shown.text
    shown = await fake.click(user, texts.BTN_AGREE)
    assert texts.MENU in shown.text


def assert_chat_hygiene(fake: FakeTelegram, bot_output: str) -> None:
    """Every press answered, nothing too long, no stack trace shown, no personal data in the logs."""
    assert fake.unanswered_callbacks() == []
    assert fake.texts_sent
    assert all(len(text) <= 4096 for _, text in fake.texts_sent)
    assert not any("Traceback" in text or 'File "' in text for _, text in fake.texts_sent)
    refused = [(c.method, c.status, c.params.get("text", "")[:40]) for c in fake.calls
               if c.status != 200 and c.method in ("sendMessage", "answerCallbackQuery")]
    assert refused == []
    for secret in (SNILS, "11223344595", "Иванова", "Мария"):
        assert secret not in bot_output, f"the bot's log holds personal data ({secret!r})"


async def test_parent_enrolls_with_an_auto_issued_certificate_and_cancels_for_a_refund(fake, tmp_path):
    env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": fake.base_url}

    def polling_since(n: int):
        return lambda: len(fake.calls_to("setMyCommands")) > n and len(fake.calls_to("getUpdates")) > 0

    async with running_bot(tmp_path, env, ready=polling_since(0), timeout=START_TIMEOUT) as proc:
        db = proc.database_path
        menu = {c["command"] for c in fake.commands}
        assert {"start", "find", "children", "balance", "enrollments", "subscribe", "help", "cancel",
                "forget"} <= menu

        # Consent, then a child: name …
        await agree(fake, PARENT)
        assert texts.CHILDREN_EMPTY in (await fake.say(PARENT, "/children")).text
        assert texts.CHILD_ASK_NAME in (await fake.click(PARENT, texts.BTN_ADD_CHILD)).text
        assert texts.CHILD_ASK_BIRTH in (await fake.say(PARENT, CHILD)).text

        # … the bot crashes while the birth date is being asked, and comes back.
        await fake.wait_for(lambda: fake.updates == [], timeout=5)  # everything handled was confirmed
        proc.kill()
        assert proc.returncode == -9
        await proc.restart(ready=polling_since(1), timeout=START_TIMEOUT)
        assert texts.CHILD_ASK_SNILS in (await fake.say(PARENT, BIRTH)).text
        assert texts.CHILD_ASK_MUNI in (await fake.say(PARENT, SNILS)).text
        summary = await fake.click(PARENT, MUNICIPALITY)
        assert CHILD in summary.text and "***-***-445 95" in summary.text and MUNICIPALITY in summary.text
        assert SNILS not in summary.text                     # shown masked once typed
        saved = await fake.click(PARENT, texts.BTN_SAVE)
        assert texts.CHILD_SAVED in saved.text and texts.NOT_ISSUED in saved.text
        assert count(db, "SELECT count(*) FROM children") == 1
        assert count(db, "SELECT count(*) FROM certificates") == 0  # issued at the first enrollment

        # /find → the program's card → enroll.
        results = await fake.say(PARENT, "/find робот")
        number = re.search(rf"^(\d+)\. {re.escape(PROGRAM)}$", results.text, re.M)
        assert number, results.text
        card = await fake.click(PARENT, number.group(1))
        assert PROGRAM in card.text and texts.FUNDING_BADGE[Funding.CERTIFICATE] in card.text
        # The card says whom to call and where to go (the demo's contacts, a map link, the parsed schedule).
        for part in ("📞 +7 900 000-10-03", "✉️ hello@robotlab-kavkaz.example", "🌐 https://robotlab-kavkaz.example",
                     "На карте: https://yandex.ru/maps/?text=", "Расписание: Вт, Чт 16:00–17:30"):
            assert part in card.text, part
        pick = await fake.click(PARENT, texts.BTN_ENROLL)
        assert texts.ENROLL_PICK.format(title=fmt.quoted(PROGRAM)) in pick.text
        quote = await fake.click(PARENT, CHILD)
        assert "Оплатит сертификат:" in quote.text and "Баланс сертификата: было" in quote.text
        done = await fake.click(PARENT, texts.BTN_CONFIRM)
        issued = re.search(r"Выпущен сертификат № (\d+), статус «с номиналом»", done.text)
        assert issued and len(issued.group(1)) == 10, done.text
        assert "Баланс сертификата: доступно" in done.text
        certificate = issued.group(1)
        # What next: the address with its map link, the first lesson, the contacts, what to bring.
        assert "Что дальше:" in done.text and "📍 Адрес: г. Пятигорск, ул. Университетская, 7" in done.text
        assert re.search(r"Первое занятие: (вторник|четверг), \d\d\.\d\d\.\d{4}, 16:00–17:30", done.text), done.text
        assert "📞 +7 900 000-10-03" in done.text
        assert f"номер сертификата дополнительного образования: № {certificate}" in done.text

        # The child's week shows the lessons.
        await fake.say(PARENT, "/children")
        await fake.click(PARENT, "1. Мария")
        week = await fake.click(PARENT, texts.BTN_WEEK)
        assert "Вторник:\n• 16:00–17:30 — «Робототехника на Arduino»" in week.text, week.text

        balance = await fake.say(PARENT, "/balance")
        assert certificate in balance.text and "с номиналом" in balance.text and "Доступно:" in balance.text

        listing = await fake.say(PARENT, "/enrollments")
        assert PROGRAM in listing.text and "(действует)" in listing.text
        details = await fake.click(PARENT, PROGRAM)
        assert "Статус: действует" in details.text
        _, cancel_data = fake.button(PARENT, texts.BTN_CANCEL_ENROLLMENT)
        enrollment_id = cancel_data.rsplit(":", 1)[1]

        # Another parent replays the first one's buttons: refused, nothing changes.
        before = rows(db, "SELECT kind, amount, month FROM ledger_entries ORDER BY id")
        await agree(fake, STRANGER)
        for forged in (cancel_data, f"cancel:yes:{enrollment_id}", f"enl:view:{enrollment_id}"):
            since = fake.mark()
            query = fake.push_callback(STRANGER, fake.view(STRANGER).message_id, forged)
            shown = await fake.wait_reply(STRANGER, since, callback=query)
            assert texts.REFUSALS["enrollment_not_found"] in shown.text or \
                texts.REFUSALS["enrollment_not_found"] in (fake.callbacks[query]["answered"] or {}).get("text", "")
            assert PROGRAM not in shown.text
        assert rows(db, "SELECT kind, amount, month FROM ledger_entries ORDER BY id") == before
        assert rows(db, "SELECT status FROM enrollments") == [("active",)]

        # The parent cancels on the same day: everything comes back.
        ask = await fake.click(PARENT, texts.BTN_CANCEL_ENROLLMENT)
        assert "На сертификат вернётся:" in ask.text
        refund_shown = re.search(r"На сертификат вернётся: (.+)", ask.text).group(1)
        cancelled = await fake.click(PARENT, texts.BTN_YES_CANCEL)
        assert texts.CANCELLED_DONE.format(refund=refund_shown) in cancelled.text
        assert "Баланс: доступно" in cancelled.text

        code = await proc.stop()
        assert code == 0, proc.output()[-2000:]
        output = proc.output()

    # What the bot wrote: one certificate, money reserved and refunded in full, the enrollment cancelled.
    assert rows(db, "SELECT number, status, unit FROM certificates") == [(certificate, "funded", "rub")]
    assert rows(db, "SELECT status FROM enrollments") == [("cancelled",)]
    ledger = rows(db, "SELECT kind, amount FROM ledger_entries")
    credited = [amount for kind, amount in ledger if kind == "credit"]
    reserved = sum(amount for kind, amount in ledger if kind == "reserve")
    refunded = sum(amount for kind, amount in ledger if kind == "refund")
    assert len(credited) == 1 and credited[0] > 0
    assert reserved > 0 and refunded == reserved
    assert count(db, "SELECT count(*) FROM children") == 1
    assert_chat_hygiene(fake, output)
    # Neither the database's files nor the process's log hold the child's data in clear text.
    stored = b"".join(path.read_bytes() for path in Path(db).parent.glob(f"{Path(db).name}*"))
    for clear in (CHILD, "Иванова", BIRTH, "2016-03-05", "11223344595", SNILS, "112-233-44595"):
        assert clear.encode() not in stored and clear not in output, clear


async def test_parent_rates_the_program_after_its_first_settled_month(fake, tmp_path):
    """Issue 13, ratings: from /enrollments the bot first says when rating opens; once the
    month is settled (`jobs run settle-month`), stars and a comment; the card shows them; a
    forged rating and a comment over 1 000 characters are refused, storing nothing."""
    from tests.e2e import ratings

    env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": fake.base_url}
    ready = lambda: fake.seen("setMyCommands") and len(fake.calls_to("getUpdates")) > 0  # noqa: E731
    async with running_bot(tmp_path, env, ready=ready, timeout=START_TIMEOUT) as proc:
        db = proc.database_path
        await agree(fake, PARENT)
        await fake.say(PARENT, "/children")
        await fake.click(PARENT, texts.BTN_ADD_CHILD)
        await fake.say(PARENT, CHILD)
        await fake.say(PARENT, BIRTH)
        await fake.say(PARENT, SNILS)
        await fake.click(PARENT, MUNICIPALITY)
        await fake.click(PARENT, texts.BTN_SAVE)
        results = await fake.say(PARENT, "/find робот")
        number = re.search(rf"^(\d+)\. {re.escape(PROGRAM)}$", results.text, re.M).group(1)
        card = await fake.click(PARENT, number)
        assert texts.REVIEWS_SECTION_NONE.strip() in card.text and texts.BTN_RATE not in card.labels
        await fake.click(PARENT, texts.BTN_ENROLL)
        await fake.click(PARENT, CHILD)
        await fake.click(PARENT, texts.BTN_CONFIRM)

        await fake.say(PARENT, "/enrollments")
        await fake.click(PARENT, PROGRAM)
        waiting = await fake.click(PARENT, texts.BTN_RATE)
        assert f"можно будет с {ratings.first_of_next_month()}" in waiting.text

        ratings.as_if_enrolled_two_months_ago(db)
        ratings.settle_the_month_before_last(proc.workdir, proc.env)
        assert ratings.settled_months(db) == 1

        await fake.say(PARENT, "/enrollments")
        await fake.click(PARENT, PROGRAM)
        asked = await fake.click(PARENT, texts.BTN_RATE)
        assert "Как вам программа" in asked.text and "5 ★" in asked.labels
        # A forged star (7) from the same screen: a clear message, nothing stored.
        _, star = fake.button(PARENT, "5 ★")
        since = fake.mark()
        query = fake.push_callback(PARENT, fake.view(PARENT).message_id, star[:-1] + "7")
        refused = await fake.wait_reply(PARENT, since, callback=query)
        shown = refused.text + (fake.callbacks[query]["answered"] or {}).get("text", "")
        assert "Оценка — от 1 до 5 звёзд" in shown
        assert ratings.reviews(db) == []

        await fake.click(PARENT, "5 ★")
        too_long = await fake.say(PARENT, "очень " * 200)            # 1 200 characters
        assert texts.TEXT_TOO_LONG in too_long.text and ratings.reviews(db) == []
        thanks = await fake.say(PARENT, "Сын собрал первого робота, занятия интересные")
        assert "Спасибо! Оценка ★★★★★" in thanks.text

        results = await fake.say(PARENT, "/find робот")
        number = re.search(rf"^(\d+)\. {re.escape(PROGRAM)}$", results.text, re.M).group(1)
        card = await fake.click(PARENT, number)
        assert "★ 5,0 · 1 оценка" in card.text
        assert "«Сын собрал первого робота, занятия интересные»" in card.text and "Иванова" not in card.text
        assert texts.BTN_RATE in card.labels

        code = await proc.stop()
        assert code == 0, proc.output()[-2000:]
        output = proc.output()
    [(rating, comment_enc)] = ratings.reviews(db)
    assert rating == 5 and "робота" not in comment_enc              # the comment is stored encrypted
    assert_chat_hygiene(fake, output)
    assert "Сын собрал" not in output
