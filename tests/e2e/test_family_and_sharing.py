"""One family across messengers and shared programs, through ONE real bot process serving
Telegram, VK and MAX at once: a child added in Telegram appears in VK and MAX after /link; a
wrong and an expired code are refused; five wrong codes pause linking; /unlink splits the
family again; a program's deep link opens its card on each platform (Telegram /start p_ID,
VK's ref, MAX's bot_started payload), a forged one says it does not work."""
from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from bot.dialogs import texts
from tests.e2e.botproc import running_bot
from tests.e2e.fake_max import TOKEN as MAX_TOKEN
from tests.e2e.fake_max import FakeMax
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.e2e.fake_vk import FakeVk
from tests.e2e.test_vk_both_platforms import TelegramParent
from tests.e2e.test_vk_journey import VkParent, add_child, sign_up, vk_env

pytestmark = pytest.mark.e2e

TELEGRAM_USER, VK_USER, MAX_USER, MAX_GUESSER = 8001, 8002, 8005, 8006
TELEGRAM_VISITOR, VK_VISITOR, MAX_VISITOR = 8003, 8004, 8007
TITLE = "Робототехника на Arduino"
CHILD = "Иванова Мария"


class MaxParent:
    """The same parent moves in the MAX app, over the fake MAX Bot API."""

    def __init__(self, fake: FakeMax, user_id: int) -> None:
        self.fake = fake
        self.user_id = user_id

    async def says(self, text: str) -> str:
        return (await self.fake.reply_to(self.user_id, lambda: self.fake.user_says(self.user_id, text))).text

    async def presses(self, label: str) -> str:
        return (await self.fake.reply_to(self.user_id, lambda: self.fake.press(self.user_id, label))).text

    async def opens(self, payload: str | None = None, stamped: bool = True) -> str:
        return (await self.fake.reply_to(
            self.user_id, lambda: self.fake.start_bot(self.user_id, payload, stamped=stamped))).text


def code_in(text: str) -> str:
    found = re.search(r"Код для связывания: (\d{6})", text)
    assert found, text
    return found.group(1)


async def new_code(parent) -> str:
    await parent.says("/link")
    return code_in(await parent.presses(texts.BTN_LINK_NEW_CODE))


def not_the(code: str, n: int = 0) -> str:
    """A six-digit code that is not `code`."""
    return next(c for c in (f"{n:06d}", f"{n + 1:06d}") if c != code)


def expire_codes(database_path) -> None:
    """Ten minutes pass for the codes: their deadline moved back a day."""
    with sqlite3.connect(database_path) as conn:
        for parent_id, expires_at in conn.execute(
                "SELECT parent_id, expires_at FROM link_states WHERE expires_at IS NOT NULL").fetchall():
            conn.execute("UPDATE link_states SET expires_at = ? WHERE parent_id = ?",
                         ("2000-01-01" + expires_at[10:], parent_id))


async def test_one_family_in_telegram_vk_and_max_and_shared_programs_in_each(tmp_path):
    async with FakeTelegram() as tg, FakeVk() as vk, FakeMax() as mx:
        env = {**vk_env(vk), "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": tg.base_url,
               "MAX_BOT_TOKEN": MAX_TOKEN, "MAX_API_URL": mx.base_url}

        def ready() -> bool:
            return tg.seen("getUpdates") and vk.longpoll_requests > 0 and mx.poll_requests > 0

        async with running_bot(tmp_path, env, ready=ready, timeout=60) as bot:
            await asyncio.wait_for(_linking(bot, tg, vk, mx), timeout=120)
            await asyncio.wait_for(_sharing(bot, tg, vk, mx), timeout=60)
            assert await bot.stop() == 0, bot.output()[-2000:]
        assert "Traceback" not in bot.output()
        assert tg.unanswered_callbacks() == [] and mx.unanswered_callbacks() == []


async def _linking(bot, tg: FakeTelegram, vk: FakeVk, mx: FakeMax) -> None:
    on_telegram = TelegramParent(tg, TELEGRAM_USER)
    on_vk = VkParent(vk, VK_USER, callbacks=True)
    on_max = MaxParent(mx, MAX_USER)
    await sign_up(on_telegram, "/start")
    await add_child(on_telegram)
    await sign_up(on_vk, "Начать")
    assert "согласны на обработку" in await on_max.opens()
    assert texts.MENU in await on_max.presses(texts.BTN_AGREE)
    assert CHILD not in await on_vk.says("/children")

    # A wrong code, then an expired one: refused, nothing joined.
    code = await new_code(on_telegram)
    assert texts.LINK_REFUSED["wrong"] in await on_vk.says(f"/link {not_the(code)}")
    expire_codes(bot.database_path)
    assert texts.LINK_REFUSED["expired"] in await on_vk.says(f"/link {code}")
    assert CHILD not in await on_vk.says("/children")

    # VK joins Telegram's family; MAX joins with a code VK shows: one family in three messengers.
    assert "Аккаунты связаны" in await on_vk.says(f"/link {await new_code(on_telegram)}")
    assert CHILD in await on_vk.says("/children")
    assert "Аккаунты связаны" in await on_max.says(f"/link {await new_code(on_vk)}")
    assert CHILD in await on_max.says("/children")
    family = await on_max.says("/link")
    assert "Telegram" in family and "ВКонтакте" in family and "MAX — этот аккаунт" in family
    # Alerts go where the parent chose: MAX from now on.
    assert "Уведомления приходят в: MAX" in await on_max.presses(texts.BTN_ALERTS_HERE)

    # Five wrong codes from one account pause its linking; the right code then waits too.
    guesser = MaxParent(mx, MAX_GUESSER)
    await guesser.opens()
    await guesser.presses(texts.BTN_AGREE)
    code = await new_code(on_telegram)
    for n in range(4):
        assert "Осталось попыток" in await guesser.says(f"/link {not_the(code, 10 * n)}")
    assert "приостановлено до" in await guesser.says(f"/link {not_the(code, 50)}")
    assert "приостановлено до" in await guesser.says(f"/link {code}")
    assert CHILD not in await guesser.says("/children")

    # MAX unlinks: its list is empty, the family keeps the child, alerts go back to Telegram.
    assert "останутся у семьи в: Telegram, ВКонтакте" in await on_max.says("/unlink")
    assert "Аккаунт отвязан" in await on_max.presses(texts.BTN_UNLINK_YES)
    assert CHILD not in await on_max.says("/children")
    assert CHILD in await on_vk.says("/children")
    assert CHILD in await on_telegram.says("/children")
    with sqlite3.connect(bot.database_path) as conn:
        linked = conn.execute("SELECT platform FROM parents WHERE family_id IS NOT NULL").fetchall()
        alerts_to = conn.execute("SELECT alerts_to_id FROM parents WHERE alerts_to_id IS NOT NULL").fetchall()
    assert linked == [("vk",)] and alerts_to == []


async def _sharing(bot, tg: FakeTelegram, vk: FakeVk, mx: FakeMax) -> None:
    with sqlite3.connect(bot.database_path) as conn:
        (program_id,) = conn.execute("SELECT id FROM programs WHERE title = ?", (TITLE,)).fetchone()
    # Telegram: a newcomer opens the link (no consent asked), and gets the link to pass on.
    visitor = TelegramParent(tg, TELEGRAM_VISITOR)
    card = await visitor.says(f"/start p_{program_id}")
    assert TITLE in card and "согласны на обработку" not in card
    assert f"https://t.me/cert_test_bot?start=p_{program_id}" in await visitor.presses(texts.BTN_SHARE)
    assert texts.SHARE_LINK_BROKEN in await visitor.says("/start p_999999")
    # VK: the community's link with ref=p_ID brings the first message with that ref.
    message = await vk.reply_to(VK_VISITOR, lambda: vk.user_says(VK_VISITOR, "Начать", ref=f"p_{program_id}"))
    assert TITLE in message.text
    on_vk = VkParent(vk, VK_VISITOR, callbacks=True)
    assert f"https://vk.me/club{vk.group_id}?ref=p_{program_id}" in await on_vk.presses(texts.BTN_SHARE)
    # MAX: bot_started with the payload; twice without a timestamp, answered twice.
    on_max = MaxParent(mx, MAX_VISITOR)
    for _ in range(2):
        card = await on_max.opens(f"p_{program_id}", stamped=False)
        assert TITLE in card and "согласны на обработку" not in card
    assert f"https://max.ru/certificate_bot?start=p_{program_id}" in await on_max.presses(texts.BTN_SHARE)
    assert texts.SHARE_LINK_BROKEN in await on_max.opens("p_abc")
