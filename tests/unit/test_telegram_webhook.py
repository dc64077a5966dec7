"""The Telegram webhook route in-process (bot/handlers/telegram_webhook.py), against the fake
Bot API: one parent's updates in order, a failed send answered 500 (so Telegram sends the
update again), and no update accepted once stopping."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.dialogs.screen import Input, Reply, Screen
from bot.handlers import telegram as tg
from bot.handlers import telegram_send as sending
from bot.handlers.telegram_webhook import SECRET_HEADER, Webhook
from bot.runtime import AppContext
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram

USER = 1001
SECRET = "the_secret"


class SlowFirstDialogs:
    """The first input takes a while; every input is answered with its own text."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.replied_to: list[str] = []

    async def handle(self, platform: str, user_id: str, inp: Input) -> Reply:
        self.started.append(inp.text)
        if len(self.started) == 1:
            await asyncio.sleep(0.5)
        self.finished.append(inp.text)
        return Reply(screens=[Screen(f"ответ: {inp.text}")])

    async def replied(self, platform: str, user_id: str, event_id: str) -> None:
        self.replied_to.append(event_id)


@pytest.fixture
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def served(fake, tmp_path):
    settings = Settings(_env_file=None, telegram_bot_token=DEFAULT_TOKEN, telegram_api_url=fake.base_url,
                        telegram_webhook_url="https://bot.example.org/tg/hook?x=1",
                        telegram_webhook_secret=SECRET, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3")
    bot = sending.make_bot(AppContext(settings=settings, db=None, clock=None, dialogs=None))
    dialogs = SlowFirstDialogs()
    hook = Webhook(settings, tg.make_dispatcher(dialogs), bot)
    app = web.Application()
    app.router.add_routes([hook.route()])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield hook, dialogs, server
    await server.close()
    await bot.session.close()


async def post(server: TestServer, update: dict, secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/tg/hook"), json=update, headers=headers) as response:
            return response.status


async def test_one_parents_updates_are_handled_one_at_a_time_in_order(fake, served):
    hook, dialogs, server = served
    first, second = fake.new_message_update(USER, "первое"), fake.new_message_update(USER, "второе")
    one = asyncio.create_task(post(server, first))
    await asyncio.sleep(0.1)
    two = asyncio.create_task(post(server, second))
    assert await one == 200 and await two == 200
    assert dialogs.started == ["первое", "второе"] and dialogs.finished == ["первое", "второе"]
    assert [text for _, text in fake.texts_sent] == ["ответ: первое", "ответ: второе"]
    assert dialogs.replied_to == [str(first["update_id"]), str(second["update_id"])]
    assert hook._turns == {}   # nobody waits: the parent's lock is forgotten


async def test_a_reply_that_could_not_be_sent_is_answered_500_and_not_marked_replied(fake, served):
    _, dialogs, server = served
    fake.new_message_update(USER, "чат есть")  # the chat exists
    fake.fail(USER, 500, "Internal Server Error", times=1, methods=("sendMessage",))
    update = fake.new_message_update(USER, "/start")
    assert await post(server, update) == 500
    assert dialogs.replied_to == []
    assert await post(server, update) == 200    # Telegram sends it again
    assert dialogs.replied_to == [str(update["update_id"])]


async def test_wrong_secret_401_and_stopping_503(fake, served):
    hook, dialogs, server = served
    assert await post(server, fake.new_message_update(USER, "x"), secret="other") == 401
    assert await post(server, fake.new_message_update(USER, "x"), secret=None) == 401
    await hook.drain(1)
    assert await post(server, fake.new_message_update(USER, "x")) == 503
    assert dialogs.started == []
