"""The same update twice in long polling after a SIGKILL mid-batch: one reply, one effect.

The real bot process long-polls the fake Telegram. One parent's reply is stalled, so their
update stays in flight and Telegram is never told the batch is done (the getUpdates offset
waits for the oldest update in flight). Meanwhile another parent agrees to the consent
(an effect: a row in `consents`) and asks for /help; both are answered. The bot is killed
(SIGKILL) and started again: Telegram hands out the whole batch again. The second parent
gets nothing more and their consent is recorded once; the first parent, whose update was
committed but whose reply never went out, gets the screen once.
"""
from __future__ import annotations

import sqlite3

import pytest

from bot.dialogs import texts
from tests.e2e.botproc import running_bot
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram

pytestmark = pytest.mark.e2e

STALLED, PARENT = 6101, 6102
START_TIMEOUT = 60


@pytest.fixture
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


def count(db_path, sql: str, *args: object) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, args).fetchone()[0]


def bot_messages(fake: FakeTelegram, user: int) -> int:
    return len([m for m in fake.chat(user) if m.from_bot])


async def test_updates_handled_before_a_crash_are_not_handled_again(tmp_path, fake):
    env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": fake.base_url}
    async with running_bot(tmp_path, env, ready=lambda: fake.seen("setMyCommands"),
                           timeout=START_TIMEOUT) as proc:
        shown = await fake.say(PARENT, "/start", timeout=30)
        assert texts.CONSENT.splitlines()[0] in shown.text

        fake.stall(STALLED)
        fake.push_message(STALLED, "/start")          # committed, its reply hangs
        await fake.wait_for(lambda: fake.stalled_writes(STALLED) >= 1, timeout=30)
        shown = await fake.click(PARENT, texts.BTN_AGREE, timeout=30)   # the effect
        assert texts.MENU in shown.text
        await fake.say(PARENT, "/help", timeout=30)
        assert count(proc.database_path, "SELECT count(*) FROM consents") == 1
        # Both answers went out and were marked so (in a batch right after the sends).
        await fake.wait_for(lambda: count(proc.database_path, "SELECT count(*) FROM handled_updates "
                                          "WHERE user_id = ? AND replied", str(PARENT)) == 3, timeout=10)
        unconfirmed = [u["update_id"] for u in fake.updates]
        assert len(unconfirmed) >= 3                  # the batch is still Telegram's to hand out
        before = bot_messages(fake, PARENT)

        proc.kill()
        fake.unstall(STALLED)
        await proc.restart(ready=lambda: fake.seen("setMyCommands"), timeout=START_TIMEOUT)
        # The stalled parent's update was committed but never answered: its screen, once.
        await fake.wait_for(lambda: bot_messages(fake, STALLED) == 1, timeout=30)
        await fake.wait_for(lambda: not fake.updates or min(u["update_id"] for u in fake.updates)
                            > max(unconfirmed), timeout=30)
        assert texts.CONSENT.splitlines()[0] in [m for m in fake.chat(STALLED) if m.from_bot][0].text
        assert bot_messages(fake, PARENT) == before   # nothing said twice
        assert count(proc.database_path, "SELECT count(*) FROM consents") == 1   # nothing done twice
        assert fake.unanswered_callbacks() == []
