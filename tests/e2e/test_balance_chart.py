"""/balance's picture of the year through the real bot process: the chart's PNG is drawn,
sent as a photo (Telegram sendPhoto; VK upload server → saveMessagesPhoto → messages.send
with the attachment), followed by the same numbers in words, which match the ledger; a
second /balance with the ledger unchanged draws nothing new."""
from __future__ import annotations

import re
import sqlite3

import pytest

from bot.dialogs import format as fmt
from bot.dialogs import texts
from tests.e2e.botproc import running_bot
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.e2e.fake_vk import FakeVk
from tests.e2e.test_telegram_journey import BIRTH, CHILD, MUNICIPALITY, PROGRAM, SNILS, START_TIMEOUT, agree
from tests.e2e.test_vk_journey import VkParent, add_child, enroll, sign_up, vk_env

pytestmark = pytest.mark.e2e

PARENT = 6001
PNG = b"\x89PNG\r\n\x1a\n"


def ledger_totals(db_path) -> tuple[int, int, int]:
    """(reserved still, settled, available) of the one certificate's current year, from the ledger."""
    with sqlite3.connect(db_path) as conn:
        sums = dict(conn.execute("SELECT kind, sum(amount) FROM ledger_entries "
                                 "WHERE year = (SELECT max(year) FROM ledger_entries WHERE kind = 'credit') "
                                 "GROUP BY kind").fetchall())
    reserve, settle, refund = sums.get("reserve", 0), sums.get("settle", 0), sums.get("refund", 0)
    available = sums.get("credit", 0) - reserve + refund - sums.get("expire", 0)
    return reserve - settle - refund, settle, available


def charts_on_disk(workdir) -> dict[str, int]:
    folder = workdir / "charts"
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.png")} if folder.exists() else {}


def assert_words_match_the_ledger(words: str, db_path) -> None:
    reserved, settled, available = ledger_totals(db_path)
    assert reserved > 0
    total = texts.CHART_WORDS_TOTAL.split(";")[0].format(settled=fmt.money(settled), reserved=fmt.money(reserved),
                                                         copay=texts.copay_part(0, "rub"))
    assert total in words, words   # this journey leaves no co-payment: «без доплаты»
    assert f"свободно {fmt.money(available)}" in words, words


async def test_telegram_balance_sends_the_chart_as_a_photo_then_its_numbers(tmp_path):
    fake = FakeTelegram()
    await fake.start()
    env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": fake.base_url}
    try:
        async with running_bot(tmp_path, env, timeout=START_TIMEOUT,
                               ready=lambda: fake.seen("setMyCommands") and fake.seen("getUpdates")) as proc:
            db = proc.database_path
            await agree(fake, PARENT)
            await fake.say(PARENT, "/children")
            await fake.click(PARENT, texts.BTN_ADD_CHILD)
            for answer in (CHILD, BIRTH, SNILS):
                await fake.say(PARENT, answer)
            await fake.click(PARENT, MUNICIPALITY)
            await fake.click(PARENT, texts.BTN_SAVE)
            results = await fake.say(PARENT, "/find робот")
            number = re.search(rf"^(\d+)\. {re.escape(PROGRAM)}$", results.text, re.M).group(1)
            await fake.click(PARENT, number)
            await fake.click(PARENT, texts.BTN_ENROLL)
            await fake.click(PARENT, CHILD)
            await fake.click(PARENT, texts.BTN_CONFIRM)
            assert charts_on_disk(tmp_path) == {}

            balance = await fake.say(PARENT, "/balance")
            assert "Доступно:" in balance.text          # the balance text comes last, with its buttons
            assert len(fake.photos) == 1
            chat, picture, caption = fake.photos[0]
            assert chat == PARENT and picture.startswith(PNG) and len(picture) > 10_000
            assert "Мария" in caption and "по месяцам" in caption
            shown = fake.chat(PARENT)
            photo_at = next(i for i, m in enumerate(shown) if m.photo is not None)
            words = shown[photo_at + 1].text
            assert shown[photo_at + 1].photo is None and shown[-1].text == balance.text
            assert_words_match_the_ledger(words, db)
            drawn = charts_on_disk(tmp_path)
            assert len(drawn) == 1 and "-rub-" in next(iter(drawn))
            assert (tmp_path / "charts" / next(iter(drawn))).read_bytes() == picture

            # The ledger did not change: the same file is sent, nothing is drawn anew.
            await fake.say(PARENT, "/balance")
            assert len(fake.photos) == 2 and fake.photos[1][1] == picture
            assert charts_on_disk(tmp_path) == drawn

            # From a button (the plan's «К балансу»): the photo comes as a new message, the press is answered.
            await fake.click(PARENT, "План на год")
            before = len(fake.chat(PARENT))
            again = await fake.click(PARENT, texts.BTN_TO_BALANCE)
            assert len(fake.photos) == 3 and "Доступно:" in again.text
            assert len(fake.chat(PARENT)) == before + 3       # photo, words, balance: all new
            assert fake.unanswered_callbacks() == []
            assert not [c for c in fake.calls if c.status != 200 and c.method in ("sendPhoto", "sendMessage")]
            assert await proc.stop() == 0, proc.output()[-2000:]
    finally:
        await fake.close()


@pytest.mark.parametrize("callbacks", [True, False], ids=["inline", "text-buttons"])
async def test_vk_balance_uploads_the_chart_and_sends_it_as_an_attachment(tmp_path, callbacks):
    async with FakeVk() as fake:
        async with running_bot(tmp_path, vk_env(fake), timeout=START_TIMEOUT,
                               ready=lambda: bool(fake.calls_of("groups.getLongPollServer"))) as proc:
            parent = VkParent(fake, 7001, callbacks=callbacks)
            await sign_up(parent)
            await add_child(parent)
            await enroll(parent)
            assert "Доступно:" in await parent.says("/balance")
            with_photo = [m for m in fake.chat(7001) if m.attachments]
            assert len(with_photo) == 1 and "по месяцам" in with_photo[0].text
            attachment = with_photo[0].attachments[0]
            peer, picture = fake.photos[attachment]
            assert peer == 7001 and picture.startswith(PNG)
            assert [c.method for c in fake.calls if c.method.startswith("photos.")] == [
                "photos.getMessagesUploadServer", "photos.saveMessagesPhoto"]
            chat = fake.chat(7001)
            words = chat[chat.index(with_photo[0]) + 1].text
            assert_words_match_the_ledger(words, proc.database_path)
            drawn = charts_on_disk(tmp_path)
            assert len(drawn) == 1

            await parent.says("/balance")
            assert len([m for m in fake.chat(7001) if m.attachments]) == 2
            assert charts_on_disk(tmp_path) == drawn      # nothing drawn anew
            assert await proc.stop() == 0, proc.output()[-2000:]
