"""Telegram and VK served by one `python -m bot run` process, side by side, and stopped together."""
from __future__ import annotations

import pytest

from bot.dialogs import texts
from tests.e2e.botproc import running_bot
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.e2e.fake_vk import GROUP_ID, TOKEN, FakeVk

pytestmark = pytest.mark.e2e

USER = 7001  # the same number on both platforms: two different parents


async def test_one_process_serves_both_platforms_and_stops_cleanly_on_sigterm(tmp_path):
    async with FakeTelegram() as tg, FakeVk() as vk:
        env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": tg.base_url,
               "VK_GROUP_TOKEN": TOKEN, "VK_GROUP_ID": str(GROUP_ID), "VK_API_URL": vk.api_url}

        def ready() -> bool:
            return tg.seen("getUpdates") and vk.longpoll_requests > 0

        async with running_bot(tmp_path, env, ready=ready, timeout=60) as proc:
            shown = await tg.say(USER, "Начать")
            assert texts.CONSENT.splitlines()[0] in shown.text
            assert texts.MENU in (await tg.click(USER, texts.BTN_AGREE)).text

            answer = await vk.reply_to(USER, lambda: vk.user_says(USER, "Начать"))
            # The VK parent is someone else: asked for consent, not shown the Telegram parent's menu.
            assert texts.CONSENT.splitlines()[0] in answer.text

            assert await proc.stop() == 0, proc.output()[-2000:]
        assert tg.unanswered_callbacks() == []
        assert "Traceback" not in proc.output()
