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


def button_with(out: str, words: str) -> str:
    """The number of the last button whose label holds `words` (e.g. «1. Робототехника — Мария»)."""
    found = re.findall(r"\[(\d+)\] [^\[\n]*" + re.escape(words), out)
    assert found, out[-2000:]
    return found[-1]


class Terminal:
    """`python -m bot chat` kept running: type a line, read what it printed up to the next prompt."""

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / f"chat-{time.monotonic_ns()}.out"
        self.out = open(self.path, "w", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "chat"], stdin=subprocess.PIPE, stdout=self.out,
                                     stderr=subprocess.STDOUT, cwd=workdir, env=bot_env(workdir), text=True,
                                     encoding="utf-8")
        self.seen = 0
        self.read()

    def read(self) -> str:
        deadline = time.monotonic() + 60
        while True:
            printed = self.path.read_text(encoding="utf-8")
            if len(printed) > self.seen and printed.endswith("> "):
                new, self.seen = printed[self.seen:], len(printed)
                return new
            assert self.proc.poll() is None and time.monotonic() < deadline, printed[-2000:]
            time.sleep(0.05)

    def type(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            assert self.proc.wait(timeout=60) == 0
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.out.close()


def test_a_parent_rates_a_program_in_the_terminal_after_its_first_settled_month(tmp_path):
    """Issue 13, ratings in `python -m bot chat`: when rating opens, then (the month settled by
    `jobs run settle-month`) stars, «Без комментария», thanks; the card shows the average."""
    from tests.e2e import ratings

    program = "Робототехника на Arduino"
    term = Terminal(tmp_path)
    try:
        out = term.type("1")
        out = term.type("/children")
        out = term.type(number_of(out, texts.BTN_ADD_CHILD))
        for typed in ("Иванова Мария Петровна", "15.03.2016", "112-233-445 95"):
            out = term.type(typed)
        out = term.type(number_of(out, "г. Пятигорск"))
        out = term.type(number_of(out, texts.BTN_SAVE))
        out = term.type("/find робот")
        out = term.type(number_of(out, re.findall(rf"^(\d+)\. {re.escape(program)}$", out, re.M)[-1]))
        assert texts.REVIEWS_SECTION_NONE.strip() in out
        out = term.type(number_of(out, texts.BTN_ENROLL))
        out = term.type(number_of(out, "Иванова Мария"))
        out = term.type(number_of(out, texts.BTN_CONFIRM))
        out = term.type("/enrollments")
        out = term.type(button_with(out, program))
        out = term.type(number_of(out, texts.BTN_RATE))
        assert f"можно будет с {ratings.first_of_next_month()}" in out

        database = tmp_path / "bot.sqlite3"
        ratings.as_if_enrolled_two_months_ago(database)
        ratings.settle_the_month_before_last(tmp_path, bot_env(tmp_path))

        out = term.type("/enrollments")
        out = term.type(button_with(out, program))
        out = term.type(number_of(out, texts.BTN_RATE))
        assert "Как вам программа" in out
        out = term.type(number_of(out, "3 ★"))
        assert "Оценка: ★★★☆☆" in out
        out = term.type(number_of(out, texts.BTN_NO_COMMENT))
        assert "Спасибо! Оценка ★★★☆☆" in out
        assert ratings.reviews(database) == [(3, None)]
        out = term.type("/find робот")
        out = term.type(number_of(out, re.findall(rf"^(\d+)\. {re.escape(program)}$", out, re.M)[-1]))
        assert "★ 3,0 · 1 оценка" in out
    finally:
        term.close()
