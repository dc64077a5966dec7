"""One `python -m bot run` serving Telegram and VK at once: a parent on each, both journeys together."""
from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.e2e.botproc import running_bot
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.e2e.fake_vk import FakeVk
from tests.e2e.test_vk_journey import VkParent, add_child, balance_and_cancel, enroll, sign_up, vk_env

pytestmark = pytest.mark.e2e

TELEGRAM_USER, VK_USER = 6001, 6002
SNILS_TELEGRAM = "123-456-789 64"
SNILS_VK = "112-233-445 95"


class TelegramParent:
    """The same parent moves as VkParent, over the fake Telegram Bot API."""

    def __init__(self, fake: FakeTelegram, user_id: int) -> None:
        self.fake = fake
        self.user_id = user_id

    async def says(self, text: str) -> str:
        return (await self.fake.say(self.user_id, text, timeout=20)).text

    async def presses(self, label: str) -> str:
        return (await self.fake.click(self.user_id, label, timeout=20)).text


async def journey(parent, first_words: str, snils: str) -> str:
    await sign_up(parent, first_words)
    await add_child(parent, snils)
    certificate = await enroll(parent)
    await balance_and_cancel(parent, certificate)
    return certificate


async def test_a_telegram_parent_and_a_vk_parent_at_once(tmp_path):
    async with FakeVk() as vk_fake:
        telegram_fake = FakeTelegram()
        await telegram_fake.start()
        try:
            env = {**vk_env(vk_fake), "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": telegram_fake.base_url}

            def both_polling() -> bool:
                return vk_fake.longpoll_requests > 0 and bool(telegram_fake.calls_to("getUpdates"))

            async with running_bot(tmp_path, env, ready=both_polling, timeout=60) as bot:
                on_telegram = TelegramParent(telegram_fake, TELEGRAM_USER)
                on_vk = VkParent(vk_fake, VK_USER, callbacks=True)
                tg_certificate, vk_certificate = await asyncio.wait_for(asyncio.gather(
                    journey(on_telegram, "/start", SNILS_TELEGRAM),
                    journey(on_vk, "Начать", SNILS_VK),
                ), timeout=240)

                assert tg_certificate != vk_certificate
                with sqlite3.connect(bot.database_path) as conn:
                    parents = conn.execute("SELECT platform, external_id FROM parents ORDER BY platform").fetchall()
                    statuses = conn.execute("SELECT status FROM enrollments").fetchall()
                assert parents == [("telegram", str(TELEGRAM_USER)), ("vk", str(VK_USER))]
                assert statuses == [("cancelled",), ("cancelled",)]
                # Each parent heard only their own platform.
                assert {m.peer_id for m in vk_fake.chat(VK_USER)} == {VK_USER}
                assert vk_fake.chat(TELEGRAM_USER) == [] and telegram_fake.chat(VK_USER) == []
                assert telegram_fake.unanswered_callbacks() == []
        finally:
            await telegram_fake.close()
