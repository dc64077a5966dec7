"""VK through the Callback API (VK_CALLBACK_SECRET): the real VK adapter and dialogs, the fake
VK API, and the adapter's route served as the process's HTTP server serves it.

Every request without the right secret is refused with no effect; the confirmation is
answered with the code the bot asked VK for; an event is answered `ok` once its reply went
out; an event VK sends again is handled once.
"""
from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.config import Settings
from bot.dialogs.engine import Dialogs
from bot.handlers import vk
from bot.runtime import AppContext
from core.models import Consent, HandledUpdate
from tests.e2e.fake_vk import GROUP_ID, TOKEN, FakeVk

SECRET = "callback-s3cret"
USER = 4242


@pytest.fixture
async def served(db, clock):
    async with FakeVk() as fake:
        settings = Settings(_env_file=None, vk_group_token=TOKEN, vk_group_id=str(GROUP_ID),
                            vk_api_url=fake.api_url, vk_callback_secret=SECRET)
        ctx = AppContext(settings=settings, db=db, clock=clock, dialogs=Dialogs(db, clock, settings))
        stop = asyncio.Event()
        serving = asyncio.create_task(vk.serve(ctx, stop))
        await asyncio.sleep(0)
        assert [route.path for route in ctx.http_routes] == ["/vk/callback"]
        app = web.Application()
        app.add_routes(ctx.http_routes)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield fake, str(server.make_url("/vk/callback")), db
        finally:
            stop.set()
            await asyncio.wait_for(serving, timeout=20)
            await server.close()


async def count(db, model) -> int:  # noqa: ANN001
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_the_confirmation_is_answered_with_the_code_the_bot_asked_vk_for(served):
    fake, url, _db = served
    assert await fake.confirm(url, SECRET) == (200, fake.confirmation_code)
    assert fake.calls_of("groups.getCallbackConfirmationCode")


async def test_requests_without_the_right_secret_are_refused_with_no_effect(served):
    fake, url, db = served
    assert (await fake.confirm(url, None))[0] == 403
    assert (await fake.confirm(url, "wrong"))[0] == 403
    fake.user_says(USER, "Начать")
    assert (await fake.post_events(url, "wrong", attempts=1))[0][0] == 403
    assert (await fake.resend(url, fake.events[0], None))[0] == 403
    assert not [m for m in fake.chat(USER) if m.out]   # no answer went out
    assert await count(db, HandledUpdate) == 0
    assert not fake.calls_of("groups.getCallbackConfirmationCode")


async def test_an_event_is_answered_ok_after_its_reply_and_handled_once_when_sent_again(served):
    fake, url, db = served
    fake.user_says(USER, "Начать")
    assert await fake.post_events(url, SECRET) == [(200, "ok")]
    # `ok` came after the reply: the consent screen is in the chat already.
    replies = [m for m in fake.chat(USER) if m.out]
    assert replies and fake.find_button(USER, "Даю согласие")
    fake.press(USER, "Даю согласие")
    assert await fake.post_events(url, SECRET) == [(200, "ok")]
    assert await count(db, Consent) == 1
    sent = len([m for m in fake.chat(USER) if m.out])
    # VK sends both events again (it missed the `ok`): nothing is done or said twice.
    for event in list(fake.events):
        assert await fake.resend(url, event, SECRET) == (200, "ok")
    assert await count(db, Consent) == 1
    assert len([m for m in fake.chat(USER) if m.out]) == sent


async def test_a_malformed_body_is_refused(served):
    _fake, url, _db = served
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=b"not json") as answer:
            assert answer.status == 400


async def test_an_event_whose_reply_failed_is_not_answered_ok_and_is_handled_once_when_sent_again(served):
    fake, url, db = served
    fake.user_says(USER, "Начать")
    fake.fail_api("messages.send", 100)          # the reply cannot go out
    [(status, answer)] = await fake.post_events(url, SECRET, attempts=1)
    assert (status, answer) == (500, "failed")   # not `ok`: VK sends the event again
    assert not [m for m in fake.chat(USER) if m.out]
    assert await fake.resend(url, fake.events[0], SECRET) == (200, "ok")
    # Committed the first time, answered now: the screen it left, once.
    replies = [m for m in fake.chat(USER) if m.out]
    assert len(replies) == 1 and fake.find_button(USER, "Даю согласие")
    assert await count(db, HandledUpdate) == 1
