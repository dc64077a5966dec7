"""The VK adapter (bot/handlers/vk.py) in this process against the fake VK server.

The dialogs here are a small stand-in, so these tests pin the adapter's own
duties — long poll, keyboards and paging, edits, event answers, random_id
dedupe, error 6 and 901, long-poll failures — whatever the real dialogs say.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.delivery import Blocked, RetryLater
from bot.dialogs.screen import Button, Input, Reply, Screen
from bot.handlers import vk
from bot.runtime import AppContext
from core.models import Parent
from tests.e2e.fake_vk import GROUP_ID, TOKEN, FakeVk

pytestmark = pytest.mark.e2e

MENU = Screen("Главное меню", ((Button("Каталог", "many"), Button("Уведомление", "toast")),
                               (Button("Длинный текст", "long"),)))


class StandInDialogs:
    """Answers by the input alone; records what the adapter handed over."""

    def __init__(self) -> None:
        self.inputs: list[tuple[str, str, Input]] = []     # event ids left out (see `events`)
        self.events: list[str] = []                        # the event id of each input
        self.answered: list[tuple[str, str, str]] = []     # replied(): the answer went out
        self.image: str | None = None   # the picture a "chart" press shows
        self.on_screen: dict[str, Reply] = {}   # the last reply per parent: their stored state

    async def replied(self, platform: str, user_id: str, event_id: str) -> None:
        self.answered.append((platform, user_id, event_id))

    async def current(self, platform: str, user_id: str) -> Reply | None:
        """The screen the parent is on, as the real dialogs rebuild it from the stored state."""
        return self.on_screen.get(user_id)

    async def handle(self, platform: str, user_id: str, inp: Input) -> Reply:
        self.inputs.append((platform, user_id, replace(inp, event_id="")))
        self.events.append(inp.event_id)
        reply = await self._answer(inp)
        self.on_screen[user_id] = reply
        return reply

    async def _answer(self, inp: Input) -> Reply:
        if inp.kind == "command" and inp.command == "start":
            return Reply([MENU])
        if inp.kind == "button" and inp.action == "many":
            rows = tuple((Button(f"Кружок номер {n}", f"card:{n}"),) for n in range(1, 31))
            return Reply([Screen("Тридцать кружков", rows)])
        if inp.kind == "button" and inp.action == "toast":
            return Reply([Screen("Сделано", ((Button("Меню", "menu"),),))], notice="Готово")
        if inp.kind == "button" and inp.action == "long":
            return Reply([Screen("А" * 5000 + "\n" + "Б" * 5000, ((Button("Меню", "menu"),),))])
        if inp.kind == "button" and inp.action.startswith("card:"):
            return Reply([Screen(f"Карточка {inp.action[5:]}", ((Button("Меню", "menu"),),)),
                          Screen("Подсказка без кнопок")])
        if inp.kind == "button" and inp.action == "menu":
            return Reply([MENU])
        if inp.kind == "button" and inp.action == "chart":
            return Reply([Screen("📊 График", image=self.image), Screen("Цифры словами"), MENU], notice="Вот")
        return Reply([Screen(f"Вы написали: {inp.text}")])


@contextlib.asynccontextmanager
async def running_adapter(db, clock, monkeypatch):
    monkeypatch.setattr(vk, "LONGPOLL_WAIT", 1)
    async with FakeVk() as fake:
        settings = Settings(vk_group_token=TOKEN, vk_group_id=str(GROUP_ID), vk_api_url=fake.api_url,
                            database_url=db.url)
        dialogs = StandInDialogs()
        ctx = AppContext(settings=settings, db=db, clock=clock, dialogs=dialogs)
        stop = asyncio.Event()
        task = asyncio.create_task(vk.serve(ctx, stop))
        try:
            await fake.wait_for(lambda: fake.longpoll_requests > 0, what="the first long poll")
            yield fake, dialogs, ctx
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=20)


async def test_callback_client_gets_inline_keyboard_and_presses_edit_in_place(db, clock, monkeypatch):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        menu = await fake.reply_to(5, lambda: fake.user_says(5, "Начать", callbacks=True))
        assert menu.text == "Главное меню" and menu.inline
        assert [b.kind for b in menu.buttons] == ["callback"] * 3
        assert dialogs.inputs[0] == ("vk", "5", Input(kind="command", command="start"))

        done = await fake.reply_to(5, lambda: fake.press(5, "Уведомление"))
        assert done is menu and done.text == "Сделано" and done.edits == 1
        assert len(fake.chat(5)) == 1
        assert fake.snackbars[-1]["data"] == {"type": "show_snackbar", "text": "Готово"}
        assert dialogs.inputs[-1][2] == Input.press("toast")
        # Each input carries its event's id (the message's, the press's), marked answered
        # once the answer went out: a copy VK delivers again is handled once.
        assert dialogs.events[0].startswith("m") and dialogs.events[-1].startswith("e")
        assert dialogs.answered == [("vk", "5", event) for event in dialogs.events]


async def test_text_only_client_presses_by_payload_or_by_label(db, clock, monkeypatch):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        menu = await fake.reply_to(6, lambda: fake.user_says(6, "начать", callbacks=False))
        assert menu.text == "Главное меню" and not menu.inline
        assert [b.kind for b in fake.buttons(6)] == ["text"] * 3

        await fake.reply_to(6, lambda: fake.press(6, "Уведомление"))  # the label with its payload
        assert dialogs.inputs[-1][2] == Input.press("toast")
        await fake.reply_to(6, lambda: fake.user_says(6, "Меню", callbacks=False))  # typed, no payload
        assert dialogs.inputs[-1][2] == Input.press("menu")
        await fake.reply_to(6, lambda: fake.user_says(6, "/find робот", callbacks=False))
        assert dialogs.inputs[-1][2] == Input(kind="command", command="find", text="робот")
        last = await fake.reply_to(6, lambda: fake.user_says(6, "просто слова", callbacks=False))
        assert last.text == "Вы написали: просто слова"


@pytest.mark.parametrize("callbacks", [True, False], ids=["inline", "text"])
async def test_thirty_choices_are_paged_within_vk_limits_and_none_is_lost(db, clock, monkeypatch, callbacks):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        await fake.reply_to(8, lambda: fake.user_says(8, "Начать", callbacks=callbacks))
        await fake.reply_to(8, lambda: fake.press(8, "Каталог"))
        seen: list[str] = []
        for _ in range(10):
            shown = fake.buttons(8)
            assert len(shown) <= (10 if callbacks else 40)
            seen += [b.label for b in shown if b.label.startswith("Кружок")]
            if not any(b.label == "Ещё ▶" for b in shown):
                break
            await fake.reply_to(8, lambda: fake.press(8, "Ещё ▶"))
        assert seen == [f"Кружок номер {n}" for n in range(1, 31)]
        pages_sent = fake.calls_of("messages.send")
        assert all(len(json.loads(c.params.get("keyboard", '{"buttons":[]}'))["buttons"]) <= (6 if callbacks else 10)
                   for c in pages_sent)
        await fake.reply_to(8, lambda: fake.press(8, "Кружок номер 29"))
        assert dialogs.inputs[-1][2] == Input.press("card:29")
        assert fake.texts(8)[-2:] == ["Карточка 29", "Подсказка без кнопок"] or fake.last(8).text == "Подсказка без кнопок"


@pytest.mark.parametrize("callbacks", [True, False], ids=["inline", "text"])
async def test_a_page_of_a_screen_this_process_did_not_show_is_rebuilt_from_the_parents_state(
        db, clock, monkeypatch, callbacks):
    """Several processes behind a balancer (or a restart): «Ещё ▶» reaches a process that never
    showed the screen; the next page comes all the same, and a page of a screen the parent has
    since left brings the screen they are on."""
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        adapter = vk._adapter_for(ctx)
        await fake.reply_to(8, lambda: fake.user_says(8, "Начать", callbacks=callbacks))
        await fake.reply_to(8, lambda: fake.press(8, "Каталог"))
        adapter.screens.clear()                      # this process never saw it
        await fake.reply_to(8, lambda: fake.press(8, "Ещё ▶"))
        shown = [b.label for b in fake.buttons(8)]
        assert "Кружок номер 1" not in shown and any(label.startswith("Кружок номер") for label in shown)
        assert "◀ Назад" in shown
        dialogs.on_screen["8"] = Reply([MENU])       # meanwhile the parent went back to the menu
        adapter.screens.clear()
        await fake.reply_to(8, lambda: fake.press(8, "Ещё ▶"))
        assert "Главное меню" in fake.texts(8)[-1]
        assert {b.label for b in fake.buttons(8)} >= {"Каталог", "Уведомление"}


async def test_long_text_is_split_with_the_keyboard_on_the_last_part(db, clock, monkeypatch):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        await fake.reply_to(9, lambda: fake.user_says(9, "Начать", callbacks=True))
        await fake.reply_to(9, lambda: fake.press(9, "Длинный текст"))
        parts = fake.chat(9)[1:]
        # Cut at the line end where one is within reach, else at the limit.
        assert [len(p.text) for p in parts] == [4096, 904, 4096, 904]
        assert "".join(p.text for p in parts) == "А" * 5000 + "Б" * 5000
        assert [p.inline for p in parts] == [False, False, False, True]


async def test_too_many_requests_is_waited_out_and_the_message_arrives_once(db, clock, monkeypatch):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        fake.fail_api("messages.send", 6)
        menu = await fake.reply_to(10, lambda: fake.user_says(10, "Начать"))
        assert menu.text == "Главное меню"
        assert fake.texts(10) == ["Главное меню"]
        sends = fake.calls_of("messages.send")
        assert len(sends) == 2 and sends[0].params["random_id"] == sends[1].params["random_id"]
        assert sends[1].at - sends[0].at >= 0.9  # error 6 was waited out, not hammered


async def test_a_repeated_random_id_is_shown_once(db, clock, monkeypatch):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        client = vk._adapter_for(ctx).client
        first = await client.call("messages.send", peer_id=11, message="раз", random_id=4242)
        again = await client.call("messages.send", peer_id=11, message="раз", random_id=4242)
        assert first == again and fake.texts(11) == ["раз"]


async def test_user_who_forbade_messages_is_marked_unreachable_and_not_written_to(db, clock, monkeypatch):
    async with db.write() as session:
        session.add(Parent(platform="vk", external_id="12"))
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        fake.block(12)
        fake.user_says(12, "Начать")
        adapter = vk._adapter_for(ctx)
        await fake.wait_for(lambda: "12" in adapter.blocked, what="the 901 to be recorded")
        async with db.read() as session:
            parent = (await session.execute(select(Parent).where(Parent.external_id == "12"))).scalar_one()
        assert parent.unreachable_at is not None
        sends = len(fake.calls_of("messages.send"))
        with pytest.raises(Blocked):
            await ctx.senders["vk"].send("12", MENU)
        assert len(fake.calls_of("messages.send")) == sends
        assert fake.texts(12) == []


@pytest.mark.parametrize("code", [1, 2, 3])
async def test_long_poll_failures_are_recovered(db, clock, monkeypatch, code):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        servers_before = len(fake.calls_of("groups.getLongPollServer"))
        fake.fail_longpoll(code)
        await fake.wait_for(lambda: not fake.longpoll_failures, what="the failure to be served")
        # failed=2/3: the bot fetches a new server and key; events sent before that are
        # lost on real VK too, so the parent writes once the bot is listening again.
        expected_servers = servers_before + (0 if code == 1 else 1)
        await fake.wait_for(lambda: len(fake.calls_of("groups.getLongPollServer")) >= expected_servers,
                            what="a new long-poll server to be fetched")
        menu = await fake.reply_to(13, lambda: fake.user_says(13, "Начать"))
        assert menu.text == "Главное меню" and fake.texts(13) == ["Главное меню"]
        assert len(fake.calls_of("groups.getLongPollServer")) == expected_servers


async def test_forged_payloads_are_ignored_and_the_press_answered(db, clock, monkeypatch):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        await fake.reply_to(14, lambda: fake.user_says(14, "Начать"))
        count = len(dialogs.inputs)
        fake.press_payload(14, {"a": 12345}, cmid=1)
        fake.press_payload(14, {"a": "x" * 200}, cmid=1)
        fake.press_payload(14, {"a": "vkpage:3:deadbeef00"}, cmid=1)  # a page of a screen never shown
        await fake.wait_for(lambda: len(fake.snackbars) == 3, what="three event answers")
        # Nothing reaches the dialogs; the page of an unknown screen at most shows the
        # parent's own screen again.
        assert len(dialogs.inputs) == count and set(fake.texts(14)) == {"Главное меню"}


async def test_stop_returns_promptly(db, clock, monkeypatch):
    monkeypatch.setattr(vk, "LONGPOLL_WAIT", 1)
    async with FakeVk() as fake:
        settings = Settings(vk_group_token=TOKEN, vk_group_id=str(GROUP_ID), vk_api_url=fake.api_url)
        ctx = AppContext(settings=settings, db=db, clock=clock, dialogs=StandInDialogs())
        stop = asyncio.Event()
        task = asyncio.create_task(vk.serve(ctx, stop))
        await fake.wait_for(lambda: fake.longpoll_requests > 0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        assert loop.time() - started < 5


async def test_one_parents_messages_are_handled_in_the_order_sent(db, clock, monkeypatch):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        for n in range(6):
            fake.user_says(15, f"слово {n}")
        await fake.wait_for(lambda: len(fake.chat(15)) == 6, what="six answers")
        assert [inp.text for _, user, inp in dialogs.inputs if user == "15"] == [f"слово {n}" for n in range(6)]
        assert fake.texts(15) == [f"Вы написали: слово {n}" for n in range(6)]
        adapter = vk._adapter_for(ctx)
        await fake.wait_for(lambda: not adapter._locks, what="the per-parent lock to be forgotten")


async def test_sender_delivers_an_alert_once_even_when_retried(db, clock, monkeypatch):
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        sender = ctx.senders["vk"]
        assert sender is not None and sender.platform == "vk"
        alert = Screen("Новые кружки", ((Button("Открыть", "card:1"), Button("Отписаться", "unsub:1")),))
        fake.fail_api("messages.send", 9)
        with pytest.raises(RetryLater):   # the alert worker paces the platform, then retries
            await sender.send("16", alert)
        await sender.send("16", alert)
        await sender.send("16", alert)  # retried again after an answer that got lost
        assert fake.texts(16) == ["Новые кружки"]
        assert [b.label for b in fake.buttons(16)] == ["Открыть", "Отписаться"]
        assert [b.action for b in fake.buttons(16)] == ["card:1", "unsub:1"]


PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


async def test_an_image_screen_is_uploaded_and_sent_as_a_new_message_with_the_photo(db, clock, monkeypatch,
                                                                                   tmp_path):
    picture = tmp_path / "chart.png"
    picture.write_bytes(PNG_BYTES)
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        dialogs.image = str(picture)
        await fake.reply_to(9, lambda: fake.user_says(9, "Начать", callbacks=True))
        menu_message = fake.last(9)
        await fake.reply_to(9, lambda: fake.press_payload(9, {"a": "chart"}, menu_message.cmid))
        chat = fake.chat(9)
        assert [m.text for m in chat] == ["Главное меню", "📊 График", "Цифры словами", "Главное меню"]
        assert menu_message.edits == 0                      # a photo never replaces the pressed message
        assert len(chat[1].attachments) == 1 and fake.photos[chat[1].attachments[0]] == (9, PNG_BYTES)
        assert fake.snackbars[-1]["data"] == {"type": "show_snackbar", "text": "Вот"}
        server = fake.calls_of("photos.getMessagesUploadServer")[0]
        assert server.params["peer_id"] == "9" and server.params["access_token"] == TOKEN


async def test_a_failed_upload_still_sends_the_caption(db, clock, monkeypatch, tmp_path):
    picture = tmp_path / "chart.png"
    picture.write_bytes(PNG_BYTES)
    async with running_adapter(db, clock, monkeypatch) as (fake, dialogs, ctx):
        dialogs.image = str(picture)
        await fake.reply_to(9, lambda: fake.user_says(9, "Начать", callbacks=True))
        fake.fail_api("photos.getMessagesUploadServer", 15)
        await fake.reply_to(9, lambda: fake.press_payload(9, {"a": "chart"}, fake.last(9).cmid))
        texts = [m.text for m in fake.chat(9)]
        assert texts == ["Главное меню", "📊 График", "Цифры словами", "Главное меню"]
        assert not any(m.attachments for m in fake.chat(9))
