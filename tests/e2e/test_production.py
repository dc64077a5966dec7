"""In production (README "Running in production"): Telegram through a webhook, the HTTP server's
/healthz and /metrics, and a clean stop on SIGTERM, through the real `python -m bot run`.

The fake Telegram plays Telegram's part of a webhook: after setWebhook it POSTs each update
to the bot with the secret header and sends it again until it is answered 2xx.
"""
from __future__ import annotations

import asyncio
import json
import re
import signal
import time

import aiohttp
import pytest

from bot.dialogs import texts
from tests.e2e.botproc import running_bot
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.e2e.ports import free_port
from tests.e2e.tcp_proxy import TcpProxy
from tests.e2e.test_telegram_journey import BIRTH, CHILD, MUNICIPALITY, PROGRAM, SNILS, agree, count

pytestmark = pytest.mark.e2e

PARENT, STRANGER, LATE = 7001, 7002, 7003
SECRET = "s3cret_for-the-fake"
START_TIMEOUT = 60


@pytest.fixture
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


def webhook_env(fake: FakeTelegram, port: int) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": fake.base_url,
            # The query is not part of the route: Telegram POSTs to the URL as given.
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/hook?from=tg",
            "TELEGRAM_WEBHOOK_SECRET": SECRET, "HTTP_PORT": str(port)}


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(f"http://127.0.0.1:{port}{path}") as response:
            return response.status, await response.text()


async def health(port: int) -> tuple[int, dict]:
    status, body = await get(port, "/healthz")
    return status, json.loads(body)


async def within(seconds: float, check) -> float:
    """Seconds until `await check()` is true; fails after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {seconds}s")


async def test_a_parent_enrolls_through_the_webhook_and_each_update_is_answered_after_its_reply(fake, tmp_path):
    port = free_port()
    env = webhook_env(fake, port)
    async with running_bot(tmp_path, env, ready=lambda: serving(fake, port), timeout=START_TIMEOUT) as proc:
        db = proc.database_path
        assert fake.webhooks == [{"url": env["TELEGRAM_WEBHOOK_URL"], "secret_token": SECRET,
                                  "allowed_updates": ["message", "callback_query"], "max_connections": "40",
                                  "drop_pending_updates": "false"}]

        # A request without the secret, or with another one: 401, and nothing happens.
        for secret in (None, "", "wrong-secret", SECRET + "x"):
            refused = await fake.post_webhook(fake.new_message_update(STRANGER, "/start"), secret=secret)
            assert refused.status == 401
        await asyncio.sleep(0.5)
        assert fake.writes_to(STRANGER) == 0
        assert count(db, "SELECT count(*) FROM parents") == 0

        # The journey, every update POSTed by the fake.
        await agree(fake, PARENT)
        assert texts.CHILDREN_EMPTY in (await fake.say(PARENT, "/children")).text
        assert texts.CHILD_ASK_NAME in (await fake.click(PARENT, texts.BTN_ADD_CHILD)).text
        assert texts.CHILD_ASK_BIRTH in (await fake.say(PARENT, CHILD)).text
        assert texts.CHILD_ASK_SNILS in (await fake.say(PARENT, BIRTH)).text
        assert texts.CHILD_ASK_MUNI in (await fake.say(PARENT, SNILS)).text
        await fake.click(PARENT, MUNICIPALITY)
        assert texts.CHILD_SAVED in (await fake.click(PARENT, texts.BTN_SAVE)).text
        results = await fake.say(PARENT, "/find робот")
        number = re.search(rf"^(\d+)\. {re.escape(PROGRAM)}$", results.text, re.M)
        assert number, results.text
        await fake.click(PARENT, number.group(1))
        await fake.click(PARENT, texts.BTN_ENROLL)
        await fake.click(PARENT, CHILD)
        done = await fake.click(PARENT, texts.BTN_CONFIRM)
        assert "Выпущен сертификат №" in done.text
        assert count(db, "SELECT count(*) FROM enrollments WHERE status = 'active'") == 1

        # Each update was answered once, 200, and only after its reply had gone out.
        journey = [d for d in fake.deliveries if d.chat_id == PARENT]
        assert len(journey) == len({d.update_id for d in journey}) >= 14
        assert all(d.status == 200 for d in journey)
        assert all(d.writes_after > d.writes_before for d in journey), \
            [(d.update_id, d.writes_before, d.writes_after) for d in journey]
        assert fake.updates == []
        # Webhook mode never polls and never removes the webhook.
        assert fake.calls_to("getUpdates") == [] and fake.calls_to("deleteWebhook") == []

        status, metrics = await get(port, "/metrics")
        assert status == 200
        for name in ("bot_updates_total", "bot_step_seconds", "bot_outbox_pending", "bot_sends_total",
                     "bot_rate_limited_total", "bot_job_runs_total", "bot_jobs_leader"):
            assert f"# TYPE {name} " in metrics, name
        handled = re.search(r'^bot_updates_total\{outcome="ok",platform="telegram"\} (\S+)$', metrics, re.M)
        assert handled and float(handled.group(1)) >= len(journey)
        assert re.search(r'^bot_step_seconds_count\{platform="telegram"\} (\S+)$', metrics, re.M)
        assert re.search(r'^bot_job_runs_total\{job="catch-up",outcome="ok"\} 1\.0$', metrics, re.M)
        assert (await health(port))[0] == 200

        assert await proc.stop() == 0


async def test_sigterm_during_a_webhook_request_answers_it_and_exits_cleanly(fake, tmp_path):
    port = free_port()
    async with running_bot(tmp_path, webhook_env(fake, port), ready=lambda: serving(fake, port),
                           timeout=START_TIMEOUT) as proc:
        fake.slow_down(LATE, 2.0)   # the reply takes two seconds to send
        update = fake.new_message_update(LATE, "/start")
        request = asyncio.create_task(fake.post_webhook(update, secret=SECRET))
        await fake.wait_for(lambda: any(c.chat_id == LATE for c in fake.calls_to("sendMessage")), timeout=20)
        stopped_at = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        delivery = await request
        assert delivery.status == 200 and delivery.writes_after > delivery.writes_before
        assert texts.CONSENT.splitlines()[0] in fake.view(LATE).text
        assert await proc.wait_exit(10) == 0
        assert time.monotonic() - stopped_at < 10
        # Not listening any more.
        with pytest.raises(aiohttp.ClientError):
            await get(port, "/healthz")


async def serving(fake: FakeTelegram, port: int) -> bool:
    """The webhook is set and the HTTP server answers."""
    return fake.seen("setMyCommands") and await _healthy(port)


async def _healthy(port: int) -> bool:
    try:
        return (await health(port))[0] == 200
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
        return False


async def test_webhook_mode_without_a_secret_refuses_to_start(fake, tmp_path):
    env = webhook_env(fake, free_port())
    env["TELEGRAM_WEBHOOK_SECRET"] = ""
    async with running_bot(tmp_path, env) as proc:
        assert await proc.wait_exit(30) == 2
        assert "TELEGRAM_WEBHOOK_SECRET is required" in proc.output()
        assert fake.calls == []


async def test_healthz_turns_503_when_the_database_or_redis_stops_answering_and_200_when_back(
        fake, tmp_path, pg_database):
    database, redis = TcpProxy("127.0.0.1", 5432), TcpProxy("127.0.0.1", 6379)
    await database.start()
    await redis.start()
    port = free_port()
    env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": fake.base_url, "HTTP_PORT": str(port),
           "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{database.port}/{pg_database.rsplit('/', 1)[1]}",
           "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"}
    try:
        # Long polling, with the HTTP server on because HTTP_PORT is set.
        # Ready once Telegram is polled and the HTTP server answers (it starts beside polling).
        async def ready() -> bool:
            return fake.seen("getUpdates") and await _healthy(port)

        async with running_bot(tmp_path, env, ready=ready, timeout=START_TIMEOUT) as proc:
            assert await health(port) == (200, {"status": "ok", "database": "ok", "redis": "ok"})

            await redis.cut()
            await within(5, lambda: _status_is(port, 503, "redis"))
            await redis.restore()
            await within(5, lambda: _status_is(port, 200))

            await database.cut()
            await within(5, lambda: _status_is(port, 503, "database"))
            await database.restore()
            await within(5, lambda: _status_is(port, 200))

            assert proc.running
            agreed = await fake.say(PARENT, "/start")   # and the bot still works
            assert texts.CONSENT.splitlines()[0] in agreed.text
            assert await proc.stop() == 0
    finally:
        await database.close()
        await redis.close()


async def _status_is(port: int, status: int, failing: str | None = None) -> bool:
    got, body = await health(port)
    return got == status and (failing is None or body[failing] != "ok")
