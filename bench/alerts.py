"""Benchmark 3: alert fan-out — 100 000 subscribers, 50 new programs: matching and outbox
writing, then the delivery worker against an unlimited fake Bot API and one enforcing 30/s."""
from __future__ import annotations

import datetime as dt
import time

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import update

from bench import data, people
from bench.common import Result, as_autovacuum_would, migrated
from bench.fake_api import CountingApi
from bot.handlers.telegram_send import TelegramSender
from bot.jobs import tasks
from bot.jobs.delivery import Deliverer
from bot.jobs.pacing import TELEGRAM, Pacer
from core.clock import FixedClock
from core.importer import import_rows
from core.outbox import PENDING, Outbox

TOKEN = "42:BENCH"
FANOUT_TARGET_S = 3.0
UNLIMITED_TARGET = 300.0
PACED_SHARE = 0.9


async def _deliver(db, clock, api: CountingApi, seconds: float, pacer: Pacer | None) -> tuple[int, float]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    try:
        deliverer = Deliverer(db, clock, {"telegram": TelegramSender(bot)},
                              pacers={"telegram": pacer} if pacer else None)
        started = time.perf_counter()
        report = await deliverer.run(max_seconds=seconds)
        return report.sent, time.perf_counter() - started
    finally:
        await bot.session.close()


async def run(backend: str, url: str, clock: FixedClock, subscribers: int, programs: int,
              seconds: float, log: callable = print) -> list[Result]:
    db = await migrated(url)
    try:
        await data.load_catalog(db, clock, 600)
        await people.add_parents(db, clock, subscribers, first_user=40_000_000, children=False,
                                 subscriptions=True)
        later = FixedClock(clock.now().replace(tzinfo=None) + dt.timedelta(hours=1))
        fresh = data.program_rows(programs, later.today(), seed=data.SEED + 3)
        for n, row in enumerate(fresh):
            row["external_id"] = f"NEW-{n:04d}"
        await import_rows(db, fresh, later)
        if backend == "postgresql":
            await as_autovacuum_would(db, "parents", "children", "subscriptions", "subscription_categories",
                                      "programs", "program_terms", "outbox")
        sent_at = FixedClock(later.now().replace(tzinfo=None) + dt.timedelta(minutes=5))
        started = time.perf_counter()
        report = await tasks.enqueue(db, sent_at)
        fan_out = time.perf_counter() - started
        log(f"  [{backend}] fan-out: {report.queued_programs} outbox rows in {fan_out:.2f}s")
        results = [Result("alerts: matching + outbox", round(fan_out, 2), "s", backend,
                          f"<= {FANOUT_TARGET_S:g} s", fan_out <= FANOUT_TARGET_S),
                   Result("alerts: outbox rows written", report.queued_programs, "rows", backend)]

        free = CountingApi()
        await free.start()
        try:
            sent, took = await _deliver(db, sent_at, free, seconds, Pacer(rate=1_000_000, per=1.0))
        finally:
            await free.close()
        rate = sent / took if took else 0.0
        log(f"  [{backend}] unlimited: {sent} sent in {took:.1f}s")
        results.append(Result("alerts: delivery, unlimited server", round(rate, 1), "sends/s", backend,
                              f">= {UNLIMITED_TARGET:g}/s", rate >= UNLIMITED_TARGET))

        # The paced run starts from the same pending rows: at small sizes the unlimited run
        # now sends them all, and the paced one would have nothing left to measure.
        async with db.write() as session:
            await session.execute(update(Outbox).values(
                status=PENDING, sent_at=None, attempts=0, last_error=None, next_attempt_at=None))
        strict = CountingApi(limit=30)
        await strict.start()
        try:
            sent, took = await _deliver(db, sent_at, strict, seconds, None)
        finally:
            await strict.close()
        rate = sent / took if took else 0.0
        pace = TELEGRAM["rate"]
        results += [
            Result("alerts: delivery at the default pace (25/s), server enforcing 30/s", round(rate, 1),
                   "sends/s", backend, f">= {PACED_SHARE * pace:g}/s",
                   rate >= PACED_SHARE * pace if sent >= 3 * pace else None),  # too few rows left to tell
            Result("alerts: 429 answers at the default pace", strict.refused, "count", backend, "= 0",
                   strict.refused == 0),
        ]
        log(f"  [{backend}] paced: {sent} sent in {took:.1f}s, {strict.refused} refused")
        return results
    finally:
        await db.dispose()
