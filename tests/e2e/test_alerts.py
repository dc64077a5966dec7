"""New-program alerts through the real bot process (`python -m bot run`) on the fake
Telegram and VK servers: subscribe in the dialogs, import programs while the bot runs,
one digest each, «Отписаться» works; 429/403 at the platform's pace; SIGKILL in the
middle of a fan-out to 500 subscribers; the calendar driven by `jobs run --at` (past days only)."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.dialogs import texts
from bot.dialogs import texts as job_texts
from bot.jobs.pacing import TELEGRAM
from core.clock import SystemClock
from core.db import Database
from core.models import Category
from tests.e2e.botproc import BotProcess, running_bot
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.e2e.fake_vk import GROUP_ID, TOKEN, FakeVk
from tests.factories import telegram_subscribers
from tests.measure import max_in_window

pytestmark = pytest.mark.e2e

PYATIGORSK, ABAKAN, SHPAKOVSKY = "г. Пятигорск", "г. Абакан", "Шпаковский муниципальный округ"
HEADER = ["external_id", "title", "provider", "provider_kind", "municipality", "category", "age_min", "age_max",
          "price_per_month", "hours_per_month", "start_date", "end_date", "address", "schedule", "seats",
          "funding", "description"]
DIGEST_MARK = "по вашей подписке"
START_TIMEOUT = 60


def program(external_id: str, title: str, town: str, category: str) -> list[str]:
    return [external_id, title, "ЦДТ «Радуга»", "municipal", town, category, "5", "17", "2500", "",
            "2026-09-01", "2027-05-31", "ул. Мира, 1", "Пн 16:00", "15", "certificate", "Новая программа."]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def cli(proc: BotProcess, *args: str, timeout: float = 60) -> str:
    """`python -m bot ARGS` against the running bot's database; its output (must succeed)."""
    done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=proc.workdir, env=proc.env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def import_programs(proc: BotProcess, path: Path) -> None:
    await asyncio.to_thread(cli, proc, "import-programs", str(path))


def query(proc: BotProcess, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(proc.database_path) as conn:
        return conn.execute(sql, args).fetchall()


async def add_subscribers(proc: BotProcess, fake: FakeTelegram, users: list[int], town: str = PYATIGORSK) -> None:
    """Parents who consented and subscribed (written straight into the bot's database: the
    dialogs are tested elsewhere; here the numbers matter), with chats open in the fake."""
    db = Database(f"sqlite+aiosqlite:///{proc.database_path}")
    clock = SystemClock()
    try:
        async with db.write() as session:
            await telegram_subscribers(session, users, town, clock)
    finally:
        await db.dispose()
    for user in users:
        fake.messages.setdefault(user, {})  # the parent has a chat with the bot
    await asyncio.sleep(0.05)  # created_at strictly before the programs' published_at


def digests_to(fake: FakeTelegram, chat: int) -> list[str]:
    return [c.params.get("text", "") for c in fake.calls_to("sendMessage", chat)
            if c.status == 200 and DIGEST_MARK in c.params.get("text", "")]



# --- subscribe in the dialogs, one digest each, unsubscribe ----------------------

TG_PARENT, VK_PARENT = 6101, 6201


async def subscribe_on_telegram(tg: FakeTelegram, town: str, category: str) -> None:
    await tg.say(TG_PARENT, "/start")
    assert texts.MENU in (await tg.click(TG_PARENT, texts.BTN_AGREE)).text
    await tg.say(TG_PARENT, "/subscribe")
    await tg.click(TG_PARENT, texts.BTN_NEW_SUBSCRIPTION)
    await tg.click(TG_PARENT, town)
    await tg.click(TG_PARENT, category)
    await tg.click(TG_PARENT, texts.BTN_NEXT_STEP)
    await tg.click(TG_PARENT, texts.BTN_ANY_AGE)
    assert texts.SUB_SAVED in (await tg.click(TG_PARENT, texts.BTN_SAVE)).text


async def subscribe_on_vk(vk: FakeVk, town: str, category: str) -> None:
    await vk.reply_to(VK_PARENT, lambda: vk.user_says(VK_PARENT, "Начать"))
    assert texts.MENU in (await vk.reply_to(VK_PARENT, lambda: vk.press(VK_PARENT, texts.BTN_AGREE))).text
    await vk.reply_to(VK_PARENT, lambda: vk.user_says(VK_PARENT, "/subscribe"))
    for label in (texts.BTN_NEW_SUBSCRIPTION, town, category, texts.BTN_NEXT_STEP, texts.BTN_ANY_AGE):
        await vk.reply_to(VK_PARENT, lambda label=label: vk.press(VK_PARENT, label))
    saved = await vk.reply_to(VK_PARENT, lambda: vk.press(VK_PARENT, texts.BTN_SAVE))
    assert texts.SUB_SAVED in saved.text


async def test_each_parent_gets_one_digest_of_their_programs_and_unsubscribe_stops_them(tmp_path):
    async with FakeTelegram() as tg, FakeVk() as vk:
        env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": tg.base_url,
               "VK_GROUP_TOKEN": TOKEN, "VK_GROUP_ID": str(GROUP_ID), "VK_API_URL": vk.api_url,
               "NOTIFY_INTERVAL_SECONDS": "1"}
        ready = lambda: tg.seen("getUpdates") and vk.longpoll_requests > 0  # noqa: E731
        async with running_bot(tmp_path / "bot", env, ready=ready, timeout=START_TIMEOUT) as proc:
            await subscribe_on_telegram(tg, PYATIGORSK, texts.CATEGORY_LABEL[Category.TECHNICAL])
            await subscribe_on_vk(vk, ABAKAN, texts.CATEGORY_LABEL[Category.ART])

            await import_programs(proc, write_csv(tmp_path / "first.csv", [
                program("N-1", "Лего-конструирование", PYATIGORSK, "technical"),
                program("N-2", "Программирование на Python", PYATIGORSK, "technical"),
                program("N-3", "Акварель для начинающих", ABAKAN, "art"),
                program("N-4", "Лыжные гонки", SHPAKOVSKY, "sport"),
                program("N-5", "Вокальная студия", PYATIGORSK, "art"),
            ]))
            await tg.wait_for(lambda: digests_to(tg, TG_PARENT), timeout=20)
            await vk.wait_for(lambda: any(DIGEST_MARK in t for t in vk.texts(VK_PARENT)), timeout=20)
            await asyncio.sleep(1.5)  # another tick: nothing more may arrive

            [tg_digest] = digests_to(tg, TG_PARENT)
            assert job_texts.DIGEST_MANY.format(count=2) in tg_digest
            assert "Лего-конструирование" in tg_digest and "Программирование на Python" in tg_digest
            assert not any(t in tg_digest for t in ("Акварель", "Лыжные", "Вокальная"))
            [vk_digest] = [t for t in vk.texts(VK_PARENT) if DIGEST_MARK in t]
            assert job_texts.DIGEST_ONE in vk_digest and "Акварель для начинающих" in vk_digest
            assert not any(t in vk_digest for t in ("Лего", "Python", "Лыжные", "Вокальная"))

            # «Отписаться» on the Telegram digest; on VK a number under the digest opens the card.
            assert texts.SUB_DELETED in (await tg.click(TG_PARENT, job_texts.BTN_UNSUBSCRIBE)).text
            card = await vk.reply_to(VK_PARENT, lambda: vk.press(VK_PARENT, "1"))
            assert "Акварель для начинающих" in card.text
            assert any(texts.BTN_ENROLL in b.label for b in vk.buttons(VK_PARENT))

            await import_programs(proc, write_csv(tmp_path / "second.csv", [
                program("N-6", "Робототехника", PYATIGORSK, "technical"),
                program("N-7", "Гончарная мастерская", ABAKAN, "art"),
            ]))
            await vk.wait_for(lambda: any(DIGEST_MARK in t and "Гончарная мастерская" in t
                                          for t in vk.texts(VK_PARENT)), timeout=20)
            assert "Робототехника" not in vk.texts(VK_PARENT)[-1]
            await asyncio.sleep(1.5)
            assert len(digests_to(tg, TG_PARENT)) == 1          # unsubscribed: nothing more
            # … and «Отписаться» works on VK too.
            answer = await vk.reply_to(VK_PARENT, lambda: vk.press(VK_PARENT, job_texts.BTN_UNSUBSCRIBE))
            assert texts.SUB_DELETED in answer.text
            assert query(proc, "SELECT count(*) FROM subscriptions") == [(0,)]
            assert query(proc, "SELECT count(*) FROM outbox WHERE status = 'sent'") == [(4,)]  # rows: 2 + 1 + 1
        assert "Traceback" not in proc.output()


# --- the platform's limits: 429 and 403 -------------------------------------------

async def test_throttled_and_blocked_chats_at_the_telegram_pace(tmp_path):
    users = list(range(7000, 7040))
    blocked, throttled = users[3], users[5]
    async with FakeTelegram() as tg:
        env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": tg.base_url,
               "NOTIFY_INTERVAL_SECONDS": "1"}
        async with running_bot(tmp_path / "bot", env, ready=lambda: tg.seen("getUpdates"),
                               timeout=START_TIMEOUT) as proc:
            # The calendar caught up once at start (the bot never ran before).
            today = dt.date.today()
            prev = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
            await tg.wait_for(lambda: len(query(proc, "SELECT * FROM job_runs")) >= 2, timeout=10)
            assert set(query(proc, "SELECT job, period FROM job_runs")) >= {
                ("settle-month", prev), ("year-rollover", str(today.year))}

            await add_subscribers(proc, tg, users)
            tg.block(blocked)
            tg.throttle(throttled, retry_after=1, times=2)
            start = tg.mark()
            await import_programs(proc, write_csv(tmp_path / "p.csv", [
                program("L-1", "Шахматный клуб", PYATIGORSK, "social")]))
            others = [u for u in users if u != blocked]
            await tg.wait_for(lambda: all(digests_to(tg, u) for u in others), timeout=30)
            await asyncio.sleep(1.5)

            assert all(len(digests_to(tg, u)) == 1 for u in others)
            assert [c.status for c in tg.calls_to("sendMessage", blocked)] == [403]
            assert [c.status for c in tg.calls_to("sendMessage", throttled)] == [429, 429, 200]
            sends = [c for c in tg.calls if c.method == "sendMessage" and c.seq > start]
            # The bot sends at most 25 in any second (its own clock: tests/unit/test_jobs_delivery.py);
            # here they are counted as they arrive, a send or two moved by the way there. Telegram
            # allows about 30.
            assert max_in_window([c.at for c in sends], 1.0) <= TELEGRAM["rate"] + 2 < 30
            for user in users:
                stamps = [c.at for c in sends if c.chat_id == user]
                assert all(b - a >= 0.95 for a, b in zip(stamps, stamps[1:])), (user, stamps)

            [(unreachable,)] = query(proc, "SELECT unreachable_at FROM parents WHERE external_id = ?",
                                     str(blocked))
            assert unreachable is not None
            report = await asyncio.to_thread(cli, proc, "stats")
            assert "unreachable 1" in report and "failed 1" in report and "sent 39" in report


# --- a crash in the middle of a fan-out -------------------------------------------

async def test_sigkill_in_the_middle_of_500_alerts_loses_none_and_repeats_at_most_one(tmp_path):
    users = list(range(100_000, 100_500))
    async with FakeTelegram() as tg:
        env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": tg.base_url,
               "NOTIFY_INTERVAL_SECONDS": "1"}
        async with running_bot(tmp_path / "bot", env, ready=lambda: tg.seen("getUpdates"),
                               timeout=START_TIMEOUT) as proc:
            await add_subscribers(proc, tg, users)
            await import_programs(proc, write_csv(tmp_path / "p.csv", [
                program("K-1", "Театральная студия", PYATIGORSK, "art")]))
            delivered = lambda: sum(1 for c in tg.calls_to("sendMessage") if c.status == 200)  # noqa: E731
            await tg.wait_for(lambda: delivered() >= 120, timeout=30)
            proc.kill()
            cut = delivered()
            assert cut < len(users), "the crash came too late to test anything"
            polls = len(tg.calls_to("getUpdates"))
            await proc.restart(ready=lambda: len(tg.calls_to("getUpdates")) > polls, timeout=START_TIMEOUT)
            await tg.wait_for(lambda: all(digests_to(tg, u) for u in users), timeout=45)
            await asyncio.sleep(1.5)

            per_chat = Counter(c.chat_id for c in tg.calls_to("sendMessage") if c.status == 200)
            assert set(per_chat) == set(users)
            duplicates = sum(n - 1 for n in per_chat.values())
            assert duplicates <= 1, duplicates
            assert query(proc, "SELECT status, count(*) FROM outbox GROUP BY status") == [("sent", 500)]


# --- the calendar from the command line ------------------------------------------

async def test_jobs_run_at_drives_the_month_settlement_and_the_year_rollover(tmp_path):
    proc = BotProcess(tmp_path / "bot", {})
    env = proc.env

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", *args], cwd=proc.workdir, env=env,
                              capture_output=True, text=True, timeout=60)

    # The process runs on the real clock: dates relative to today, never after it.
    today = dt.date.today()
    first_of_month = today.replace(day=1)
    settled = (first_of_month - dt.timedelta(days=1)).strftime("%Y-%m")
    assert run("seed-demo").returncode == 0
    first = run("jobs", "run", "settle-month", "--at", first_of_month.isoformat())
    assert first.returncode == 0 and f"settle-month {settled}:" in first.stdout
    again = run("jobs", "run", "settle-month", "--at", first_of_month.isoformat())
    assert again.returncode == 0 and "already done" in again.stdout
    rolled = run("jobs", "run", "year-rollover", "--at", f"{today.year}-01-01")
    assert rolled.returncode == 0 and f"year-rollover {today.year}:" in rolled.stdout
    ahead = run("jobs", "run", "year-rollover", "--at", (today + dt.timedelta(days=2)).isoformat())
    assert ahead.returncode == 2 and "after today" in ahead.stderr and ahead.stdout == ""
    bad = run("jobs", "run", "settle-month", "--at", "01.12.2026")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    assert set(query(proc, "SELECT job, period FROM job_runs")) == {
        ("settle-month", settled), ("year-rollover", str(today.year))}
