"""Benchmarks 2 and 5: parents' journeys through the real `python -m bot run` over the fake
Telegram Bot API (reply latency), and the process's memory with 100 000 parents stored."""
from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from pathlib import Path

from bench import data, people
from bench.common import Result, migrated, percentile, sqlite_url
from bot.dialogs import texts
from core.clock import FixedClock
from tests.e2e.botproc import running_bot
from tests.e2e.fake_telegram import _WRITES, DEFAULT_TOKEN, FakeTelegram

P50_MS, P99_MS, RSS_MB = 50.0, 250.0, 150.0
CHARTS = 100                 # /balance charts drawn by the bot process (each a different certificate)
STEP_TIMEOUT = 30.0
THINK_SECONDS = (1.0, 3.0)   # a parent's pause between a reply and their next tap
ARRIVAL_SECONDS = 3.0        # the parents' first messages are spread over this long


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(workdir: Path, parents_stored: int, journeys: int, log: callable = print) -> list[Result]:
    url = sqlite_url(workdir)
    db = await migrated(url)
    clock = FixedClock(dt.datetime.now().replace(microsecond=0))
    try:
        await data.load_catalog(db, clock, 300)
        users = await people.add_parents(db, clock, parents_stored, first_user=50_000_000)
        # 100 from scale 0.05 up; a tiny run (the test suite's) draws ten.
        charted = users[-min(CHARTS, max(10, parents_stored // 50), len(users)):]
        await people.fund_certificates(db, clock, charted)
    finally:
        await db.dispose()
    fake = FakeTelegram()
    await fake.start()
    latencies: list[float] = []
    unanswered = 0
    try:
        env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": fake.base_url, "DATABASE_URL": url}
        async with running_bot(workdir, env, timeout=120,
                               ready=lambda: fake.seen("setMyCommands") and fake.seen("getUpdates")) as proc:
            await asyncio.sleep(1.0)
            pid = proc.proc.pid
            at_start = rss_mb(pid)
            rng = random.Random(data.SEED + 2)

            async def act(user: int, kind: str, value: str) -> None:
                nonlocal unanswered
                since = fake.mark()
                pushed = time.monotonic()
                if kind == "text":
                    fake.push_message(user, value)
                else:
                    try:
                        fake.press(user, value)
                    except AssertionError:
                        fake.push_message(user, "/start")

                def reply():  # noqa: ANN202
                    return next((c for c in reversed(fake.calls) if c.seq > since and c.chat_id == user
                                 and c.method in _WRITES and c.status == 200), None)
                try:
                    await fake.wait_for(lambda: reply() is not None, timeout=STEP_TIMEOUT)
                except AssertionError:
                    unanswered += 1
                    return
                first = min(c.at for c in fake.calls if c.seq > since and c.chat_id == user and c.method in _WRITES)
                latencies.append((first - pushed) * 1000)
                # A person reads the screen before the next tap (Telegram also lets a bot write
                # to one chat about once a second).
                await asyncio.sleep(rng.uniform(*THINK_SECONDS))

            async def journey(user: int, start: float) -> None:
                fake._store(user, from_bot=True, text="…", reply_markup=None)  # the chat exists
                await asyncio.sleep(start)  # parents arrive one by one, not all in the same millisecond
                for kind, value in [("text", "/start"), ("text", f"/find {rng.choice(data.QUERIES[:20])}"),
                                    ("press", "1"), ("text", "/balance"), ("text", "/enrollments"),
                                    ("text", "/subscribe"), ("text", "/help")]:
                    await act(user, kind, value)

            started = time.monotonic()
            starts = [rng.uniform(0, ARRIVAL_SECONDS) for _ in users[:journeys]]
            await asyncio.gather(*(journey(u, at) for u, at in zip(users[:journeys], starts)))
            took = time.monotonic() - started
            after = rss_mb(pid)
            log(f"  [e2e] {len(latencies)} replies in {took:.1f}s, {unanswered} unanswered; "
                f"RSS {at_start:.0f} → {after:.0f} MB")
            # One /balance each for parents with money: every one draws a chart (matplotlib is
            # imported on the first), sent as a photo; the RSS after them all.
            started = time.monotonic()
            photos = len(fake.calls_to("sendPhoto"))
            for user in charted:
                fake._store(user, from_bot=True, text="…", reply_markup=None)  # the chat exists
                since = fake.mark()
                fake.push_message(user, "/balance")
                try:
                    await fake.wait_for(lambda u=user, s=since: any(
                        c.seq > s and c.chat_id == u and c.method == "sendMessage" and "Доступно" in
                        str(c.params.get("text", "")) for c in fake.calls), timeout=STEP_TIMEOUT)
                except AssertionError:
                    unanswered += 1
            charts_sent = len(fake.calls_to("sendPhoto")) - photos
            chart_seconds = time.monotonic() - started
            after_charts = rss_mb(pid)
            log(f"  [e2e] {charts_sent} charts drawn and sent in {chart_seconds:.1f}s; RSS {after_charts:.0f} MB")
    finally:
        await fake.close()
    log(f"  [e2e] slowest replies (ms): {sorted(round(x) for x in latencies)[-8:]}")
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return [
        Result("e2e: updates unanswered", unanswered, "count", "sqlite", "= 0", unanswered == 0),
        Result("e2e: reply latency p50", round(p50, 1), "ms", "sqlite", f"<= {P50_MS:g} ms", p50 <= P50_MS),
        Result("e2e: reply latency p99", round(p99, 1), "ms", "sqlite", f"<= {P99_MS:g} ms", p99 <= P99_MS),
        Result(f"memory: RSS after start ({parents_stored} parents)", round(at_start, 1), "MB", "sqlite",
               f"<= {RSS_MB:g} MB", at_start <= RSS_MB),
        Result("memory: RSS after the journeys", round(after, 1), "MB", "sqlite", f"<= {RSS_MB:g} MB",
               after <= RSS_MB),
        Result(f"memory: RSS after {charts_sent} charts", round(after_charts, 1), "MB", "sqlite",
               f"<= {RSS_MB:g} MB", after_charts <= RSS_MB and charts_sent == len(charted)),
    ]
