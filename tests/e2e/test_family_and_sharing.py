"""One family across messengers and shared programs, through the real bot process serving
Telegram and VK at once: a child added in Telegram appears in VK after /link; a wrong and
an expired code are refused; /unlink splits them again; a deep link opens the program's card
in Telegram (/start p_ID) and in VK (a message with ref=p_ID)."""
from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from bot.dialogs import texts
from tests.e2e.botproc import running_bot
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.e2e.fake_vk import FakeVk
from tests.e2e.test_vk_both_platforms import TelegramParent
from tests.e2e.test_vk_journey import VkParent, add_child, sign_up, vk_env

pytestmark = pytest.mark.e2e

TELEGRAM_USER, VK_USER = 8001, 8002
TELEGRAM_VISITOR, VK_VISITOR = 8003, 8004
TITLE = "Робототехника на Arduino"


def code_in(text: str) -> str:
    found = re.search(r"Код для связывания: (\d{6})", text)
    assert found, text
    return found.group(1)


async def new_code(parent: TelegramParent) -> str:
    await parent.says("/link")
    return code_in(await parent.presses(texts.BTN_LINK_NEW_CODE))


def expire_codes(database_path) -> None:
    """Ten minutes pass for the codes: their deadline moved back a day."""
    with sqlite3.connect(database_path) as conn:
        for parent_id, expires_at in conn.execute(
                "SELECT parent_id, expires_at FROM link_states WHERE expires_at IS NOT NULL").fetchall():
            conn.execute("UPDATE link_states SET expires_at = ? WHERE parent_id = ?",
                         ("2000-01-01" + expires_at[10:], parent_id))


async def test_linking_telegram_and_vk_and_opening_shared_programs(tmp_path):
    async with FakeVk() as vk_fake:
        telegram_fake = FakeTelegram()
        await telegram_fake.start()
        try:
            env = {**vk_env(vk_fake), "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": telegram_fake.base_url}

            def both_polling() -> bool:
                return vk_fake.longpoll_requests > 0 and bool(telegram_fake.calls_to("getUpdates"))

            async with running_bot(tmp_path, env, ready=both_polling, timeout=60) as bot:
                await asyncio.wait_for(_linking(bot, telegram_fake, vk_fake), timeout=180)
                await asyncio.wait_for(_sharing(bot, telegram_fake, vk_fake), timeout=60)
                assert await bot.stop() == 0, bot.output()[-2000:]
            assert "Traceback" not in bot.output()
            assert telegram_fake.unanswered_callbacks() == []
        finally:
            await telegram_fake.close()


async def _linking(bot, telegram_fake: FakeTelegram, vk_fake: FakeVk) -> None:
    on_telegram = TelegramParent(telegram_fake, TELEGRAM_USER)
    on_vk = VkParent(vk_fake, VK_USER, callbacks=True)
    await sign_up(on_telegram, "/start")
    await add_child(on_telegram)
    await sign_up(on_vk, "Начать")
    assert "Иванова Мария" not in await on_vk.says("/children")

    code = await new_code(on_telegram)
    wrong = "000000" if code != "000000" else "111111"
    assert texts.LINK_REFUSED["wrong"] in await on_vk.says(f"/link {wrong}")
    expire_codes(bot.database_path)
    assert texts.LINK_REFUSED["expired"] in await on_vk.says(f"/link {code}")
    assert "Иванова Мария" not in await on_vk.says("/children")

    joined = await on_vk.says(f"/link {await new_code(on_telegram)}")
    assert "Аккаунты связаны" in joined
    assert "Иванова Мария" in await on_vk.says("/children")

    asked = await on_vk.says("/unlink")
    assert "останутся у семьи в: Telegram" in asked
    assert "Аккаунт отвязан" in await on_vk.presses(texts.BTN_UNLINK_YES)
    assert "Иванова Мария" not in await on_vk.says("/children")
    assert "Иванова Мария" in await on_telegram.says("/children")
    with sqlite3.connect(bot.database_path) as conn:
        assert conn.execute("SELECT count(*) FROM parents WHERE family_id IS NOT NULL").fetchone() == (0,)


async def _sharing(bot, telegram_fake: FakeTelegram, vk_fake: FakeVk) -> None:
    with sqlite3.connect(bot.database_path) as conn:
        (program_id,) = conn.execute("SELECT id FROM programs WHERE title = ?", (TITLE,)).fetchone()
    # Telegram: the link the bot gives, then opening it as a newcomer (no consent asked).
    visitor = TelegramParent(telegram_fake, TELEGRAM_VISITOR)
    card = await visitor.says(f"/start p_{program_id}")
    assert TITLE in card and "согласны на обработку" not in card
    shared = await visitor.presses(texts.BTN_SHARE)
    assert f"https://t.me/cert_test_bot?start=p_{program_id}" in shared
    # VK: the community's link with ref=p_ID brings the first message with that ref.
    message = await vk_fake.reply_to(VK_VISITOR, lambda: vk_fake.user_says(
        VK_VISITOR, "Начать", ref=f"p_{program_id}"))
    assert TITLE in message.text
    on_vk = VkParent(vk_fake, VK_VISITOR, callbacks=True)
    assert f"https://vk.me/club{vk_fake.group_id}?ref=p_{program_id}" in await on_vk.presses(texts.BTN_SHARE)
