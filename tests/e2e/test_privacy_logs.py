"""The real bot process at LOG_LEVEL=DEBUG, over the fake Telegram Bot API: a parent reads
the consent document, agrees, adds a child, enrolls, asks /mydata and /forget; the process
output holds none of the child's name, birth date or SNILS."""
from __future__ import annotations

import re

import pytest

from bot.dialogs import texts
from tests.e2e.botproc import running_bot
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram

pytestmark = pytest.mark.e2e

PARENT = 5101
CHILD = "Иванова Мария Петровна"
BIRTH = "05.03.2016"
SNILS = "112-233-445 95"
MUNICIPALITY = "г. Пятигорск"
PROGRAM = "Робототехника на Arduino"  # demo catalog: Пятигорск, 10–14 years, certificate-funded
SECRETS = (CHILD, "Иванова", "Мария", "Петровна", BIRTH, "2016-03-05", "2016, 3, 5",
           "11223344595", SNILS, "112-233-44595")


@pytest.fixture
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


async def test_bot_at_debug_logs_no_child_data(fake, tmp_path):
    env = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": fake.base_url, "LOG_LEVEL": "DEBUG",
           "PD_OPERATOR_NAME": "ГБУ «Модельный центр»", "PD_OPERATOR_ADDRESS": "г. Пятигорск, ул. Ленина, 1"}

    def polling() -> bool:
        return bool(fake.calls_to("setMyCommands")) and bool(fake.calls_to("getUpdates"))

    async with running_bot(tmp_path, env, ready=polling, timeout=60) as proc:
        assert "mydata" in {c["command"] for c in fake.commands}
        await fake.say(PARENT, "/start")
        await fake.click(PARENT, texts.BTN_READ_CONSENT)
        document = "\n".join(text for chat, text in fake.texts_sent if chat == PARENT)
        assert "ГБУ «Модельный центр»" in document and "Цели обработки" in document
        assert texts.MENU in (await fake.click(PARENT, texts.BTN_AGREE)).text

        await fake.say(PARENT, "/children")
        await fake.click(PARENT, texts.BTN_ADD_CHILD)
        await fake.say(PARENT, CHILD)
        await fake.say(PARENT, BIRTH)
        await fake.say(PARENT, "112-233-44595")
        await fake.click(PARENT, MUNICIPALITY)
        assert texts.CHILD_SAVED in (await fake.click(PARENT, texts.BTN_SAVE)).text

        results = await fake.say(PARENT, "/find робот")
        number = re.search(rf"^(\d+)\. {re.escape(PROGRAM)}$", results.text, re.M)
        assert number, results.text
        await fake.click(PARENT, number.group(1))
        await fake.click(PARENT, texts.BTN_ENROLL)
        await fake.click(PARENT, CHILD)
        assert "записана в программу" in (await fake.click(PARENT, texts.BTN_CONFIRM)).text

        for command in ("/children", "/balance", "/enrollments"):
            await fake.say(PARENT, command)
        since = len(fake.texts_sent)
        await fake.say(PARENT, "/mydata")
        mydata = "\n".join(text for chat, text in fake.texts_sent[since:] if chat == PARENT)
        assert CHILD in mydata and "***-***-445 95" in mydata
        plan = await fake.say(PARENT, "/forget")
        assert texts.FORGET_PLAN_CANCEL_TITLE in plan.text and PROGRAM in plan.text
        assert "удалены" in (await fake.click(PARENT, texts.BTN_FORGET_YES)).text

        code = await proc.stop()
        assert code == 0, proc.output()[-2000:]
        output = proc.output()

    # The level took effect, statements with their parameters included: the leak was possible.
    assert " DEBUG " in output and "INSERT INTO children" in output
    leaked = [secret for secret in SECRETS if secret in output]
    assert leaked == [], f"the bot's log holds personal data: {leaked}"
