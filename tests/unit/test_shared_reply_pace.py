"""Issue 15: the platforms' pace holds for every process together, for every call that sends
or edits a message — replies as well as alerts, replies first. With REDIS_URL, Telegram's
calls pass a request middleware on the bot's session (SharedPace) that takes a slot of the
window counted in Redis; VK's and MAX's clients pass the same gate (SharedLimiter).

Two pacers on one key prefix stand for two processes; the Redis server is real (the tests
skip, saying "Redis", when it is not reachable; .ci/run then fails the build).
"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from bot.config import Settings
from bot.handlers.telegram_send import SharedPace, make_bot
from bot.jobs import scheduler
from bot.jobs.shared_pacing import AlertGate, SharedLimiter, SharedPacer
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis


def process(client, prefix: str, platform: str = "telegram") -> SharedLimiter:
    """One process's gate: its own pacer on the prefix every process shares."""
    return SharedLimiter(SharedPacer(client, prefix, platform))


def send(chat: int) -> SendMessage:
    return SendMessage(chat_id=chat, text="ответ")


class Telegram:
    """What the middleware calls next: the request itself, here only noted with its time."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, object]] = []

    async def __call__(self, bot, method):  # noqa: ANN001, ANN204 - aiogram's make_request
        self.sent.append((asyncio.get_running_loop().time(), method))
        return SimpleNamespace(ok=True)


def most_in_a_second(stamps: list[float]) -> int:
    # A little slack for the event loop's clock against Redis's, as in test_several_processes.
    return max(sum(1 for t in stamps if s <= t < s + 0.98) for s in stamps)


async def test_replies_of_two_processes_together_never_exceed_telegrams_rate_in_any_second(redis):
    client, prefix = redis
    telegram = Telegram()
    a, b = SharedPace(process(client, prefix)), SharedPace(process(client, prefix))

    async def replies(pace: SharedPace, chats: range) -> None:
        for chat in chats:
            await pace(telegram, None, send(chat))

    await asyncio.wait_for(asyncio.gather(replies(a, range(0, 35)), replies(b, range(35, 70))), timeout=30)
    stamps = sorted(t for t, _ in telegram.sent)
    assert len(stamps) == 70
    assert most_in_a_second(stamps) <= a.gate.pacer.rate == 25


async def test_edits_are_paced_and_other_calls_pass_without_a_slot(redis):
    client, prefix = redis
    telegram = Telegram()
    pace = SharedPace(process(client, prefix))
    window = f"{prefix}pace:telegram:window"
    await pace(telegram, None, EditMessageText(chat_id=5, message_id=1, text="экран"))
    assert await client.zcard(window) == 1
    await pace(telegram, None, AnswerCallbackQuery(callback_query_id="1"))
    assert await client.zcard(window) == 1
    assert len(telegram.sent) == 2


async def test_a_reply_goes_at_once_while_the_alerts_have_used_their_budget(redis):
    client, prefix = redis
    alerts_process, replies_process = process(client, prefix), process(client, prefix)
    pacer = alerts_process.pacer
    for chat in range(pacer.rate - pacer.reserve):          # alerts: each waited at its gate, then sent
        await AlertGate(pacer).wait(str(chat))
        await alerts_process.wait(str(chat))
    assert await pacer._try("another", reply=False, take=False) > 0.1  # the next alert waits …
    assert await replies_process.wait("99") < 0.1                      # … a reply only its 20 ms


async def test_an_alert_waits_while_replies_use_the_budget(redis):
    client, prefix = redis
    replies, alerts = process(client, prefix), process(client, prefix)
    for chat in range(replies.pacer.rate - 1):
        await replies.wait(str(chat))
    assert await alerts.pacer._try("100", reply=False, take=False) > 0.1


async def test_one_chat_gets_an_alert_a_second_whichever_process_sends_it(redis):
    client, prefix = redis
    a, b = process(client, prefix), process(client, prefix)
    assert await AlertGate(a.pacer).wait("7") == 0      # the alert's gate takes nothing …
    await a.wait("7")                                   # … the adapter's send takes the chat's second
    assert await b.pacer._try("7", reply=False, take=False) >= 0.9    # the same chat: a second later
    assert await b.pacer._try("8", reply=False, take=False) < 0.1     # another chat: at once


async def test_one_chat_gets_a_message_a_second_replies_included_and_other_chats_are_not_held_up(redis):
    client, prefix = redis
    telegram = Telegram()
    a, b = SharedPace(process(client, prefix)), SharedPace(process(client, prefix))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await a(telegram, None, send(7))                    # a reply in one process …
    second = asyncio.create_task(b(telegram, None, send(7)))    # … another to the same chat in the other
    await asyncio.sleep(0.05)
    await b(telegram, None, send(8))                    # queued behind it in that process: goes at once
    await asyncio.wait_for(second, timeout=5)
    at = {(t, m.chat_id) for t, m in telegram.sent}
    to_7 = sorted(t for t, chat in at if chat == 7)
    to_8 = [t for t, chat in at if chat == 8]
    assert to_7[1] - to_7[0] >= 0.95                    # Telegram's one message a second per chat
    assert to_8[0] - started < 0.5 and to_8[0] < to_7[1]


async def test_replies_waiting_for_the_window_go_in_the_order_they_came(redis):
    client, prefix = redis
    gate = process(client, prefix)
    for chat in range(gate.pacer.rate):                 # the window is full
        await gate.wait(str(chat))
    order: list[int] = []

    async def reply(n: int) -> None:
        await gate.wait(str(100 + n))
        order.append(n)

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(reply(n)))
        await asyncio.sleep(0)                          # each has come before the next
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert order == [0, 1, 2, 3, 4]


async def test_a_flood_answer_to_a_reply_pauses_telegram_in_every_process(redis):
    client, prefix = redis
    a, b = SharedPace(process(client, prefix)), SharedPace(process(client, prefix))

    async def flood(bot, method):  # noqa: ANN001, ANN202
        raise TelegramRetryAfter(method, "Too Many Requests: retry after 3", 3)

    with pytest.raises(TelegramRetryAfter):
        await a(flood, None, send(1))
    for _ in range(50):
        if await client.exists(f"{prefix}pace:telegram:paused"):
            break
        await asyncio.sleep(0.02)
    assert await b.gate.pacer._try("2", reply=True) > 2


def settings(**kw: str) -> Settings:
    return Settings(_env_file=None, telegram_bot_token="123:abc",
                    database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/test", **kw)


async def test_with_redis_the_bot_sends_through_the_shared_pace_and_alerts_wait_at_their_gate():
    with_redis = settings(redis_url=REDIS_URL)
    bot = make_bot(SimpleNamespace(settings=with_redis))
    try:
        assert [type(m) for m in bot.session.middleware] == [SharedPace]
    finally:
        await bot.session.close()
    pace = scheduler.shared_pace(SimpleNamespace(settings=with_redis))
    assert {type(pace(p)) for p in ("telegram", "vk", "max")} == {AlertGate}


async def test_without_redis_each_process_keeps_its_own_pace():
    bot = make_bot(SimpleNamespace(settings=settings()))
    try:
        assert list(bot.session.middleware) == []
    finally:
        await bot.session.close()
    assert scheduler.shared_pace(SimpleNamespace(settings=settings())) is None
