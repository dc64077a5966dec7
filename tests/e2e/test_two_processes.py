"""Two bot processes behind a load balancer, on one PostgreSQL and one Redis (issue 15).

Two `python -m bot run` processes, each with Telegram in webhook mode and VK through the
Callback API, share a PostgreSQL database of this test's own and one Redis (their keys under
a prefix of their own). The fake Telegram and the fake VK POST every update to a round-robin
balancer (tests/e2e/balancer.py) in front of both, sending it again until it is answered 2xx
/ `ok`; the balancer sends copies too: some updates once more after they were answered, some
to both processes at once. One pair of processes serves every check in turn:

  - a wrong or missing secret is refused (401 on Telegram, 403 on VK) and changes nothing;
  - 50 parents' journeys (consent, a child, /find, enrollment; 35 on Telegram, 15 on VK):
    every update answered once — each parent's chat got the same messages, whatever the
    copies — and every effect made once (one consent, child and enrollment per parent);
  - 300 alerts delivered once across both processes, never more than 30 Telegram sends in
    any second;
  - the holder of the jobs lock is killed (SIGKILL): the other process shows
    `bot_jobs_leader 1` within 60 s (the lease is JOBS_LEASE_SECONDS=3 here) and runs the
    alerts from then on;
  - SIGTERM with a request in flight: it is answered, and both processes exit 0 within 10 s.
"""
from __future__ import annotations

import asyncio
import base64
import csv
import os
import re
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from bot.config import Settings
from bot.dialogs import texts
from bot.shared import prefix
from core.clock import SystemClock
from core.db import Database
from core.importer import import_file
from tests.conftest import REDIS_URL, delete_keys, reachable_redis
from tests.e2e.balancer import Balancer
from tests.e2e.botproc import BotProcess
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.e2e.fake_vk import GROUP_ID, TOKEN, FakeVk
from tests.e2e.ports import free_port
from tests.factories import snils_for, telegram_subscribers
from tests.measure import max_in_window

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

TG_SECRET, VK_SECRET = "two-processes_tg-secret", "two-processes-vk-secret"
LEASE_SECONDS = 3
START_TIMEOUT = 60
STEP_TIMEOUT = 30
TG_PARENTS = list(range(81_000, 81_035))
VK_PARENTS = list(range(82_000, 82_015))
SUBSCRIBERS = list(range(300_000, 300_300))
LATE_SUBSCRIBERS = [300_500, 300_501, 300_502]
PYATIGORSK, ABAKAN, SHPAKOVSKY = "г. Пятигорск", "г. Абакан", "Шпаковский муниципальный округ"
PROGRAM = "Юные астрономы"
CHILD, BIRTH = "Иванова Мария Петровна", "05.03.2016"
DIGEST_MARK = "по вашей подписке"
HEADER = ["external_id", "title", "provider", "provider_kind", "municipality", "category", "age_min", "age_max",
          "price_per_month", "hours_per_month", "start_date", "end_date", "address", "schedule", "seats",
          "funding", "description"]


# --- the setting: a database of its own, Redis, the fakes, the balancer, two processes ----------


@pytest.fixture
async def redis_url(pg_database):
    """Redis, reachable; the keys the bot writes (under its DATABASE_URL's prefix) removed after."""
    client = await reachable_redis()
    yield REDIS_URL
    await delete_keys(client, prefix(Settings(_env_file=None, database_url=pg_database)))
    await client.aclose()


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


class Site:
    """Everything of one test run: the fakes, the balancer, the processes and the database."""

    def __init__(self, tmp_path: Path, database_url: str, redis_url: str, tg: FakeTelegram, vk: FakeVk,
                 balancer: Balancer, ports: list[int]) -> None:
        self.tg, self.vk, self.balancer, self.ports = tg, vk, balancer, ports
        self.db = Database(database_url)
        common = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": tg.base_url,
                  "TELEGRAM_WEBHOOK_URL": f"{balancer.url}/telegram/hook", "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
                  "VK_GROUP_TOKEN": TOKEN, "VK_GROUP_ID": str(GROUP_ID), "VK_API_URL": vk.api_url,
                  "VK_CALLBACK_SECRET": VK_SECRET, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                  "NOTIFY_INTERVAL_SECONDS": "1", "JOBS_LEASE_SECONDS": str(LEASE_SECONDS),
                  # One key for both: a child added through one process is read by the other.
                  "PD_KEY": key(), "PD_INDEX_KEY": key()}
        self.procs = [BotProcess(tmp_path / f"bot{n}", {**common, "HTTP_PORT": str(port)})
                      for n, port in enumerate(ports)]

    async def start(self, proc: BotProcess) -> None:
        port = self.port_of(proc)
        webhooks = len(self.tg.webhooks)
        proc.start()
        await proc.wait_ready(lambda: self._ready(port, webhooks), timeout=START_TIMEOUT)

    async def _ready(self, port: int, webhooks: int) -> bool:
        return len(self.tg.webhooks) > webhooks and (await http(port, "GET", "/healthz"))[0] == 200

    def port_of(self, proc: BotProcess) -> int:
        return self.ports[self.procs.index(proc)]

    async def leader_gauge(self, proc: BotProcess) -> float | None:
        status, body = await http(self.port_of(proc), "GET", "/metrics")
        found = re.search(r"^bot_jobs_leader (\S+)$", body, re.M) if status == 200 else None
        return float(found.group(1)) if found else None

    async def count(self, sql: str) -> int:
        from sqlalchemy import text

        async with self.db.read() as session:
            return int((await session.execute(text(sql))).scalar_one())

    async def close(self) -> None:
        for proc in self.procs:
            proc.kill()
        await self.db.dispose()


@pytest.fixture
async def site(tmp_path, pg_database, redis_url):
    ports = [free_port(), free_port()]
    async with FakeTelegram() as tg, FakeVk() as vk:
        balancer = await Balancer(ports, again_every=7, twin_every=11).start()
        running = Site(tmp_path, pg_database, redis_url, tg, vk, balancer, ports)
        try:
            yield running
        finally:
            await running.close()
            await balancer.close()


async def http(port: int, method: str, path: str, **kw) -> tuple[int | None, str]:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.request(method, f"http://127.0.0.1:{port}{path}", **kw) as response:
                return response.status, await response.text()
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return None, ""


async def within(seconds: float, check, what: str) -> float:
    """Seconds until `await check()` is true (polled); fails after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds}s")


def write_csv(path: Path, rows: list[tuple[str, str, str, int]]) -> Path:
    """Programs (external id, title, town, seats): certificate-funded, 5–17 years."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for external_id, title, town, seats in rows:
            writer.writerow([external_id, title, "ЦДТ «Радуга»", "municipal", town, "technical", "5", "17", "2500",
                             "", "2026-09-01", "2027-05-31", "ул. Мира, 1", "Пн 16:00", str(seats),
                             "certificate", "Новая программа."])
    return path


async def add_subscribers(site: Site, users: list[int], town: str) -> None:
    """Telegram parents who consented and subscribed to the town (straight into the database:
    the dialogs are tested elsewhere, here the numbers matter), with chats open in the fake."""
    clock = SystemClock()
    async with site.db.write() as session:
        await telegram_subscribers(session, users, town, clock)
    for user in users:
        site.tg.messages.setdefault(user, {})
    await asyncio.sleep(0.05)   # subscribed strictly before the programs are published


def digests(tg: FakeTelegram, chat: int) -> int:
    return sum(1 for c in tg.calls_to("sendMessage", chat) if c.status == 200 and DIGEST_MARK in c.params["text"])


# --- the parents --------------------------------------------------------------------------

async def tg_step(tg: FakeTelegram, user: int, text: str | None = None, press: str | None = None) -> str:
    """The parent types `text` or presses `press`; the bot's screen once the update was answered."""
    if press is not None:
        tg.press(user, press)
    else:
        tg.push_message(user, text or "")
    update_id = tg.last_update_id
    await tg.wait_for(lambda: tg.delivered(update_id), timeout=STEP_TIMEOUT)
    return tg.view(user).text


async def vk_step(vk: FakeVk, user: int, text: str | None = None, press: str | None = None) -> str:
    if press is not None:
        vk.press(user, press)
    else:
        vk.user_says(user, text or "")
    event_id = vk.last_event_id
    await vk.wait_for(lambda: vk.answered_ok(event_id), timeout=STEP_TIMEOUT, what=f"event {event_id} answered")
    last = vk.last(user)
    assert last is not None
    return last.text


async def journey(step, user: int, snils: str) -> None:
    """Consent, a child, /find, enrollment: JOURNEY_UPDATES (14) updates."""
    assert texts.CONSENT.splitlines()[0] in await step(user, "/start")
    assert texts.MENU in await step(user, press=texts.BTN_AGREE)
    await step(user, "/children")
    assert texts.CHILD_ASK_NAME in await step(user, press=texts.BTN_ADD_CHILD)
    assert texts.CHILD_ASK_BIRTH in await step(user, CHILD)
    assert texts.CHILD_ASK_SNILS in await step(user, BIRTH)
    assert texts.CHILD_ASK_MUNI in await step(user, snils)
    await step(user, press=PYATIGORSK)
    assert texts.CHILD_SAVED in await step(user, press=texts.BTN_SAVE)
    found = await step(user, "/find астрономы")
    number = re.search(rf"^(\d+)\. {re.escape(PROGRAM)}$", found, re.M)
    assert number, found
    await step(user, press=number.group(1))
    await step(user, press=texts.BTN_ENROLL)
    await step(user, press="Иванова Мария")
    done = await step(user, press=texts.BTN_CONFIRM)
    assert "Выпущен сертификат №" in done, done


JOURNEY_UPDATES = 14


# --- the test -------------------------------------------------------------------------------

async def test_two_processes_share_the_work_and_do_each_thing_once(site, tmp_path):
    tg, vk, balancer = site.tg, site.vk, site.balancer
    first, second = site.procs
    started = time.monotonic()
    await site.start(first)          # migrates and loads the demo catalog
    await site.start(second)
    assert len(tg.webhooks) == 2 and tg.webhooks[0] == tg.webhooks[1]   # identical setWebhook calls
    assert tg.calls_to("deleteWebhook") == [] and tg.calls_to("getUpdates") == []
    vk.deliver_to(f"{balancer.url}/vk/callback", VK_SECRET)
    await import_file(site.db, write_csv(tmp_path / "astro.csv", [("TP-1", PROGRAM, PYATIGORSK, 100)]),
                      SystemClock())
    timings = {"start": time.monotonic() - started}

    # A wrong or missing secret: refused, and nothing happens.
    stranger = 80_999
    update = tg.new_message_update(stranger, "/start")
    for port in (balancer.port, *site.ports):
        for secret in (None, "wrong-secret"):
            headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
            status, _ = await http(port, "POST", "/telegram/hook", json=update, headers=headers)
            assert status == 401, (port, secret)
    event = {"group_id": GROUP_ID, "type": "message_new", "event_id": "forged-1", "v": "5.199",
             "object": {"message": {"from_id": stranger, "peer_id": stranger, "id": 1, "text": "Начать",
                                    "conversation_message_id": 1}}}
    for secret in (None, "wrong-secret"):
        assert (await vk.post(f"{balancer.url}/vk/callback", event, secret))[0] == 403
        assert (await vk.confirm(f"{balancer.url}/vk/callback", secret))[0] == 403
    assert await vk.confirm(f"{balancer.url}/vk/callback", VK_SECRET) == (200, vk.confirmation_code)

    # 50 parents' journeys, side by side, through the balancer and its copies.
    started = time.monotonic()
    await asyncio.gather(
        *(journey(lambda u, t=None, press=None: tg_step(tg, u, t, press), user, snils_for(n))
          for n, user in enumerate(TG_PARENTS)),
        *(journey(lambda u, t=None, press=None: vk_step(vk, u, t, press), user, snils_for(100 + n))
          for n, user in enumerate(VK_PARENTS)))
    timings["journeys"] = time.monotonic() - started
    parents = len(TG_PARENTS) + len(VK_PARENTS)
    # Every effect once …
    assert await site.count("SELECT count(*) FROM consents") == parents
    assert await site.count("SELECT count(*) FROM children") == parents
    assert await site.count("SELECT count(*) FROM enrollments WHERE status = 'active'") == parents
    assert await site.count("SELECT count(*) FROM handled_updates") == parents * JOURNEY_UPDATES
    assert await site.count("SELECT count(*) FROM handled_updates WHERE NOT replied") == 0
    # … every update answered once: each parent's chat got the same messages, copies or not.
    tg_writes = Counter(c.chat_id for c in tg.calls if c.status == 200 and c.chat_id in TG_PARENTS
                        and c.method in ("sendMessage", "editMessageText"))
    assert len(set(tg_writes.values())) == 1 and set(tg_writes) == set(TG_PARENTS), tg_writes
    vk_writes = Counter(int(c.params.get("peer_id", 0)) for c in vk.calls
                        if c.method in ("messages.send", "messages.edit"))
    assert {peer: vk_writes[peer] for peer in VK_PARENTS} == {peer: vk_writes[VK_PARENTS[0]] for peer in VK_PARENTS}
    assert tg.unanswered_callbacks() == [] and stranger not in tg_writes
    assert not vk.chat(stranger)
    # The balancer did send copies, to both processes, on both platforms; none failed.
    kinds = Counter((copy.path.split("?")[0], copy.kind) for copy in balancer.copies)
    for path in ("/telegram/hook", "/vk/callback"):
        assert kinds[(path, "again")] >= 5 and kinds[(path, "twin")] >= 5, kinds
    assert {copy.status for copy in balancer.copies} <= {200, 401, 403, 503}, Counter(
        copy.status for copy in balancer.copies)
    assert all(n > 100 for n in balancer.forwarded.values()), balancer.forwarded

    # 300 alerts, once each, across both processes, at Telegram's pace.
    started = time.monotonic()
    await add_subscribers(site, SUBSCRIBERS, ABAKAN)
    mark = tg.mark()
    await import_file(site.db, write_csv(tmp_path / "abakan.csv", [("TA-1", "Телескоп своими руками", ABAKAN, 20)]),
                      SystemClock())
    await tg.wait_for(lambda: all(digests(tg, user) for user in SUBSCRIBERS), timeout=60)
    await within(5, lambda: _sent_all(site, len(SUBSCRIBERS)), "the outbox rows marked sent")
    timings["alerts"] = time.monotonic() - started
    assert [digests(tg, user) for user in SUBSCRIBERS] == [1] * len(SUBSCRIBERS)
    sends = [c.at for c in tg.calls if c.seq > mark and c.method == "sendMessage"]
    assert max_in_window(sends, 1.0) <= 30

    # The jobs holder dies; the other takes the jobs over within 60 s and runs them.
    gauges = [await site.leader_gauge(proc) for proc in site.procs]
    assert sorted(gauges) == [0.0, 1.0], gauges
    holder, survivor = (first, second) if gauges[0] == 1.0 else (second, first)
    holder.kill()
    timings["takeover"] = await within(60, lambda: _leads(site, survivor), "the survivor holds the jobs")
    await add_subscribers(site, LATE_SUBSCRIBERS, SHPAKOVSKY)
    await import_file(site.db, write_csv(tmp_path / "late.csv", [("TS-1", "Планетарий", SHPAKOVSKY, 20)]),
                      SystemClock())
    await tg.wait_for(lambda: all(digests(tg, user) == 1 for user in LATE_SUBSCRIBERS), timeout=30)
    # Updates still come through the balancer, to the process that is left.
    assert texts.CONSENT.splitlines()[0] in await tg_step(tg, 80_001, "/start")

    # SIGTERM, with a request in flight: it is answered, and both exit 0 within 10 s.
    await site.start(holder)
    tg.slow_down(80_002, 1.5)
    tg.push_message(80_002, "/start")
    in_flight = tg.last_update_id
    await tg.wait_for(lambda: any(c.chat_id == 80_002 for c in tg.calls_to("sendMessage")), timeout=STEP_TIMEOUT)
    stopped_at = time.monotonic()
    for proc in site.procs:
        proc.proc.terminate()
    codes = await asyncio.gather(*(proc.wait_exit(10) for proc in site.procs))
    assert codes == [0, 0], [proc.output()[-2000:] for proc in site.procs]
    assert time.monotonic() - stopped_at < 10
    # Its answer was relayed by the balancer (and reaches the fake a moment after the exits).
    await tg.wait_for(lambda: tg.delivered(in_flight), timeout=5)
    for proc in site.procs:
        assert "Traceback" not in proc.output()
    print(f"two processes: {', '.join(f'{k} {v:.1f}s' for k, v in timings.items())}")


async def _sent_all(site: Site, n: int) -> bool:
    return await site.count("SELECT count(*) FROM outbox WHERE status = 'sent'") == n


async def _leads(site: Site, proc: BotProcess) -> bool:
    return await site.leader_gauge(proc) == 1.0
