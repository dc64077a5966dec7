"""core/db.py on SQLite through stock aiosqlite: statements run in the driver's thread and the
event loop runs meanwhile; writers of one process take turns, another process's write lock is
waited out without freezing the bot; money and personal data are on disk before the reply,
a dialog's place and the alerts' delivery bookkeeping are not flushed."""
from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest
from sqlalchemy import select, text, update

from core import db as core_db
from core import outbox
from core.models import Child, DialogState, Municipality
from core.parents import ensure_parent, give_consent
from tests import factories
from tests.dialogs.kit import SNILS_1, DialogClient, add_nominal, add_program, make_dialogs


class Heartbeat:
    """Ticks every 10 ms while the event loop runs; the longest gap is how long it did not."""

    def __init__(self) -> None:
        self.ticks = 0
        self.longest = 0.0
        self._task: asyncio.Task | None = None

    async def _beat(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.ticks += 1
            self.longest = max(self.longest, now - last)
            last = now

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


# --- the event loop runs while SQLite works or waits ---------------------------------

async def test_the_event_loop_keeps_running_during_a_long_write(db):
    # One statement inserting 300 000 rows: a long write transaction, as a year's rollover.
    many = text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) "
                "INSERT INTO municipalities (name) SELECT 'м' || i FROM n")
    async with Heartbeat() as beat:
        started = time.monotonic()
        async with db.write() as session:
            await session.execute(many)
        took = time.monotonic() - started
    assert took >= 0.2, "the statement was meant to take a while"
    assert beat.longest < max(0.1, took / 3), (beat.longest, took)  # the loop was never held for long
    assert beat.ticks >= took / 0.01 / 4
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM municipalities"))).scalar() == 300000


HOLD_THE_LOCK = """
import sqlite3, sys, time
other = sqlite3.connect(sys.argv[1], isolation_level=None)
other.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
other.execute("COMMIT")
"""


async def test_another_process_holding_the_write_lock_is_waited_out_while_the_bot_stays_responsive(db, tmp_path):
    async with db.write() as session:  # the first write's one-off work (mappers, compiling) done
        session.add(Municipality(name="г. Абакан"))
    # As an import from the command line: another process holds the write lock for 0.5 s.
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_THE_LOCK, f"{tmp_path}/test.sqlite3", "0.5", stdout=asyncio.subprocess.PIPE)
    assert other.stdout is not None
    assert (await other.stdout.readline()).strip() == b"locked"
    async with Heartbeat() as beat:
        started = time.monotonic()
        async with db.write() as session:
            session.add(Municipality(name="г. Пятигорск"))
        waited = time.monotonic() - started
    assert await other.wait() == 0
    assert waited >= 0.3                 # it did wait for the other writer …
    assert beat.longest < 0.1            # … and the event loop kept running meanwhile
    assert beat.ticks >= waited / 0.01 / 4
    async with db.read() as session:
        assert set((await session.execute(select(Municipality.name))).scalars()) == {"г. Абакан", "г. Пятигорск"}


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


async def test_a_unit_of_work_opened_inside_another_before_its_first_statement_goes_first(db):
    async with db.write() as outer:
        async with db.write() as inner:  # e.g. a helper that looks a municipality up
            inner.add(Municipality(name="г. Абакан"))
        outer.add(Municipality(name="г. Пятигорск"))
    async with db.read() as session:
        assert set((await session.execute(select(Municipality.name))).scalars()) == {"г. Абакан", "г. Пятигорск"}


async def test_a_writer_that_waits_too_long_for_its_turn_is_refused(db, monkeypatch):
    monkeypatch.setattr(core_db, "BUSY_TIMEOUT", 0.1)
    release = asyncio.Event()

    async def holder() -> None:
        async with db.write() as session:
            session.add(Municipality(name="г. Пятигорск"))
            await session.flush()  # BEGIN IMMEDIATE: its turn taken
            await release.wait()

    holding = asyncio.create_task(holder())
    await asyncio.sleep(0.01)
    with pytest.raises(Exception, match="database is locked"):
        async with db.write() as session:
            session.add(Municipality(name="г. Абакан"))
    release.set()
    await holding
    async with db.read() as session:
        assert (await session.execute(select(Municipality.name))).scalars().all() == ["г. Пятигорск"]


# --- durability -----------------------------------------------------------------------

@pytest.fixture
def flushes(monkeypatch):
    """The files fdatasync'ed (by name), in order."""
    calls: list[str] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        calls.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(core_db.os, "fdatasync", counting)
    return calls


async def test_a_unit_of_work_that_wrote_money_or_data_is_flushed_a_dialog_place_is_not(db, clock, flushes):
    async with db.write() as session:
        session.add(DialogState(platform="test", user_id="1", state={"step": "menu"}, updated_at=clock.now()))
    async with db.write() as session:
        await session.execute(update(DialogState).values(state={"step": "find"}))
    assert flushes == []
    async with db.write() as session:
        session.add(Municipality(name="г. Пятигорск"))
    assert flushes == ["test.sqlite3-wal"]     # the log, before write() returned
    with pytest.raises(RuntimeError):          # a failed unit of work flushes (and writes) nothing
        async with db.write() as session:
            session.add(Municipality(name="г. Абакан"))
            await session.flush()
            raise RuntimeError("boom")
    assert len(flushes) == 1
    async with db.read() as session:
        assert (await session.execute(select(Municipality.name))).scalars().all() == ["г. Пятигорск"]


async def test_statements_writing_personal_data_are_flushed_without_a_flush_of_objects(db, clock, flushes):
    async with db.write() as session:
        parent = await factories.parent(session, clock)
        await factories.child(session, parent, clock)
    assert len(flushes) == 1
    async with db.write() as session:  # as forget_parent: a Core-style UPDATE, no ORM objects
        await session.execute(update(Child).values(full_name_enc=None, forgotten_at=clock.now())
                              .execution_options(synchronize_session=False))
    assert len(flushes) == 2
    async with db.write() as session:  # SQL text could write anything
        await session.execute(text("UPDATE children SET snils_enc = NULL"))
    assert len(flushes) == 3


async def test_a_unit_of_work_may_ask_for_the_flush_itself(db, flushes):
    async with db.write(durable=True) as session:
        await session.execute(select(Municipality))
    async with db.write() as session:
        core_db.mark_durable(session)
    assert len(flushes) == 2
    async with db.write() as session:
        await session.execute(select(Municipality))
    async with db.read() as session:
        await session.execute(select(Municipality))
    assert len(flushes) == 2


async def test_a_dialog_enrollment_is_flushed_a_search_step_is_not(db, clock, flushes):
    await add_nominal(db, "Город Тест", 2026, 1_200_000)
    program_id = await add_program(db, clock, title="Робототехника", price=150_000)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, "Город Тест")
    assert "Ребёнок добавлен" in client.text
    flushes.clear()
    await client.send("/find робот")
    assert "Робототехника" in client.text
    await client.click("1")
    await client.click("Записать ребёнка")
    await client.click("Иванова Мария")
    assert client.has_button("Подтвердить")
    assert flushes == []                    # searching, a card, the preview: the dialog's place only
    await client.click("Подтвердить")
    assert "записана в программу «Робототехника»" in client.text
    assert flushes == ["test.sqlite3-wal"]  # the enrollment and its money: on disk before the reply
    assert program_id


async def test_delivery_bookkeeping_is_not_flushed(db, clock, flushes):
    async with db.write() as session:
        parent = await ensure_parent(session, "telegram", "7")
        await give_consent(session, parent, clock)
        program = await factories.program(session, clock)
        session.add(outbox.Outbox(kind=outbox.PROGRAM, parent_id=parent.id, platform="telegram",
                                  ref_id=program.id, status=outbox.PENDING, attempts=0, created_at=clock.now()))
    flushes.clear()
    async with db.read() as session:
        [unit] = await outbox.due_units(session, ["telegram"], clock)
    await outbox.record_sent(db, unit, clock)
    async with db.write() as session:
        await outbox.mark_retry(session, unit, "timeout", clock)
        await outbox.mark_failed(session, unit, "blocked", clock)
        await outbox.mark_dropped(session, [unit], "moot")
        await outbox.drop_moot(session, clock)
    assert flushes == []
