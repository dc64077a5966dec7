"""The real `python -m bot run` serving MAX (the fake MAX Bot API server), end to end.

A parent goes from «Начать» to a cancelled enrollment with a refund, the
balance chart included; a forged button payload changes nothing; a 429 is
waited out and the message shown once; an alert digest reaches a MAX parent;
a parent who blocked the bot is recorded as unreachable; with a webhook the
updates come by POST with the secret, and a wrong secret is refused.
"""
from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from bot.dialogs import texts
from core.clock import SystemClock
from core.db import Database
from core.municipalities import register
from core.parents import ensure_parent, give_consent
from core.subscriptions import create_subscription
from tests.e2e.botproc import BotProcess, running_bot
from tests.e2e.fake_max import TOKEN, FakeMax, make_tls
from tests.e2e.ports import free_port
from tests.e2e.test_alerts import DIGEST_MARK, PYATIGORSK, import_programs, program, write_csv

pytestmark = pytest.mark.e2e

SNILS = "112-233-445 95"
PNG = b"\x89PNG\r\n\x1a\n"
START_TIMEOUT = 60


def max_env(fake: FakeMax, **extra: str) -> dict[str, str]:
    return {"MAX_BOT_TOKEN": TOKEN, "MAX_API_URL": fake.base_url, **extra}


def polling(fake: FakeMax):  # noqa: ANN201
    return lambda: fake.poll_requests > 0 and bool(fake.commands)


class MaxParent:
    """One parent in the MAX app: types or presses, then waits for the bot's answer."""

    def __init__(self, fake: FakeMax, user_id: int) -> None:
        self.fake = fake
        self.user_id = user_id

    async def starts(self, payload: str | None = None) -> str:
        return (await self.fake.reply_to(self.user_id, lambda: self.fake.start_bot(self.user_id, payload))).text

    async def says(self, text: str) -> str:
        return (await self.fake.reply_to(self.user_id, lambda: self.fake.user_says(self.user_id, text))).text

    async def presses(self, label: str) -> str:
        return (await self.fake.reply_to(self.user_id, lambda: self.fake.press(self.user_id, label))).text


async def sign_up(parent: MaxParent) -> None:
    greeting = await parent.starts()
    assert "согласны на обработку персональных данных" in greeting
    assert texts.MENU in await parent.presses(texts.BTN_AGREE)


async def add_child(parent: MaxParent) -> None:
    await parent.presses("Мои дети")
    assert "ФИО ребёнка" in await parent.presses("Добавить ребёнка")
    assert "Дата рождения" in await parent.says("Иванова Мария Петровна")
    assert "СНИЛС" in await parent.says("15.03.2016")
    assert "муниципалитете" in await parent.says(SNILS)
    assert "Проверьте данные" in await parent.presses("г. Пятигорск")
    assert "Ребёнок добавлен" in await parent.presses("Сохранить")


async def enroll(parent: MaxParent) -> str:
    found = await parent.says("/find робот")
    assert "Робототехника на Arduino" in found
    number = re.search(r"(\d+)\. Робототехника на Arduino", found).group(1)  # type: ignore[union-attr]
    card = await parent.presses(number)
    assert "Возможна оплата сертификатом" in card and "Свободных мест" in card
    assert "Кого записываем" in await parent.presses("Записать ребёнка")
    summary = await parent.presses("Иванова Мария")
    assert "Оплатит сертификат" in summary and "Доплата родителя" in summary
    done = await parent.presses("Подтвердить")
    assert "Иванова Мария Петровна записана в программу «Робототехника на Arduino»" in done
    certificate = re.search(r"Выпущен сертификат № (\d{10})", done)
    assert certificate, done
    return certificate.group(1)


def query(bot: BotProcess, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(bot.database_path) as conn:
        return conn.execute(sql, args).fetchall()


async def test_full_journey_from_start_to_refund_with_the_balance_chart(tmp_path):
    async with FakeMax() as fake:
        async with running_bot(tmp_path, max_env(fake), ready=polling(fake), timeout=START_TIMEOUT) as bot:
            # The command menu is registered, long polling is on.
            assert [c["name"] for c in fake.commands][:3] == ["start", "find", "children"]
            parent = MaxParent(fake, 101)
            await sign_up(parent)
            await add_child(parent)
            certificate = await enroll(parent)

            # /balance: the chart uploaded and sent as a picture, then its numbers.
            assert "Доступно:" in await parent.says("/balance")
            with_picture = [m for m in fake.chat(101) if m.images]
            assert len(with_picture) == 1 and "по месяцам" in with_picture[0].text
            assert fake.uploads[with_picture[0].images[0]].startswith(PNG)
            assert certificate in "\n".join(fake.texts(101))

            enrollments = await parent.says("/enrollments")
            assert "Робототехника на Arduino" in enrollments and "(действует)" in enrollments
            assert "Статус: действует" in await parent.presses("Робототехника на Arduino")
            assert "На сертификат вернётся" in await parent.presses("Отменить запись")
            done = await parent.presses("Да, отменить")
            assert "Запись отменена" in done and "Вернулось на сертификат" in done

            assert query(bot, "SELECT status FROM enrollments") == [("cancelled",)]
            kinds = [k for (k,) in query(bot, "SELECT kind FROM ledger_entries ORDER BY id")]
            assert kinds[0] == "credit" and "reserve" in kinds and "refund" in kinds
            assert query(bot, "SELECT platform, external_id FROM parents") == [("max", "101")]
            # Presses edited screens in place and every press was answered.
            assert sum(m.edits for m in fake.chat(101)) >= 5
            assert fake.unanswered_callbacks() == [] and len(fake.answers) >= 8
            assert all(c.status == 200 for c in fake.calls if c.method != "GET /updates")
            output = bot.output()
            assert "Traceback" not in output and "112-233-445" not in output and "Иванова" not in output
            assert TOKEN not in output
            assert await bot.stop() == 0, bot.output()[-2000:]


async def test_a_forged_payload_is_refused_and_changes_nothing(tmp_path):
    async with FakeMax() as fake:
        async with running_bot(tmp_path, max_env(fake), ready=polling(fake), timeout=START_TIMEOUT) as bot:
            owner = MaxParent(fake, 201)
            await sign_up(owner)
            await add_child(owner)
            await enroll(owner)
            (enrollment_id,) = query(bot, "SELECT id FROM enrollments")[0]
            ledger_before = query(bot, "SELECT id, kind, amount FROM ledger_entries ORDER BY id")

            forger = MaxParent(fake, 202)
            await sign_up(forger)
            menu = fake.latest(202)
            assert menu is not None
            for payload in (f"cancel:yes:{enrollment_id}", f"enl:view:{enrollment_id}", "x" * 1000, ""):
                answered = len(fake.answers)
                fake.press_payload(202, payload, menu.mid)
                await fake.wait_for(lambda: len(fake.answers) > answered, what="the forged press answered")
            # Not a known action (over-long, empty): the dialogs' «устарела» answer, as on every platform.
            assert [a["notification"] for a in fake.answers[-2:]] == [texts.STALE_BUTTON] * 2
            forger_saw = "\n".join(fake.texts(202))
            assert "Вернулось на сертификат" not in forger_saw and "Иванова" not in forger_saw
            assert query(bot, "SELECT status FROM enrollments") == [("active",)]
            assert query(bot, "SELECT id, kind, amount FROM ledger_entries ORDER BY id") == ledger_before
            assert all(m.user_id == 201 for m in fake.chat(201))
            assert "Traceback" not in bot.output()


async def test_429_is_waited_out_and_the_message_delivered_once(tmp_path):
    async with FakeMax() as fake:
        async with running_bot(tmp_path, max_env(fake), ready=polling(fake), timeout=START_TIMEOUT):
            fake.fail_next("POST /messages", 429)
            parent = MaxParent(fake, 301)
            assert "согласны на обработку" in await parent.starts()
            assert len(fake.chat(301)) == 1
            assert [c.status for c in fake.calls_of("POST /messages")] == [429, 200]
            fake.fail_next("PUT /messages", 429)
            assert texts.MENU in await parent.presses(texts.BTN_AGREE)
            assert [c.status for c in fake.calls_of("PUT /messages")] == [429, 200]
            assert len(fake.chat(301)) == 1 and fake.unanswered_callbacks() == []


async def subscribe_directly(bot: BotProcess, users: list[int]) -> None:
    """MAX parents who consented and subscribed to Пятигорск (straight into the database)."""
    db = Database(f"sqlite+aiosqlite:///{bot.database_path}")
    clock = SystemClock()
    try:
        async with db.write() as session:
            muni = await register(session, PYATIGORSK)
            for user in users:
                parent = await ensure_parent(session, "max", str(user))
                await give_consent(session, parent, clock)
                await create_subscription(session, parent, municipality_id=muni.id, categories=[], age=None,
                                          certificate_only=False, clock=clock)
    finally:
        await db.dispose()
    await asyncio.sleep(0.05)  # created_at strictly before the programs' published_at


async def test_an_alert_digest_reaches_max_parents_and_a_blocked_one_is_marked_unreachable(tmp_path):
    reader, blocked = 401, 402
    async with FakeMax() as fake:
        env = max_env(fake, NOTIFY_INTERVAL_SECONDS="1")
        async with running_bot(tmp_path / "bot", env, ready=polling(fake), timeout=START_TIMEOUT) as bot:
            await subscribe_directly(bot, [reader, blocked])
            fake.block(blocked)
            await import_programs(bot, write_csv(tmp_path / "p.csv", [
                program("M-1", "Шахматный клуб", PYATIGORSK, "social")]))
            await fake.wait_for(lambda: any(DIGEST_MARK in t for t in fake.texts(reader)), timeout=30,
                                what="the digest")
            await fake.wait_for(lambda: query(bot, "SELECT unreachable_at FROM parents WHERE external_id = ?",
                                              str(blocked))[0][0] is not None, timeout=10, what="unreachable")
            await asyncio.sleep(1.5)  # another tick: nothing more may arrive
            [digest] = [m for m in fake.chat(reader) if DIGEST_MARK in m.text]
            assert "Шахматный клуб" in digest.text and digest.buttons
            assert fake.chat(blocked) == []
            assert [c.status for c in fake.calls_of("POST /messages") if c.params.get("user_id") == str(blocked)
                    ] == [403]
            # The digest's buttons work like any screen's.
            card = await fake.reply_to(reader, lambda: fake.press(reader, "1"))
            assert "Шахматный клуб" in card.text

            # A parent who stops the bot is unreachable; writing again makes them reachable.
            fake.stop_bot(reader)
            await fake.wait_for(lambda: query(bot, "SELECT unreachable_at FROM parents WHERE external_id = ?",
                                              str(reader))[0][0] is not None, what="bot_stopped recorded")
            await fake.reply_to(reader, lambda: fake.start_bot(reader))
            assert query(bot, "SELECT unreachable_at FROM parents WHERE external_id = ?", str(reader)) == [(None,)]
        assert "Traceback" not in bot.output()


async def test_webhook_updates_with_the_right_secret_are_served_and_a_wrong_secret_is_refused(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/max/updates"
    secret = "s3cret_of-the-region"
    async with FakeMax() as fake:
        env = max_env(fake, MAX_WEBHOOK_URL=url, MAX_WEBHOOK_SECRET=secret, HTTP_PORT=str(port))
        async with running_bot(tmp_path, env, ready=lambda: bool(fake.subscriptions), timeout=START_TIMEOUT) as bot:
            [subscription] = fake.subscriptions
            assert subscription["url"] == url and subscription["secret"] == secret
            assert set(subscription["update_types"]) >= {"message_created", "message_callback", "bot_started"}
            parent = MaxParent(fake, 501)
            await sign_up(parent)          # bot_started and a press, both by webhook
            assert fake.poll_requests == 0 and fake.webhook_answers == [200, 200]

            forged = {"update_type": "message_created", "timestamp": 1,
                      "message": {"sender": {"user_id": 502}, "recipient": {"chat_type": "dialog"},
                                  "body": {"mid": "mid.forged", "text": "/start"}}}
            assert await fake.deliver_webhook(forged, "wrong-secret") == 403
            assert await fake.deliver_webhook(forged, None) == 403
            await asyncio.sleep(0.5)
            assert fake.chat(502) == [] and query(bot, "SELECT count(*) FROM parents WHERE external_id = '502'") == [
                (0,)]
            assert await fake.deliver_webhook(forged, secret) == 200
            assert "согласны на обработку" in fake.chat(502)[-1].text
            assert await bot.stop() == 0, bot.output()[-2000:]
        assert "Traceback" not in bot.output()


async def test_a_deep_link_payload_arrives_as_the_words_of_start(tmp_path):
    async with FakeMax() as fake:
        async with running_bot(tmp_path, max_env(fake), ready=polling(fake), timeout=START_TIMEOUT):
            parent = MaxParent(fake, 601)
            answer = await parent.starts("p_1")
            assert answer  # the start dialog decides what p_<id> opens (issue 16, the other half)
            assert fake.calls_of("POST /messages")


async def test_https_with_the_root_named_in_max_ca_bundle_and_a_missing_bundle_is_a_clear_error(tmp_path):
    """MAX's host chains to a root most system stores lack: MAX_CA_BUNDLE names it (here a root
    of our own that signed the fake server's certificate)."""
    ca_file, server_tls = make_tls(tmp_path)
    async with FakeMax(tls=server_tls) as fake:
        assert fake.base_url.startswith("https://")
        env = max_env(fake, MAX_CA_BUNDLE=str(ca_file))
        async with running_bot(tmp_path / "ok", env, ready=polling(fake), timeout=START_TIMEOUT) as bot:
            parent = MaxParent(fake, 701)
            await sign_up(parent)
            await parent.presses("Мои дети")
            assert "ФИО ребёнка" in await parent.presses("Добавить ребёнка")
            assert await bot.stop() == 0, bot.output()[-2000:]

        env = max_env(fake, MAX_CA_BUNDLE=str(tmp_path / "no-such.pem"))
        async with running_bot(tmp_path / "missing", env) as bot:
            assert await bot.wait_exit(START_TIMEOUT) == 1
            assert "MAX_CA_BUNDLE: no such file" in bot.output() and "Traceback" not in bot.output()
