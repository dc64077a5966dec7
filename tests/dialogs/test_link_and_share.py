"""/link and /unlink as a parent sees them, and «Поделиться» with the deep links that open a
program's card on each platform (before consent too)."""
from __future__ import annotations

import re

from bot.config import Settings
from bot.dialogs import texts
from bot.dialogs.engine import Dialogs
from core.models import Parent
from tests.dialogs.kit import SNILS_1, DialogClient, add_program, children_of, make_dialogs, snapshot

MUNI = "Город Тест"


def code_in(text: str) -> str:
    found = re.search(r"Код для связывания: (\d{6})", text)
    assert found, text
    return found.group(1)


async def two_accounts(db, clock):
    dialogs = make_dialogs(db, clock)
    tg = DialogClient(dialogs, platform="telegram", user_id="10")
    vk = DialogClient(dialogs, platform="vk", user_id="20")
    await add_program(db, clock, municipality=MUNI)
    await tg.start()
    await vk.start()
    return tg, vk


async def test_a_child_added_in_telegram_is_seen_in_vk_after_linking(db, clock):
    tg, vk = await two_accounts(db, clock)
    await tg.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await tg.send("/link")
    assert "пока ни с чем не связан" in tg.text
    await tg.click(texts.BTN_LINK_NEW_CODE)
    code = code_in(tg.text)
    assert "действует 10 минут" in tg.text
    await vk.send(f"/link {code}")
    assert "Аккаунты связаны" in vk.text and "Telegram" in vk.text
    assert "Telegram\n• ВКонтакте — этот аккаунт" in vk.text
    await vk.send("/children")
    assert "Мария" in vk.text
    # Alerts: Telegram's until VK asks for them.
    await vk.send("/link")
    assert "Уведомления приходят в: Telegram" in vk.text
    await vk.click(texts.BTN_ALERTS_HERE)
    assert texts.LINK_ALERTS_MOVED in vk.text and "Уведомления приходят в: ВКонтакте" in vk.text
    assert not vk.has_button(texts.BTN_ALERTS_HERE)


async def test_a_code_can_be_typed_on_the_link_screen_and_wrong_ones_count(db, clock):
    tg, vk = await two_accounts(db, clock)
    await tg.send("/link")
    await tg.click(texts.BTN_LINK_NEW_CODE)
    code = code_in(tg.text)
    before = await snapshot(db)
    await vk.send("/link")
    wrong = "000000" if code != "000000" else "111111"
    await vk.send(wrong)
    assert texts.LINK_REFUSED["wrong"] in vk.text and "Осталось попыток: 4." in vk.text
    await vk.send("12 34")
    assert texts.LINK_REFUSED["format"] in vk.text
    await tg.send(f"/link {code}")
    assert texts.LINK_REFUSED["own"] in tg.text
    clock.advance(minutes=11)
    await vk.send(code)
    assert texts.LINK_REFUSED["expired"] in vk.text and "Осталось попыток: 3." in vk.text
    assert await snapshot(db) == before
    for _ in range(3):
        await vk.send(wrong)
    assert "приостановлено до" in vk.text


async def test_unlink_says_what_each_side_keeps_then_leaves_with_nothing(db, clock):
    tg, vk = await two_accounts(db, clock)
    await tg.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await vk.send("/unlink")
    assert texts.UNLINK_NOT_LINKED in vk.text
    await tg.send("/link")
    await tg.click(texts.BTN_LINK_NEW_CODE)
    await vk.send(f"/link {code_in(tg.text)}")
    await tg.send("/link")
    await tg.click(texts.BTN_LINK_NEW_CODE)
    await vk.send(f"/link {code_in(tg.text)}")
    assert texts.LINK_REFUSED["same_family"] in vk.text
    await tg.send("/unlink")
    assert "останутся у семьи в: ВКонтакте" in tg.text and "список детей станет пустым" in tg.text
    await tg.click(texts.BTN_UNLINK_YES)
    assert "Аккаунт отвязан" in tg.text
    await tg.send("/children")
    assert "Мария" not in tg.text
    await vk.send("/children")
    assert "Мария" in vk.text
    assert [c.full_name for c in await children_of(db, "vk", "20")] == ["Иванова Мария Петровна"]


async def test_forget_in_a_linked_account_explains_the_family_keeps_the_children(db, clock):
    tg, vk = await two_accounts(db, clock)
    await tg.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    await tg.send("/link")
    await tg.click(texts.BTN_LINK_NEW_CODE)
    await vk.send(f"/link {code_in(tg.text)}")
    await vk.send("/forget")
    assert "Удалятся только данные этого аккаунта" in vk.text and "Telegram" in vk.text
    await vk.click(texts.BTN_FORGET_YES)
    await tg.send("/children")
    assert "Мария" in tg.text


async def test_link_needs_consent_in_each_account(db, clock):
    dialogs = make_dialogs(db, clock)
    newcomer = DialogClient(dialogs, platform="vk", user_id="30")
    await newcomer.send("/link 123456")
    assert texts.CONSENT.splitlines()[0] in newcomer.text


def settings(**kw) -> Settings:
    return Settings(_env_file=None, **kw)


async def test_share_gives_each_platforms_deep_link(db, clock):
    program_id = await add_program(db, clock, municipality=MUNI)
    dialogs = Dialogs(db, clock, settings(telegram_bot_username="cert_bot", vk_group_id="777",
                                          max_bot_username="cert_max_bot"))
    expected = {"telegram": f"https://t.me/cert_bot?start=p_{program_id}",
                "vk": f"https://vk.me/club777?ref=p_{program_id}",
                "max": f"https://max.ru/cert_max_bot?start=p_{program_id}",
                "console": f"https://t.me/cert_bot?start=p_{program_id}"}
    for platform, link in expected.items():
        client = DialogClient(dialogs, platform=platform, user_id="5")
        await client.press(f"card:{program_id}")     # browsing needs no consent
        await client.click(texts.BTN_SHARE)
        assert link in client.text, platform
        await client.click(texts.BTN_TO_CARD)
        assert client.has_button(texts.BTN_SHARE)


async def test_the_terminal_chat_without_a_bot_name_says_sharing_works_in_messengers(db, clock):
    program_id = await add_program(db, clock, municipality=MUNI)
    client = DialogClient(Dialogs(db, clock, settings()), platform="console")
    await client.press(f"share:{program_id}")
    assert "можно в мессенджере" in client.text


async def test_a_deep_link_opens_the_card_before_consent_on_max(db, clock):
    program_id = await add_program(db, clock, municipality=MUNI, title="Шахматы")
    client = DialogClient(make_dialogs(db, clock), platform="max", user_id="77")
    await client.send(f"/start p_{program_id}")
    assert "Шахматы" in client.text and client.has_button(texts.BTN_SHARE)
    async with db.read() as session:   # nothing personal stored: no parent row
        from sqlalchemy import select
        assert (await session.execute(select(Parent))).first() is None


async def test_a_forged_program_link_says_it_does_not_work_and_changes_nothing(db, clock):
    await add_program(db, clock, municipality=MUNI)
    dialogs = make_dialogs(db, clock)
    client = DialogClient(dialogs, platform="telegram", user_id="78")
    before = await snapshot(db)
    for payload in ("p_999999", "p_abc", "p_", "p_1; DROP TABLE"):
        await client.send(f"/start {payload}")
        assert client.text.startswith(texts.SHARE_LINK_BROKEN), payload
        assert texts.CONSENT.splitlines()[0] in client.text
    await client.send(f"/start {'x' * 80}")   # not a program's link: an ordinary start
    assert texts.SHARE_LINK_BROKEN not in client.text and texts.CONSENT.splitlines()[0] in client.text
    assert await snapshot(db) == before
    # A parent who agreed gets the same words above the menu.
    parent = DialogClient(dialogs, platform="max", user_id="79")
    await parent.start()
    await parent.send("/start p_999999")
    assert texts.SHARE_LINK_BROKEN in parent.text and texts.MENU in parent.text


async def test_codes_of_letters_or_another_length_are_refused_and_change_nothing(db, clock):
    tg, vk = await two_accounts(db, clock)
    await tg.send("/link")
    await tg.click(texts.BTN_LINK_NEW_CODE)
    before = await snapshot(db)
    for typed in ("abcdef", "12345", "1234567", "12з456", "/link", "👍"):
        await vk.send(f"/link {typed}")
        assert texts.LINK_REFUSED["format"] in vk.text, typed
        assert "Осталось попыток" not in vk.text     # not counted as a wrong code
    assert await snapshot(db) == before


def all_text(client: DialogClient) -> str:
    return "\n".join(screen.text for screen in client.reply.screens)


async def test_mydata_names_the_messengers_the_account_is_linked_with(db, clock):
    tg, vk = await two_accounts(db, clock)
    await vk.send("/mydata")
    assert texts.MYDATA_NOT_LINKED in all_text(vk)
    await tg.send("/link")
    await tg.click(texts.BTN_LINK_NEW_CODE)
    await vk.send(f"/link {code_in(tg.text)}")
    await vk.send("/mydata")
    assert "Связан (/link) с аккаунтами семьи в: Telegram" in all_text(vk)
    assert "уведомления приходят в: Telegram" in all_text(vk)
    await tg.send("/mydata")
    assert "Связан (/link) с аккаунтами семьи в: ВКонтакте" in all_text(tg)
