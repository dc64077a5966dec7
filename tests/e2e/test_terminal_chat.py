"""`python -m bot chat`, the real process with its stdin from a pipe: the conversation
survives a restart, and the log goes to the data folder's bot.log, not into the chat."""
from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bot.dialogs import texts
from tests.e2e.botproc import bot_env

TIMEOUT = 120


def chat(workdir: Path, typed: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """One run of the terminal chat: `typed` is what the parent types, then end of input."""
    done = subprocess.run([sys.executable, "-m", "bot", "chat"], input=typed, capture_output=True,
                          text=True, encoding="utf-8", cwd=workdir, env=bot_env(workdir, extra),
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def number_of(out: str, label: str) -> str:
    found = re.findall(r"\[(\d+)\] " + re.escape(label), out)
    assert found, out[-2000:]
    return found[-1]


def test_the_terminal_chat_restarted_mid_question_goes_on_and_logs_to_the_data_folder(tmp_path):
    first = chat(tmp_path, "1\n/children\n", LOG_LEVEL="DEBUG")
    assert "Главное меню" in first.stdout
    second = chat(tmp_path, f"{number_of(first.stdout, texts.BTN_ADD_CHILD)}\nИванова Мария Петровна\n")
    assert texts.CHILD_ASK_BIRTH in second.stdout

    third = chat(tmp_path, "15.03.2015\n")   # the process started again: the birth date is asked
    opening = third.stdout.split(texts.CHILD_ASK_BIRTH, 1)[0]
    assert texts.CHILD_ASK_BIRTH in third.stdout and "Главное меню" not in opening
    assert texts.CHILD_ASK_SNILS in third.stdout  # and the date typed was taken

    log_file = tmp_path / "bot.log"           # the SQLite database's folder
    written = log_file.read_text(encoding="utf-8")
    assert " INFO bot.app: " in written and " DEBUG sqlalchemy" in written
    for run in (first, second, third):
        assert " INFO " not in run.stdout + run.stderr and " DEBUG " not in run.stdout + run.stderr
        assert str(log_file) in run.stdout
    assert "Иванова" not in written and "15.03.2015" not in written and "2015-03-15" not in written


async def _subscribe_and_publish(database_url: str, title: str) -> None:
    """The terminal parent subscribes to a town, then a program is published there."""
    from core import municipalities
    from core.clock import SystemClock
    from core.db import Database
    from core.parents import get_parent
    from core.subscriptions import create_subscription
    from tests import factories

    db, clock = Database(database_url), SystemClock("Europe/Moscow")
    try:
        async with db.write() as session:
            parent = await get_parent(session, "console", "local")
            town = await municipalities.register(session, factories.TOWN)
            await create_subscription(session, parent, municipality_id=town.id, categories=[], age=None,
                                      certificate_only=False, clock=clock)
        time.sleep(0.01)
        async with db.write() as session:
            await factories.program(session, clock, title=title)
    finally:
        await db.dispose()


def _outbox(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT platform, status FROM outbox").fetchall()


def test_an_alert_for_the_terminal_parent_prints_at_the_prompt_of_the_running_chat_once(tmp_path):
    chat(tmp_path, "1\n")                                         # consent; the database is made
    database_url = bot_env(tmp_path)["DATABASE_URL"]
    asyncio.run(_subscribe_and_publish(database_url, "Юные астрономы"))
    out_path = tmp_path / "chat.out"
    with open(out_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "chat"], stdin=subprocess.PIPE, stdout=out,
                                stderr=subprocess.STDOUT, cwd=tmp_path, env=bot_env(tmp_path), text=True)
        try:
            deadline = time.monotonic() + 60    # the scheduler's first notify runs a second after start
            while "Юные астрономы" not in out_path.read_text(encoding="utf-8"):
                assert proc.poll() is None and time.monotonic() < deadline, out_path.read_text(encoding="utf-8")
                time.sleep(0.1)
            time.sleep(0.5)
            printed = out_path.read_text(encoding="utf-8")
            assert printed.endswith("> ")                        # the alert, then the prompt again
            assert _outbox(tmp_path / "bot.sqlite3") == [("console", "sent")]
            assert printed.count(texts.DIGEST_ONE) == 1
            alert = printed[printed.index(texts.DIGEST_ONE):]
            proc.stdin.write(number_of(alert, "1") + "\n")       # its button opens the program's card
            proc.stdin.close()
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    printed = out_path.read_text(encoding="utf-8")
    assert printed.count("Юные астрономы") == 2                  # the alert, then the card
    again = chat(tmp_path, "")                                   # back on the card it left
    assert "Юные астрономы" in again.stdout and texts.DIGEST_ONE not in again.stdout  # not again
    assert _outbox(tmp_path / "bot.sqlite3") == [("console", "sent")]
