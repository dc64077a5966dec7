"""The terminal chat: numbered buttons, typed text, clean end of input."""
from __future__ import annotations

import asyncio
import io

from bot.config import Settings
from bot.dialogs.screen import Button, Input, Reply, Screen
from bot.handlers import console


class ScriptedDialogs:
    def __init__(self, reply_for=None) -> None:
        self.inputs: list[tuple[str, str, Input]] = []
        self.reply_for = reply_for

    async def handle(self, platform: str, user_id: str, inp: Input) -> Reply:
        self.inputs.append((platform, user_id, inp))
        if self.reply_for is not None:
            return self.reply_for(inp)
        return Reply(screens=[
            Screen("Главное меню", ((Button("Найти кружок", "find"), Button("Мои дети", "children")),)),
            Screen("Ещё", ((Button("Баланс", "balance"),),)),
        ], notice="готово" if inp.kind == "button" else None)


async def talk(dialogs, lines: str) -> str:
    out = io.StringIO()
    await asyncio.wait_for(console.chat(dialogs, stdin=io.StringIO(lines), stdout=out), timeout=10)
    return out.getvalue()


def test_buttons_are_numbered_across_the_whole_reply():
    text, buttons = console.render(Reply(screens=[
        Screen("Первый", ((Button("А", "a"), Button("Б", "b")),)), Screen("Второй", ((Button("В", "c"),),))]))
    assert "[1] А   [2] Б" in text and "[3] В" in text
    assert [b.action for b in buttons] == ["a", "b", "c"]


def test_a_number_of_a_shown_button_presses_it_anything_else_is_text():
    buttons = [Button("А", "a"), Button("Б", "b")]
    assert console.to_input("2\n", buttons) == Input.press("b")
    assert console.to_input("3", buttons) == Input(kind="text", text="3")            # no such button
    assert console.to_input("112-233-445 95", buttons).text == "112-233-445 95"
    assert console.to_input("/find робот", buttons) == Input(kind="command", command="find", text="робот")


async def test_chat_opens_with_start_then_follows_numbers_and_text_until_end_of_input():
    dialogs = ScriptedDialogs()
    out = await talk(dialogs, "3\n\n/balance\nИванов Иван\n")
    kinds = [(inp.kind, inp.command or inp.action or inp.text) for _, _, inp in dialogs.inputs]
    assert kinds == [("command", "start"), ("button", "balance"), ("command", "balance"), ("text", "Иванов Иван")]
    assert all(p == "console" and u == "local" for p, u, _ in dialogs.inputs)
    assert "[1] Найти кружок   [2] Мои дети" in out and "[3] Баланс" in out
    assert "» готово" in out


async def test_chat_ends_when_asked_to_stop_even_while_waiting_for_input():
    class NeverEnding(io.StringIO):
        def readline(self, *args):  # a terminal nobody types into
            import time
            time.sleep(0.05)
            return "\n"

    stop = asyncio.Event()
    out = io.StringIO()
    task = asyncio.create_task(console.chat(ScriptedDialogs(), stop, NeverEnding(), out))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert "Главное меню" in out.getvalue()


async def test_a_failing_dialog_prints_an_apology_not_a_traceback():
    def boom(inp: Input) -> Reply:
        raise RuntimeError("secret 112-233-445 95")

    out = await talk(ScriptedDialogs(boom), "привет\n")
    assert "Traceback" not in out and "secret" not in out
    assert "что-то пошло не так" in out


async def test_the_real_dialogs_work_in_the_terminal(db, clock):
    from bot.dialogs.engine import Dialogs

    dialogs = Dialogs(db, clock, Settings(_env_file=None))
    out = await talk(dialogs, "1\n/children\n")  # [1] is consent on the first screen
    assert "[1] Согласен(на)" in out
    assert "Главное меню" in out
    assert "Добавить ребёнка" in out
    assert "Traceback" not in out


def test_run_without_a_messenger_says_how_to_connect_and_opens_the_terminal_chat(tmp_path, monkeypatch, capsys):
    from bot import app

    monkeypatch.setattr("sys.stdin", io.StringIO("1\n"))
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3")
    assert app.run(settings) == 0
    out = capsys.readouterr().out
    hint = [line for line in out.splitlines() if "TELEGRAM_BOT_TOKEN" in line]
    assert len(hint) == 1 and "VK_GROUP_TOKEN" in hint[0] and "VK_GROUP_ID" in hint[0]
    assert "[1] Согласен(на)" in out and "Главное меню" in out  # the chat ran, "1" pressed consent
    import sqlite3

    with sqlite3.connect(tmp_path / "bot.sqlite3") as conn:  # the demo catalog went into the empty database
        assert conn.execute("SELECT count(*) FROM programs").fetchone()[0] > 0


def test_a_picture_is_shown_as_the_path_of_its_png(tmp_path):
    picture = tmp_path / "chart.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    text, _ = console.render(Reply(screens=[Screen("📊 График", image=str(picture)),
                                            Screen("Нет файла", image=str(tmp_path / "gone.png"))]))
    assert text.splitlines() == ["📊 График", f"🖼 {picture}", "", "Нет файла"]
