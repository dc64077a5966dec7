"""Benchmark 8 (issue 15): the real `python -m bot run`, one process against two, on one
PostgreSQL and one Redis, Telegram in webhook mode.

The benchmark plays Telegram: it POSTs the parents' updates to the processes' webhook in
turn (round robin, so one parent's updates reach both; a non-2xx answer or a refused
connection is sent again), and serves the Bot API the processes call (bench/fake_api.py).
Each parent does the same journey without pausing (/start, /find, a card, /balance,
/enrollments, /subscribe, /help), every parent at once: the updates/s is what the
processes sustain, the reply latency (the update's POST to the first message, edit or
answered press in that chat) what a parent waits under that load.

Four runs, each with parents of its own and the same journeys: one process and two, with
Redis (the platforms' pace shared: the replies together at Telegram's 25 a second) and
without (each process unpaced for replies: what the processes' CPU gives). After the two
processes' journeys with Redis, new programs are published and their alerts queued: the
holder of the jobs lock sends them against an API refusing more than 30 a second (429),
while both processes run.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import random
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from bench import data, people
from bench.common import Result, migrated, percentile, pg_database, pg_reachable
from bench.fake_api import CountingApi
from bot.jobs.pacing import TELEGRAM
from core.clock import FixedClock
from tests.e2e.botproc import BotProcess

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TOKEN = "42:BENCH-processes"
SECRET = "bench-processes-secret"
HOOK = "/telegram/hook"
START_SECONDS = 90          # a process answers /healthz within this
POST_SECONDS = 30           # one webhook request
ATTEMPTS = 5                # a refused update is sent again, at most this often
RUN_SECONDS = 180           # one run's journeys, whatever happens
ALERTS_SHARE = 0.9          # of Telegram's pace (25 a second): the alerts' target, 22.5/s
TELEGRAM_LIMIT = 30         # what Telegram allows a bot in any second (the API here refuses more)
JOURNEY = (("text", "/start"), ("text", "/find {query}"), ("press", "1"), ("text", "/balance"),
           ("text", "/enrollments"), ("text", "/subscribe"), ("text", "/help"))


async def redis_reachable() -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        return bool(await client.ping())
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    finally:
        await client.aclose()


async def forget_redis_keys(database_url: str) -> None:
    """The keys the processes made (their prefix is this run's database's); nothing else."""
    from redis.asyncio import Redis

    from bot.shared import prefix

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix(SimpleNamespace(database_url=database_url))}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def processes(workdir: Path, count: int, api: CountingApi, database_url: str, redis: bool,
                    notify_seconds: int = 3600) -> AsyncIterator[tuple[list[int], list[BotProcess]]]:
    """`count` bot processes in webhook mode, each answering /healthz; yields their HTTP ports
    (and the processes, whose logs stay in `workdir`)."""
    ports = [free_port() for _ in range(count)]
    shared = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api.base_url, "DATABASE_URL": database_url,
              "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{ports[0]}{HOOK}", "TELEGRAM_WEBHOOK_SECRET": SECRET,
              "REDIS_URL": REDIS_URL if redis else "", "NOTIFY_INTERVAL_SECONDS": str(notify_seconds),
              "LOG_LEVEL": "WARNING"}
    bots = [BotProcess(workdir / f"process-{n}", {**shared, "HTTP_PORT": str(port)})
            for n, port in enumerate(ports)]
    try:
        for bot in bots:
            bot.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            for bot, port in zip(bots, ports):
                await bot.wait_ready(lambda p=port: healthy(session, p), timeout=START_SECONDS)
        yield ports, bots
    finally:
        await asyncio.gather(*(bot.stop() for bot in bots), return_exceptions=True)
        for bot in bots:
            bot.kill()


async def healthy(session: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            return response.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return False


class Parents:
    """The parents' side of Telegram: updates made, POSTed round robin, replies timed."""

    def __init__(self, api: CountingApi, ports: list[int], session: aiohttp.ClientSession) -> None:
        self.api, self.ports, self.session = api, ports, session
        self.turn = itertools.count()
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1)
        self.latencies: list[float] = []
        self.unanswered = 0

    def message(self, user: int, text: str) -> dict[str, Any]:
        person = {"id": user, "is_bot": False, "first_name": f"Parent{user}", "language_code": "ru"}
        return {"update_id": next(self.update_ids), "message": {
            "message_id": next(self.message_ids), "date": int(time.time()), "text": text, "from": person,
            "chat": {"id": user, "type": "private", "first_name": f"Parent{user}"}}}

    def press(self, user: int, label: str) -> dict[str, Any] | None:
        """A press of the button labelled `label` (else containing it) on the chat's newest keyboard."""
        found = self.api.keyboards.get(user)
        if found is None:
            return None
        message, rows = found
        buttons = [b for row in rows for b in row if b.get("callback_data")]
        button = next((b for b in buttons if b["text"] == label), None) or \
            next((b for b in buttons if label in b["text"]), None)
        if button is None:
            return None
        update_id = next(self.update_ids)
        return {"update_id": update_id, "callback_query": {
            "id": str(update_id), "chat_instance": f"ci{user}", "data": button["callback_data"], "message": message,
            "from": {"id": user, "is_bot": False, "first_name": f"Parent{user}", "language_code": "ru"}}}

    async def post(self, update: dict[str, Any]) -> bool:
        """Telegram's delivery: POSTed to the next process until one answers 2xx (bounded)."""
        for attempt in range(ATTEMPTS):
            port = self.ports[next(self.turn) % len(self.ports)]
            try:
                async with self.session.post(f"http://127.0.0.1:{port}{HOOK}", json=update,
                                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        return True
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            await asyncio.sleep(0.2 * (attempt + 1))
        return False

    async def act(self, user: int, update: dict[str, Any]) -> None:
        writes, answers = len(self.api.writes), len(self.api.answered)
        query = int(update["callback_query"]["id"]) if "callback_query" in update else None
        pushed = time.monotonic()
        if not await self.post(update):
            self.unanswered += 1
            return
        seen = [t for t, chat in self.api.writes[writes:] if chat == user] + \
               [t for t, q in self.api.answered[answers:] if q == query]
        self.latencies.append((min(seen, default=time.monotonic()) - pushed) * 1000)

    async def journey(self, user: int, query: str) -> None:
        for kind, value in JOURNEY:
            update = self.press(user, value) if kind == "press" else self.message(user, value.format(query=query))
            await self.act(user, update or self.message(user, "/start"))


async def journeys(api: CountingApi, ports: list[int], users: list[int]) -> tuple[int, float, Parents]:
    """Every parent's journey at once; (updates, seconds, the parents' side)."""
    rng = random.Random(data.SEED + 8)
    queries = [rng.choice(data.QUERIES[:20]) for _ in users]
    connector = aiohttp.TCPConnector(limit=len(users) + 10)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=POST_SECONDS)) as session:
        parents = Parents(api, ports, session)
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(parents.journey(u, q) for u, q in zip(users, queries))),
                               timeout=RUN_SECONDS)
        return len(users) * len(JOURNEY), time.monotonic() - started, parents


async def alerts(db: Any, api: CountingApi, seconds: float, log: callable) -> tuple[float, int, int]:
    """New programs published, their alerts queued; the processes running meanwhile send them.
    (alerts sent per second over `seconds` from the first, sent in all, 429 answers)."""
    from core.importer import import_rows
    from bot.jobs import tasks

    now = dt.datetime.now(dt.timezone.utc)
    fresh = data.program_rows(50, now.date(), seed=data.SEED + 3)
    for n, row in enumerate(fresh):
        row["external_id"] = f"NEW-{n:04d}"
    await import_rows(db, fresh, FixedClock(now - dt.timedelta(minutes=2)))
    mark = len(api.writes)
    report = await tasks.enqueue(db, FixedClock(now - dt.timedelta(minutes=1)))
    log(f"  [processes] {report.queued_programs} alert rows queued")
    deadline = time.monotonic() + seconds + 30
    while time.monotonic() < deadline:
        sent = [t for t, _ in api.writes[mark:]]
        if sent and sent[-1] - sent[0] >= seconds:
            break
        await asyncio.sleep(0.2)
    sent = [t for t, _ in api.writes[mark:]]
    if not sent:
        return 0.0, 0, api.refused
    within = [t for t in sent if t - sent[0] < seconds]
    span = seconds if sent[-1] - sent[0] >= seconds else max(sent[-1] - sent[0], 1e-9)
    return len(within) / span, len(sent), api.refused


async def run(workdir: Path, parents: int, subscribers: int, seconds: float, want_pg: bool,
              log: callable = print) -> list[Result]:
    if not want_pg or not await pg_reachable():
        log("  [processes] skipped: several processes need PostgreSQL")
        return []
    with_redis = await redis_reachable()
    if not with_redis:
        log(f"  [processes] Redis not reachable at {REDIS_URL}: the runs without it only")
    setups = [(redis, count) for redis in ((True, False) if with_redis else (False,)) for count in (1, 2)]
    now = dt.datetime.now(dt.timezone.utc)
    async with pg_database() as url:
        db = await migrated(url)
        try:
            await data.load_catalog(db, FixedClock(now - dt.timedelta(days=1)), 300)
            groups = [await people.add_parents(db, FixedClock(now - dt.timedelta(hours=2)), parents,
                                               first_user=60_000_000 + 100_000 * n) for n in range(len(setups))]
            await people.add_parents(db, FixedClock(now - dt.timedelta(hours=1)), subscribers,
                                     first_user=70_000_000, children=False, subscriptions=True)
            results: list[Result] = []
            measured: dict[tuple[bool, int], tuple[float, float]] = {}
            unanswered = 0
            for (redis, count), users in zip(setups, groups):
                api = CountingApi(limit=30 if redis else None)
                await api.start()
                try:
                    async with processes(workdir / f"{'redis' if redis else 'pg'}-{count}", count, api, url,
                                         redis, notify_seconds=2) as (ports, bots):
                        updates, took, side = await journeys(api, ports, users)
                        rate, p99 = updates / took, percentile(side.latencies, 99)
                        measured[redis, count] = rate, p99
                        unanswered += side.unanswered
                        busiest = api.most_in_a_second()
                        log(f"  [processes] {'Redis' if redis else 'no Redis'}, {count}: {updates} updates "
                            f"({len(api.answered)} presses) in {took:.1f}s ({rate:.1f}/s), p99 {p99:.0f} ms, "
                            f"busiest second {busiest} sends, {side.unanswered} unanswered, "
                            f"{api.refused} refused")
                        backend = "postgresql+redis" if redis else "postgresql"
                        word = "process" if count == 1 else "processes"
                        results += [Result(f"processes: updates/s, {count} {word}", round(rate, 1), "updates/s",
                                           backend),
                                    Result(f"processes: reply latency p99, {count} {word}", round(p99, 0), "ms", backend)]
                        if redis:
                            results.append(Result(f"processes: Telegram sends in the busiest second, {count} {word}",
                                                  busiest, "sends", backend, f"<= {TELEGRAM_LIMIT}",
                                                  busiest <= TELEGRAM_LIMIT))
                        if redis and count == 2:
                            api.refused = 0
                            sent_rate, sent, refused = await alerts(db, api, seconds, log)
                            log(f"  [processes] alerts: {sent} sent, {sent_rate:.1f}/s, {refused} refused (429)")
                            target = round(ALERTS_SHARE * TELEGRAM["rate"], 1)
                            results += [
                                Result("processes: alerts delivered, 2 processes, server enforcing 30/s",
                                       round(sent_rate, 1), "sends/s", backend, f">= {target:g}/s",
                                       sent_rate >= target if sent >= 3 * TELEGRAM["rate"] else None),
                                Result("processes: 429 answers to the alerts", refused, "count", backend, "= 0",
                                       refused == 0)]
                    errors = sum(bot.output().count(" ERROR ") for bot in bots)
                    if errors:
                        log(f"  [processes] {errors} ERROR line(s) in the processes' logs")
                finally:
                    await api.close()
                    if redis:
                        await forget_redis_keys(url)
            for redis in sorted({r for r, _ in measured}, reverse=True):
                if (redis, 1) in measured and (redis, 2) in measured:
                    ratio = measured[redis, 2][0] / measured[redis, 1][0]
                    results.append(Result("processes: updates/s, 2 processes / 1", round(ratio, 2), "x",
                                          "postgresql+redis" if redis else "postgresql"))
            results.append(Result("processes: updates unanswered", unanswered, "count", "postgresql", "= 0",
                                  unanswered == 0))
            return results
        finally:
            await db.dispose()
