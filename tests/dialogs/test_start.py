"""/start, consent, menu, /help, /cancel, /forget, and the engine's guarantees."""
from __future__ import annotations

from sqlalchemy import select

from bot.dialogs.engine import command_menu
from bot.dialogs.screen import COMMANDS, MAX_ACTION_BYTES
from bot.dialogs.state import STEPS
from core.children import open_draft
from core.models import Child, Parent
from tests.dialogs.kit import (
    SNILS_1,
    DialogClient,
    add_nominal,
    add_program,
    children_of,
    count,
    dialog_state,
    make_dialogs,
    snapshot,
)


async def test_nothing_but_dialog_state_is_stored_before_consent(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.send("/start")
    assert "согласны на обработку персональных данных" in client.last.text
    assert client.has_button("Даю согласие") and client.has_button("Не даю согласия")
    assert await count(db, Parent) == 0
    assert (await dialog_state(db))["step"] == "consent"

    await client.click("Не даю согласия")
    assert "ничего не сохранил" in client.last.text
    assert await count(db, Parent) == 0


async def test_consent_creates_the_parent_and_opens_the_menu(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    assert "Главное меню" in client.last.text
    for label in ("Найти кружок", "Мои дети", "Баланс", "Мои записи", "Подписки", "Помощь"):
        assert client.has_button(label)
    async with db.read() as session:
        parent = (await session.execute(select(Parent))).scalar_one()
    assert parent.consent_at is not None and parent.external_id == "1"


async def test_every_personal_command_asks_for_consent_first(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    for command in ("/children", "/balance", "/enrollments", "/subscribe", "/mydata"):
        await client.send(command)
        assert "Сначала нужно ваше согласие" in client.last.text, command
        assert client.has_button("Даю согласие")
    await client.send("/forget")
    assert "ничего о вас не храню" in client.last.text
    await client.send("/help")
    assert "до 18" in client.last.text and "31 декабря" in client.last.text
    await client.send("/cancel")
    assert client.has_button("Даю согласие")
    await client.press("cmd:children")
    assert "Сначала нужно ваше согласие" in client.last.text
    assert await count(db, Parent) == 0


async def test_vk_start_word_opens_the_conversation(db, clock):
    client = DialogClient(make_dialogs(db, clock), platform="vk")
    await client.send("Начать")
    assert client.has_button("Даю согласие")


async def test_unknown_command_long_text_and_markup_get_an_explanation(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    before = await snapshot(db)
    await client.send("/frobnicate")
    assert "Такой команды нет" in client.last.text and client.has_button("Мои дети")
    await client.send("я" * 5000)
    assert "слишком длинное" in client.last.text and "Главное меню" in client.last.text
    await client.send("<b>привет</b> 🙂")
    assert "выберите вариант кнопкой" in client.last.text and client.has_button("Найти кружок")
    assert await snapshot(db) == before


async def test_stale_and_malformed_buttons_are_refused_without_writes(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    state = await dialog_state(db)
    before = await snapshot(db)
    for action in ("nope:1", "ch:muni:abc", "enr:ok:1", "cancel:yes:x", "find:p:-1", "", "ch:save", "забор"):
        await client.press(action)
        assert "Эта кнопка устарела" in client.last.text, action
        assert client.has_button("Мои дети"), action
    assert await snapshot(db) == before
    assert await dialog_state(db) == state


async def test_cancel_abandons_the_question(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.send("/children")
    await client.click("Добавить ребёнка")
    await client.send("Иванова Мария Петровна")
    await client.send("/cancel")
    assert "прервали" in client.last.text and client.has_button("Мои дети")
    assert (await dialog_state(db))["step"] == "menu"


async def test_state_survives_a_restart_mid_question(db, clock):
    await add_nominal(db, "Город Тест", 2026, 1_200_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.send("/children")
    await client.click("Добавить ребёнка")
    await client.send("Иванова Мария Петровна")
    assert "Дата рождения" in client.last.text

    restarted = DialogClient(make_dialogs(db, clock))   # a new process on the same database
    await restarted.send("05.03.2016")
    assert "СНИЛС" in restarted.last.text
    await restarted.send(SNILS_1)
    await restarted.click("Город Тест")
    assert "Иванова Мария Петровна" in restarted.last.text
    await restarted.click("Сохранить")
    assert [c.full_name for c in await children_of(db)] == ["Иванова Мария Петровна"]


async def test_forget_deletes_personal_data_after_confirmation(db, clock):
    await add_nominal(db, "Город Тест", 2026, 1_200_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, "Город Тест")
    await client.send("/forget")
    assert "Удаление ваших персональных данных" in client.last.text
    await client.click("Нет")
    assert (await children_of(db))[0].snils == "11223344595"

    await client.send("/forget")
    await client.click("Да, удалить")
    assert "удалены" in client.last.text and "обезличенном" in client.last.text
    async with db.read() as session:
        child = (await session.execute(select(Child))).scalar_one()
    assert child.full_name is None and child.snils is None and child.birth_date is None
    assert await dialog_state(db) is None
    # A later /start begins afresh, asking for consent again.
    await client.send("/children")
    assert "Сначала нужно ваше согласие" in client.last.text


async def test_unexpected_failure_gives_an_apology_and_the_menu(db, clock, monkeypatch, caplog):
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    secret = "11223344595 Иванова"

    async def boom(ctx):
        raise RuntimeError(secret)

    monkeypatch.setitem(STEPS, "balance", boom)
    await client.send("/balance")
    assert "что-то пошло не так" in client.last.text and client.has_button("Мои дети")
    assert "Traceback" not in client.last.text
    assert "RuntimeError" in caplog.text
    # Only the exception type and code locations are logged, never its message.
    assert "11223344595" not in caplog.text and "Иванова" not in caplog.text


def test_command_menu_lists_every_command_with_a_russian_description():
    menu = command_menu()
    assert [name for name, _ in menu] == list(COMMANDS)
    assert all(description and len(description) <= 256 for _, description in menu)


async def test_every_action_fits_telegram_callback_data(db, clock):
    await add_program(db, clock)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    for command in ("/find", "/children", "/balance", "/enrollments", "/subscribe", "/help"):
        await client.send(command)
        assert all(len(b.action.encode()) <= MAX_ACTION_BYTES and b.action.isascii()
                   for b in client.buttons()), command
        assert client.has_button("В меню") or client.has_button("Назад"), command


async def test_a_restart_keeps_the_question_on_every_backend(any_db, clock):
    client = DialogClient(make_dialogs(any_db, clock))
    await client.start()
    await client.send("/children")
    await client.click("Добавить ребёнка")
    await client.send("Иванова Мария Петровна")
    await any_db.dispose()                        # the old process is gone
    restarted = DialogClient(make_dialogs(any_db, clock))
    await restarted.send("31.02.2015")
    assert "Такой даты не существует" in restarted.text
    await restarted.send("05.03.2016")
    assert "СНИЛС" in restarted.text
    kept = (await dialog_state(any_db))["data"]["name"]
    assert "Иванова" not in kept and open_draft(kept) == "Иванова Мария Петровна"   # sealed
