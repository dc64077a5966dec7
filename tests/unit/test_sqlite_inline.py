"""core/sqlite_inline.py: SQLite in the event loop's thread — money flushed to disk, writers
queued, another process's write lock waited out without freezing the bot."""
from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import select

from core import sqlite_inline
from core.models import DialogState, Municipality
from core.sqlite_inline import must_be_durable


@pytest.mark.parametrize(("sql", "durable"), [
    ("SELECT * FROM ledger_entries", False),
    ("WITH matches AS (SELECT id FROM programs) SELECT count(*) FROM matches", False),
    ("WITH gone AS (SELECT id FROM x) DELETE FROM enrollments WHERE id IN gone", True),
    ("BEGIN IMMEDIATE", False),
    ("UPDATE dialog_states SET state=? WHERE platform = ?", False),
    ('INSERT INTO "outbox" (kind) SELECT 1', False),
    ("UPDATE outbox SET status=? WHERE id IN (?)", False),
    ("INSERT INTO ledger_entries (kind, amount) VALUES (?, ?)", True),
    ("UPDATE enrollments SET status=?", True),
    ("DELETE FROM children WHERE id = ?", True),
    ("INSERT OR REPLACE INTO parents (id) VALUES (?)", True),
    ("CREATE TABLE x (id INTEGER)", True),
])
def test_only_dialog_places_and_alert_marks_may_skip_the_flush(sql, durable):
    assert must_be_durable(sql) is durable


@pytest.fixture
def flushes(monkeypatch):
    calls: list[int] = []
    real = sqlite_inline.os.fdatasync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(sqlite_inline.os, "fdatasync", counting)
    return calls


async def test_a_commit_that_wrote_money_or_data_is_flushed_a_dialog_step_is_not(db, clock, flushes):
    async with db.write() as session:
        session.add(DialogState(platform="test", user_id="1", state={"step": "menu"}, updated_at=clock.now()))
    assert flushes == []
    async with db.write() as session:
        session.add(Municipality(name="г. Пятигорск"))
    assert len(flushes) == 1
    with pytest.raises(RuntimeError):  # a failed unit of work flushes nothing (and writes nothing)
        async with db.write() as session:
            session.add(Municipality(name="г. Абакан"))
            await session.flush()
            raise RuntimeError("boom")
    assert len(flushes) == 1
    async with db.read() as session:
        assert (await session.execute(select(Municipality.name))).scalars().all() == ["г. Пятигорск"]


async def test_another_process_holding_the_write_lock_is_waited_out_while_the_bot_stays_responsive(db, tmp_path):
    other = sqlite3.connect(f"{tmp_path}/test.sqlite3", isolation_level=None)  # as an import from the CLI
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    beating = asyncio.create_task(heartbeat())
    asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
    started = time.monotonic()
    try:
        async with db.write() as session:
            session.add(Municipality(name="г. Пятигорск"))
    finally:
        beating.cancel()
        other.close()
    assert time.monotonic() - started >= 0.25  # it did wait for the other writer …
    assert ticks >= 10                           # … and the event loop kept running meanwhile


async def test_writers_of_one_process_take_turns(db):
    order: list[str] = []

    async def writer(name: str, hold: float) -> None:
        async with db.write() as session:
            session.add(Municipality(name=name))
            await session.flush()  # BEGIN IMMEDIATE happens here: the write lock is held
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    await asyncio.gather(writer("first", 0.1), writer("second", 0))
    assert order == ["first in", "first out", "second in", "second out"]
