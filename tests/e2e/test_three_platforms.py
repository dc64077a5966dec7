"""Telegram, VK and MAX served by one `python -m bot run` process side by side, stopped together."""
from __future__ import annotations

import pytest

from bot.dialogs import texts
from tests.e2e.botproc import running_bot
from tests.e2e.fake_max import TOKEN as MAX_TOKEN
from tests.e2e.fake_max import FakeMax
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.e2e.fake_vk import GROUP_ID, TOKEN, FakeVk

pytestmark = pytest.mark.e2e

USER = 7001  # the same number on every platform: three different parents


async def test_one_process_serves_telegram_vk_and_max_and_stops_cleanly_on_sigterm(tmp_path):
    async with FakeTelegram() as tg, FakeVk() as vk, FakeMax() as mx:
        env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": tg.base_url,
               "VK_GROUP_TOKEN": TOKEN, "VK_GROUP_ID": str(GROUP_ID), "VK_API_URL": vk.api_url,
               "MAX_BOT_TOKEN": MAX_TOKEN, "MAX_API_URL": mx.base_url}

        def ready() -> bool:
            return tg.seen("getUpdates") and vk.longpoll_requests > 0 and mx.poll_requests > 0

        async with running_bot(tmp_path, env, ready=ready, timeout=60) as proc:
            assert "serving: telegram, vk, max" in proc.output()
            assert texts.CONSENT.splitlines()[0] in (await tg.say(USER, "Начать")).text
            assert texts.MENU in (await tg.click(USER, texts.BTN_AGREE)).text

            # The MAX parent is someone else: asked for consent, not shown the Telegram parent's menu.
            greeting = await mx.reply_to(USER, lambda: mx.start_bot(USER))
            assert texts.CONSENT.splitlines()[0] in greeting.text
            assert texts.MENU in (await mx.reply_to(USER, lambda: mx.press(USER, texts.BTN_AGREE))).text

            answer = await vk.reply_to(USER, lambda: vk.user_says(USER, "Начать"))
            assert texts.CONSENT.splitlines()[0] in answer.text

            assert await proc.stop() == 0, proc.output()[-2000:]
        assert tg.unanswered_callbacks() == [] and mx.unanswered_callbacks() == []
        assert "Traceback" not in proc.output()
