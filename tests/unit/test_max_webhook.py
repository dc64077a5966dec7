"""MAX's webhook route (bot/handlers/max_webhook.py): 200 only once an update was handled,
500 when handling or answering it failed (MAX sends it again), 403 without the secret; a copy
that comes while the first is still being handled waits for it, or gets 503 (bot/in_flight.py)."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.handlers import max_webhook
from bot.in_flight import InFlight, LocalClaims

SECRET = "max-s3cret"
UPDATE = {"update_type": "message_created", "timestamp": 1, "message": {
    "sender": {"user_id": 5, "is_bot": False}, "recipient": {"chat_type": "dialog"},
    "body": {"mid": "mid.1", "text": "/start"}}}


class Adapter:
    """Stands for the MAX adapter: handling succeeds or fails as told, and can be held."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.succeeds = True
        self.hold = asyncio.Event()
        self.hold.set()

    async def handle_in_order(self, raw: dict) -> bool:
        self.handled.append(raw["message"]["body"]["mid"])
        await self.hold.wait()
        return self.succeeds


@pytest.fixture
async def served():
    adapter = Adapter()
    settings = Settings(_env_file=None, max_bot_token="t", max_webhook_url="https://bot.example/max/hook",
                        max_webhook_secret=SECRET)
    app = web.Application()
    app.add_routes([max_webhook.route(adapter, settings, InFlight(LocalClaims(), wait_seconds=0.3))])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        async def post(secret: str | None = SECRET) -> int:
            headers = {} if secret is None else {max_webhook.SECRET_HEADER: secret}
            async with session.post(server.make_url("/max/hook"), json=UPDATE, headers=headers) as answer:
                return answer.status
        yield adapter, post
    await server.close()


async def test_an_update_is_answered_200_once_handled_and_500_when_handling_failed(served):
    adapter, post = served
    assert await post() == 200
    adapter.succeeds = False
    assert await post() == 500
    assert adapter.handled == ["mid.1", "mid.1"]


async def test_without_the_secret_nothing_is_handled(served):
    adapter, post = served
    assert await post(None) == 403 and await post("wrong") == 403
    assert adapter.handled == []


async def test_a_copy_while_the_first_is_handled_waits_or_is_asked_to_come_again(served):
    adapter, post = served
    adapter.hold.clear()
    first = asyncio.create_task(post())
    for _ in range(500):                      # bounded: until the first is being handled
        if adapter.handled:
            break
        await asyncio.sleep(0.01)
    assert await post() == 503                # still in flight after the copy's wait
    assert adapter.handled == ["mid.1"]
    adapter.hold.set()
    assert await first == 200
