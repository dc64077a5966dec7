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

    async def current(self, platform: str, user_id: str) -> Reply | None:
        return None  # no conversation to pick up: the chat opens with /start

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
    assert "[1] Даю согласие" in out
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
    assert "[1] Даю согласие" in out and "Главное меню" in out  # the chat ran, "1" pressed consent
    import sqlite3

    with sqlite3.connect(tmp_path / "bot.sqlite3") as conn:  # the demo catalog went into the empty database
        assert conn.execute("SELECT count(*) FROM programs").fetchone()[0] > 0


# --- like the messengers: the log elsewhere, alerts at the prompt, picked up after a restart ---

class Typing(io.TextIOBase):
    """A terminal the test types into line by line; readline blocks until a line comes."""

    def __init__(self) -> None:
        import queue

        self.lines: "queue.Queue[str]" = queue.Queue()

    def type(self, line: str) -> None:
        self.lines.put(line + "\n")

    def close_input(self) -> None:
        self.lines.put("")

    def readline(self, *args) -> str:
        return self.lines.get(timeout=20)


async def wait_for_text(out: io.StringIO, text: str, times: int = 1) -> None:
    for _ in range(1200):   # 30 s: a loaded machine
        if out.getvalue().count(text) >= times:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{text!r} not printed {times} time(s):\n{out.getvalue()[-2000:]}")


def button_number(out: str, label: str) -> str:
    import re

    found = re.findall(r"\[(\d+)\] " + re.escape(label), out)
    assert found, f"no button {label!r} in:\n{out[-1500:]}"
    return found[-1]


async def test_the_terminal_chat_restarted_mid_dialog_asks_the_same_question_and_goes_on(db, clock):
    from bot.dialogs import texts
    from bot.dialogs.engine import Dialogs

    dialogs = Dialogs(db, clock, Settings(_env_file=None))
    first = await talk(dialogs, "1\n/children\n")             # [1] consents
    add = button_number(first, texts.BTN_ADD_CHILD)
    second = await talk(dialogs, f"{add}\nИванова Мария Петровна\n")
    assert texts.CHILD_ASK_NAME in second and second.rstrip().endswith(">")
    assert texts.CHILD_ASK_BIRTH in second

    third = await talk(Dialogs(db, clock, Settings(_env_file=None)), "")   # a restart, nothing typed
    assert texts.CHILD_ASK_BIRTH in third
    assert "Главное меню" not in third and texts.CHILD_ASK_NAME not in third

    fourth = await talk(Dialogs(db, clock, Settings(_env_file=None)), "15.03.2015\n")
    assert texts.CHILD_ASK_BIRTH in fourth and texts.CHILD_ASK_SNILS in fourth   # the date was taken
    fifth = await talk(dialogs, "")
    assert texts.CHILD_ASK_SNILS in fifth and texts.CHILD_ASK_BIRTH not in fifth


async def test_picking_the_conversation_up_does_not_change_the_stored_state(db, clock):
    from bot.dialogs.engine import Dialogs, load_state

    dialogs = Dialogs(db, clock, Settings(_env_file=None))
    assert await dialogs.current("console", "local") is None      # the first run: /start
    await talk(dialogs, "1\n/children\n")
    async with db.read() as session:
        before = await load_state(session, "console", "local")
    for _ in range(2):
        reply = await dialogs.current("console", "local")
        assert reply is not None and "Добавить ребёнка" in console.render(reply)[0]
    async with db.read() as session:
        assert await load_state(session, "console", "local") == before


async def _console_parent_with_a_new_program_alert(db, clock):
    from core import outbox
    from core.parents import ensure_parent, give_consent
    from tests.unit.test_outbox import publish, subscribe

    async with db.write() as session:
        parent = await ensure_parent(session, "console", "local")
        await give_consent(session, parent, clock)
    await subscribe(db, clock, parent)
    clock.advance(minutes=1)
    program = await publish(db, clock, title="Юные астрономы")
    async with db.write() as session:
        assert (await outbox.fan_out(session, clock)).queued == 1
    return program


async def _outbox_statuses(db) -> list[str]:
    from sqlalchemy import select

    from core import outbox

    async with db.read() as session:
        return list((await session.execute(select(outbox.Outbox.status))).scalars())


async def test_an_alert_for_the_terminal_parent_prints_at_the_next_prompt_exactly_once(db, clock):
    from bot.dialogs.engine import Dialogs
    from bot.jobs.delivery import Deliverer
    from core import outbox

    program = await _console_parent_with_a_new_program_alert(db, clock)
    dialogs = Dialogs(db, clock, Settings(_env_file=None))
    sender = console.ConsoleSender()
    typing, out = Typing(), io.StringIO()
    task = asyncio.create_task(console.chat(dialogs, stdin=typing, stdout=out, sender=sender))
    try:
        await wait_for_text(out, console.PROMPT)
        opened = out.getvalue()
        _, shown = console.render(await dialogs.current("console", "local"))
        report = await Deliverer(db, clock, {"console": sender}).run()
        assert report.sent == 1
        assert await _outbox_statuses(db) == [outbox.SENT]
        assert program.title in out.getvalue()
        after = out.getvalue()[len(opened):]
        assert after.startswith("\n") and after.endswith(console.PROMPT)   # its own lines, then the prompt
        assert (await Deliverer(db, clock, {"console": sender}).run()).sent == 0
        # Its buttons are numbered after the ones shown: pressing its first opens the program's card.
        assert f"[{len(shown) + 1}] 1" in after
        typing.type(str(len(shown) + 1))
        await wait_for_text(out, program.title, times=2)
        typing.close_input()
        await asyncio.wait_for(task, timeout=10)
    finally:
        typing.close_input()
        task.cancel()
    assert out.getvalue().count(program.title) == 2   # once in the alert, once on the card


async def test_an_alert_queued_while_no_terminal_chat_runs_waits_for_the_next_chat(db, clock):
    from bot.dialogs.engine import Dialogs
    from bot.jobs.delivery import Deliverer
    from core import outbox

    program = await _console_parent_with_a_new_program_alert(db, clock)
    sender = console.ConsoleSender()               # registered, but no chat is printing
    report = await Deliverer(db, clock, {"console": sender}).run()
    assert report.sent == 0 and report.failed == 0
    assert await _outbox_statuses(db) == [outbox.PENDING]
    async with db.read() as session:
        assert (await session.execute(__import__("sqlalchemy").select(outbox.Outbox.attempts))).scalar_one() == 0

    typing, out = Typing(), io.StringIO()
    task = asyncio.create_task(console.chat(Dialogs(db, clock, Settings(_env_file=None)),
                                            stdin=typing, stdout=out, sender=sender))
    try:
        await wait_for_text(out, console.PROMPT)
        assert (await Deliverer(db, clock, {"console": sender}).run()).sent == 1
        assert program.title in out.getvalue()
    finally:
        typing.close_input()
        await asyncio.wait_for(task, timeout=10)
    assert await _outbox_statuses(db) == [outbox.SENT]


def test_logs_do_not_appear_in_the_terminal_chat_but_in_the_data_folders_bot_log(tmp_path, monkeypatch, capsys):
    import logging
    import sys

    from bot import app

    root = logging.getLogger()
    operator_console = logging.StreamHandler(sys.stderr)   # what bot/cli.py's basicConfig installs
    root.addHandler(operator_console)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        monkeypatch.setattr("sys.stdin", io.StringIO("1\n"))
        data = tmp_path / "data"
        settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{data}/bot.sqlite3")
        assert app.chat(settings) == 0
        logging.getLogger("bot.test").info("after the chat")
    finally:
        root.removeHandler(operator_console)
        root.setLevel(level)
    printed = capsys.readouterr()
    assert "Главное меню" in printed.out                        # the chat ran
    log_file = data / "bot.log"
    written = log_file.read_text(encoding="utf-8")
    assert "search statements built" in written and "INFO bot.app" in written
    assert "search statements built" not in printed.out + printed.err
    assert "INFO" not in printed.out + printed.err
    assert str(log_file) in printed.out                         # the chat says where the log is
    # After the chat the operator's console has the log back; the file keeps nothing of it.
    assert "after the chat" in printed.err and "after the chat" not in written


def test_the_log_file_is_in_the_sqlite_databases_folder_else_in_data():
    from pathlib import Path

    from bot import logfile

    def path(url: str) -> Path:
        return logfile.log_path(Settings(_env_file=None, database_url=url))

    assert path("sqlite+aiosqlite:///./data/bot.sqlite3") == Path("data/bot.log").resolve()
    assert path("sqlite+aiosqlite:////srv/bot/db.sqlite3") == Path("/srv/bot/bot.log")
    assert path("postgresql+asyncpg://postgres@127.0.0.1:5432/test") == Path("data/bot.log").resolve()


def test_a_picture_is_shown_as_the_path_of_its_png(tmp_path):
    picture = tmp_path / "chart.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    text, _ = console.render(Reply(screens=[Screen("📊 График", image=str(picture)),
                                            Screen("Нет файла", image=str(tmp_path / "gone.png"))]))
    assert text.splitlines() == ["📊 График", f"🖼 {picture}", "", "Нет файла"]
