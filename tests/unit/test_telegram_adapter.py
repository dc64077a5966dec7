"""The Telegram adapter against the fake Bot API, in-process, with a scripted stand-in for the dialogs."""
from __future__ import annotations

import asyncio
import sys
import types

import pytest
from aiogram.types import Update

from bot.config import Settings
from bot.delivery import Blocked, RetryLater, TransientError
from bot.dialogs.screen import Button, Input, Reply, Screen
from bot.handlers import telegram as tg
from bot.handlers import telegram_polling as polling
from bot.handlers import telegram_render as rendering
from bot.handlers import telegram_send as sending
from bot.runtime import AppContext
from tests.e2e.fake_telegram import DEFAULT_TOKEN, FakeTelegram

USER = 1001


class ScriptedDialogs:
    """Answers every input with the next scripted reply and records what it was asked."""

    def __init__(self, *replies: Reply | Exception) -> None:
        self.replies = list(replies)
        self.inputs: list[tuple[str, str, Input]] = []
        self.replied_to: list[tuple[str, str, str]] = []

    async def handle(self, platform: str, user_id: str, inp: Input) -> Reply:
        self.inputs.append((platform, user_id, inp))
        reply = self.replies.pop(0) if self.replies else Reply(screens=[Screen("ок")])
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def replied(self, platform: str, user_id: str, event_id: str) -> None:
        self.replied_to.append((platform, user_id, event_id))


def menu(text: str = "Главное меню") -> Screen:
    return Screen(text, ((Button("Найти кружок", "find"), Button("Мои дети", "children")),
                         (Button("Баланс", "balance"),)))


@pytest.fixture
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def settings(fake, tmp_path) -> Settings:
    return Settings(_env_file=None, telegram_bot_token=DEFAULT_TOKEN, telegram_api_url=fake.base_url,
                    database_url=f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3")


@pytest.fixture
async def bot(settings):
    ctx = AppContext(settings=settings, db=None, clock=None, dialogs=None)
    instance = sending.make_bot(ctx)
    yield instance
    await instance.session.close()


async def feed(fake: FakeTelegram, bot, dialogs: ScriptedDialogs) -> None:
    """Hand every pending fake update to the adapter, as one polling batch."""
    raw = await bot.get_updates(offset=None, timeout=0)
    await polling.handle_batch(tg.make_dispatcher(dialogs), bot, list(raw))
    if raw:
        await bot.get_updates(offset=raw[-1].update_id + 1, timeout=0)


def test_keyboard_keeps_rows_and_uses_the_action_as_callback_data():
    markup = rendering.keyboard(menu())
    assert [[b.text for b in row] for row in markup.inline_keyboard] == [["Найти кружок", "Мои дети"], ["Баланс"]]
    assert [[b.callback_data for b in row] for row in markup.inline_keyboard] == [["find", "children"], ["balance"]]
    assert rendering.keyboard(Screen("без кнопок")) is None


def test_long_text_is_split_on_line_ends_with_the_keyboard_on_the_last_part():
    lines = [f"Строка номер {i}: " + "х" * 50 for i in range(300)]
    parts = rendering.render(Screen("\n".join(lines), menu().rows))
    assert len(parts) > 1
    assert all(len(text) <= rendering.MAX_TEXT for text, _ in parts)
    assert all(markup is None for _, markup in parts[:-1]) and parts[-1][1] is not None
    assert "\n".join(text for text, _ in parts).splitlines() == lines  # no line cut, none lost


def test_a_single_line_longer_than_a_message_is_cut_hard():
    parts = rendering.split_text("я" * 9000)
    assert [len(p) for p in parts] == [4096, 4096, 808]


def test_empty_text_still_makes_a_sendable_message():
    assert rendering.split_text("  \n") == ["…"]


async def test_text_message_goes_to_the_dialogs_and_every_screen_is_a_new_message(fake, bot):
    dialogs = ScriptedDialogs(Reply(screens=[Screen("Здравствуйте!"), menu()]))
    fake.push_message(USER, "/find робот")
    await feed(fake, bot, dialogs)
    platform, user_id, inp = dialogs.inputs[0]
    assert (platform, user_id, inp.kind, inp.command, inp.text) == ("telegram", str(USER), "command", "find", "робот")
    # Once both screens went out, the update is marked answered (a copy then gets nothing).
    assert dialogs.replied_to == [("telegram", str(USER), inp.event_id)]
    assert [m.text for m in fake.chat(USER)] == ["Здравствуйте!", "Главное меню"]
    assert fake.view(USER).buttons == [[("Найти кружок", "find"), ("Мои дети", "children")], [("Баланс", "balance")]]


async def test_button_press_replaces_the_message_it_was_on_and_answers_with_the_notice(fake, bot):
    dialogs = ScriptedDialogs(Reply(screens=[menu()]),
                              Reply(screens=[Screen("Поиск", ((Button("Назад", "menu"),),)), Screen("Подсказка")],
                                    notice="Ищем…"))
    fake.push_message(USER, "/start")
    await feed(fake, bot, dialogs)
    menu_id = fake.view(USER).message_id
    query = fake.push_callback(USER, menu_id, "find")
    update_id = str(fake.updates[-1]["update_id"])
    await feed(fake, bot, dialogs)
    # The press carries its update id, so a re-delivered press is recognised, and the dialogs
    # hear that its reply went out.
    assert dialogs.inputs[-1][2] == Input.press("find").with_event(update_id)
    assert dialogs.replied_to[-1] == ("telegram", str(USER), update_id)
    chat = fake.chat(USER)
    assert [(m.message_id, m.text) for m in chat] == [(menu_id, "Поиск"), (chat[1].message_id, "Подсказка")]
    assert chat[0].buttons == [[("Назад", "menu")]]
    assert len(fake.calls_to("editMessageText", USER)) == 1
    assert fake.callbacks[query]["answered"] == {"text": "Ищем…", "show_alert": False}


async def test_unchanged_screen_is_not_resent(fake, bot):
    dialogs = ScriptedDialogs(Reply(screens=[menu()]), Reply(screens=[menu()]))
    fake.push_message(USER, "/start")
    await feed(fake, bot, dialogs)
    query = fake.push_callback(USER, fake.view(USER).message_id, "menu")
    await feed(fake, bot, dialogs)
    assert len(fake.chat(USER)) == 1
    assert fake.calls_to("editMessageText", USER)[0].status == 400  # "message is not modified", ignored
    assert fake.callbacks[query]["answered"] is not None


async def test_when_the_message_cannot_be_edited_the_screen_comes_as_a_new_message(fake, bot):
    dialogs = ScriptedDialogs(Reply(screens=[menu()]), Reply(screens=[Screen("Баланс: 0 ₽")]))
    fake.push_message(USER, "/start")
    await feed(fake, bot, dialogs)
    old = fake.view(USER)
    query = fake.push_callback(USER, old.message_id, "balance")
    old.deleted = True  # the parent deleted it meanwhile
    await feed(fake, bot, dialogs)
    assert fake.view(USER).text == "Баланс: 0 ₽"
    assert fake.view(USER).message_id != old.message_id
    assert fake.callbacks[query]["answered"] is not None


async def test_a_long_screen_on_a_press_edits_the_first_part_and_sends_the_rest(fake, bot):
    long_text = "\n".join(f"Программа {i}: " + "о" * 60 for i in range(200))
    dialogs = ScriptedDialogs(Reply(screens=[menu()]), Reply(screens=[Screen(long_text, menu().rows)]))
    fake.push_message(USER, "/start")
    await feed(fake, bot, dialogs)
    first_id = fake.view(USER).message_id
    fake.push_callback(USER, first_id, "find")
    await feed(fake, bot, dialogs)
    chat = fake.chat(USER)
    assert chat[0].message_id == first_id and chat[0].buttons == []
    assert chat[-1].labels == ["Найти кружок", "Мои дети", "Баланс"]
    assert all(len(m.text) <= 4096 for m in chat)
    assert "\n".join(m.text for m in chat) == long_text


async def test_a_failing_dialog_shows_a_plain_apology_and_still_answers_the_button(fake, bot):
    dialogs = ScriptedDialogs(Reply(screens=[menu()]), RuntimeError("boom at line 42"))
    fake.push_message(USER, "/start")
    await feed(fake, bot, dialogs)
    query = fake.push_callback(USER, fake.view(USER).message_id, "find")
    await feed(fake, bot, dialogs)
    shown = fake.view(USER).text
    assert "Traceback" not in shown and "boom" not in shown and "RuntimeError" not in shown
    assert shown
    assert fake.callbacks[query]["answered"] is not None


async def test_a_reply_waits_out_a_short_flood_limit(fake, bot):
    dialogs = ScriptedDialogs(Reply(screens=[menu()]))
    fake.push_message(USER, "/start")
    fake.throttle(USER, retry_after=1, times=1)
    await feed(fake, bot, dialogs)
    sends = fake.calls_to("sendMessage", USER)
    assert [c.status for c in sends] == [429, 200]
    assert sends[1].at - sends[0].at >= 0.9
    assert fake.view(USER).text == "Главное меню"


async def test_messages_in_group_chats_are_ignored(fake, bot):
    import datetime as dt

    from aiogram.types import Chat, Message, User

    dialogs = ScriptedDialogs()
    update = Update(update_id=1, message=Message(
        message_id=1, date=dt.datetime.now(dt.timezone.utc), chat=Chat(id=-100123, type="group"),
        from_user=User(id=USER, is_bot=False, first_name="P"), text="112-233-445 95"))
    await polling.handle_batch(tg.make_dispatcher(dialogs), bot, [update])
    assert dialogs.inputs == []
    assert fake.calls_to("sendMessage") == []


async def test_updates_of_one_parent_are_handled_in_order(fake, bot):
    seen: list[str] = []

    class Slow(ScriptedDialogs):
        async def handle(self, platform, user_id, inp):
            await asyncio.sleep(0.05 if inp.text == "первое" else 0)
            seen.append(inp.text)
            return Reply(screens=[Screen(inp.text)])

    fake.push_message(USER, "первое")
    fake.push_message(USER, "второе")
    await feed(fake, bot, Slow())
    assert seen == ["первое", "второе"]
    assert [m.text for m in fake.chat(USER)] == ["первое", "второе"]


async def test_a_slow_update_holds_up_no_other_parent_and_is_confirmed_only_once_done(fake, bot):
    release = asyncio.Event()

    class OneSlowParent(ScriptedDialogs):
        async def handle(self, platform, user_id, inp):
            if user_id == str(USER):
                await release.wait()  # e.g. waiting out a flood limit
            return Reply(screens=[Screen(f"ответ на «{inp.text}»")])

    stop = asyncio.Event()
    task = asyncio.create_task(polling.poll(tg.make_dispatcher(OneSlowParent()), bot, stop))
    try:
        fake.push_message(USER, "медленно")
        await fake.wait_for(lambda: fake.seen("getUpdates"), timeout=5)
        other = await fake.say(USER + 1, "быстро")  # answered while the first is still in flight
        assert other.text == "ответ на «быстро»"
        assert fake.chat(USER) == []
        assert [u["message"]["text"] for u in fake.updates][:1] == ["медленно"]  # not confirmed yet
        release.set()
        await fake.wait_for(lambda: [m.text for m in fake.chat(USER)] == ["ответ на «медленно»"],
                            timeout=5)
        await fake.wait_for(lambda: fake.updates == [], timeout=5)  # confirmed once handled
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


async def test_sender_maps_telegram_refusals_to_delivery_errors(fake, bot):
    sender = sending.TelegramSender(bot)
    fake.push_message(USER, "/start")  # the chat exists once the parent wrote
    await sender.send(str(USER), menu("Новые кружки"))
    assert fake.view(USER).text == "Новые кружки"
    fake.throttle(USER, retry_after=7)
    with pytest.raises(RetryLater) as later:
        await sender.send(str(USER), menu())
    assert later.value.seconds == 7
    fake.fail(USER, 502, "Bad Gateway")
    with pytest.raises(TransientError):
        await sender.send(str(USER), menu())
    fake.block(USER)
    with pytest.raises(Blocked):
        await sender.send(str(USER), menu())
    with pytest.raises(Blocked):  # a chat that never existed
        await sender.send("999", menu())


async def test_sender_network_error_is_transient(settings, tmp_path):
    dead = settings.model_copy(update={"telegram_api_url": "http://127.0.0.1:9"})
    sender = tg.make_sender(AppContext(settings=dead, db=None, clock=None, dialogs=None))
    try:
        with pytest.raises(TransientError):
            await sender.send(str(USER), menu())
    finally:
        await sender.bot.session.close()


async def test_serve_publishes_the_command_menu_polls_and_stops_when_asked(fake, settings, monkeypatch):
    engine = types.ModuleType("bot.dialogs.engine")
    engine.command_menu = lambda: [("start", "Начало"), ("find", "Найти кружок")]
    monkeypatch.setitem(sys.modules, "bot.dialogs.engine", engine)
    dialogs = ScriptedDialogs(Reply(screens=[menu()]))
    ctx = AppContext(settings=settings, db=None, clock=None, dialogs=dialogs)
    stop = asyncio.Event()
    task = asyncio.create_task(tg.serve(ctx, stop))
    await fake.wait_for(lambda: fake.seen("getUpdates"), timeout=5)
    assert fake.commands == [{"command": "start", "description": "Начало"},
                             {"command": "find", "description": "Найти кружок"}]
    assert "telegram" in ctx.senders
    reply = await fake.say(USER, "/start")
    assert reply.text == "Главное меню"
    stop.set()
    await asyncio.wait_for(task, timeout=5)  # a pending long poll does not hold it up
    assert fake.updates == []  # the handled update was confirmed


async def test_run_with_a_refused_token_exits_non_zero_with_a_clear_message(fake, tmp_path, capsys):
    from bot import app

    settings = Settings(_env_file=None, telegram_bot_token="1:refused", telegram_api_url=fake.base_url,
                        database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3")
    code = await asyncio.wait_for(asyncio.to_thread(app.run, settings), timeout=60)
    assert code == 1
    assert "TELEGRAM_BOT_TOKEN" in capsys.readouterr().err


PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


async def test_an_image_screen_on_a_press_comes_as_a_new_photo_and_the_press_is_answered(fake, bot, tmp_path):
    picture = tmp_path / "chart.png"
    picture.write_bytes(PNG_BYTES)
    dialogs = ScriptedDialogs(Reply(screens=[menu()]),
                              Reply(screens=[Screen("📊 График", image=str(picture)), Screen("Цифры"), menu("Баланс")],
                                    notice="Готово"))
    fake.push_message(USER, "/start")
    await feed(fake, bot, dialogs)
    menu_id = fake.view(USER).message_id
    query = fake.push_callback(USER, menu_id, "balance")
    await feed(fake, bot, dialogs)
    chat = fake.chat(USER)
    assert [m.text for m in chat] == ["Главное меню", "📊 График", "Цифры", "Баланс"]   # nothing edited
    assert chat[1].photo == PNG_BYTES and fake.photos == [(USER, PNG_BYTES, "📊 График")]
    assert fake.calls_to("editMessageText", USER) == []
    assert fake.callbacks[query]["answered"] == {"text": "Готово", "show_alert": False}


async def test_an_image_whose_file_is_missing_sends_its_caption_as_text(fake, bot, tmp_path):
    dialogs = ScriptedDialogs(Reply(screens=[Screen("📊 График", image=str(tmp_path / "gone.png")), menu()]))
    fake.push_message(USER, "/balance")
    await feed(fake, bot, dialogs)
    assert [m.text for m in fake.chat(USER)] == ["📊 График", "Главное меню"]
    assert fake.photos == [] and fake.calls_to("sendPhoto") == []
