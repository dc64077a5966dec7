"""No child's name, birth date or SNILS in any log record, at any level: the journeys run
with every logger at DEBUG (SQLAlchemy printing each statement's parameters included)
and the captured log is searched for what the parent typed."""
from __future__ import annotations

import logging

import pytest

from bot import log_privacy
from tests.dialogs.kit import SNILS_1, DialogClient, add_nominal, add_program, make_dialogs

MUNI = "Город Тест"
NAME = "Иванова Мария Петровна"
LATIN_NAME = "Ivanova Anna Sergeevna"
SECRETS = (
    NAME, "Иванова", "Мария", "Петровна", LATIN_NAME, "Ivanova",
    "05.03.2016", "2016-03-05", "2016, 3, 5",                 # the birth date, as typed and as stored
    "11223344595", "112-233-445 95", "112-233-44595",         # the SNILS, three spellings
    "07.08.2015", "2015-08-07", "2015, 8, 7",
    "12345678964", "123-456-789 64", "123-456-78964",
)


@pytest.fixture
def debug_log(caplog):
    """Every logger at DEBUG, the bot's masking installed as at start; restored afterwards."""
    log_privacy.install()
    names = {*logging.root.manager.loggerDict, "sqlalchemy.engine", "sqlalchemy.pool", "aiosqlite", "asyncio"}
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        log_privacy.uninstall()


def leaked(caplog) -> list[str]:
    everything = caplog.text + "\n".join(record.getMessage() for record in caplog.records)
    return [secret for secret in SECRETS if secret in everything]


async def test_journeys_at_debug_log_no_child_name_birth_date_or_snils(db, clock, debug_log):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника")
    dialogs = make_dialogs(db, clock)
    client = DialogClient(dialogs)
    await client.start()
    await client.add_child(NAME, "05.03.2016", SNILS_1, MUNI)
    assert "Ребёнок добавлен" in client.text
    await client.add_child(LATIN_NAME, "07.08.2015", "123-456-78964", MUNI)
    assert "Ребёнок добавлен" in client.text
    # A typed SNILS that is refused, and a wrong date, are not logged either.
    await client.send("/children")
    await client.click("Добавить ребёнка")
    await client.send(NAME)
    await client.send("2016-03-05")
    await client.send("05.03.2016")
    await client.send("112-233-44595")
    await client.send("/cancel")
    await client.press(f"enr:start:{program_id}")
    await client.click("Мария")
    await client.click("Подтвердить")
    assert "записана в программу" in client.text
    for command in ("/children", "/balance", "/enrollments", "/mydata"):
        await client.send(command)
    assert "Иванова Мария Петровна" in "\n".join(s.text for s in client.reply.screens)   # /mydata shows it
    await client.send("/forget")
    await client.click("Да, удалить мои данные")
    assert "удалены" in client.text

    # The statements and their parameters were logged: the leak was possible, and masked.
    statements = [r.getMessage() for r in debug_log.records if r.name.startswith("sqlalchemy.engine")]
    assert any("INSERT INTO children" in message for message in statements)
    assert any(log_privacy.MASK in message for message in statements)
    assert leaked(debug_log) == []


def test_the_filter_masks_message_arguments_and_tracebacks(debug_log):
    log = logging.getLogger("bot.test")
    log.debug("child %s born %s snils %s", NAME, "05.03.2016", "112-233-445 95")
    log.info("row %r", {"snils": "11223344595", "birth": "2016-03-05", "name": LATIN_NAME})
    try:
        raise ValueError(f"duplicate key (snils)=(112-233-44595) for {NAME}")
    except ValueError:
        log.exception("insert failed")
    log.warning("typed %s", ["Иванова", "мария", "\\u0418\\u0432\\u0430\\u043d\\u043e\\u0432\\u0430"])
    assert leaked(debug_log) == [] and "\\u0418" not in debug_log.text and "мария" not in debug_log.text
    assert "insert failed" in debug_log.text and "ValueError" in debug_log.text   # still useful
    assert "child *** *** *** born *** snils ***" in debug_log.text and "typed ['***', '***', '***']" in debug_log.text


def test_log_level_setting_accepts_level_names_and_refuses_others():
    from pydantic import ValidationError

    from bot.config import Settings

    assert Settings(_env_file=None, log_level="debug").log_level == "DEBUG"
    assert Settings(_env_file=None).log_level == "INFO"
    with pytest.raises(ValidationError):
        Settings(_env_file=None, log_level="chatty")
