"""Each update handled once (issue 15): a copy of an event, delivered again by the platform or
to another process, changes nothing; a copy of an event whose answer went out gets no answer;
one whose answer was lost gets the current screen; one whose handling crashed is handled when
it comes again. One parent's updates run one at a time, even in two processes (PostgreSQL).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.dialogs.engine import Dialogs
from bot.dialogs.screen import Input, Screen
from bot.dialogs.state import action
from core import handled_updates
from core.db import Database
from core.models import HandledUpdate, JobRun
from tests.conftest import PG_URL, _drop_pg_schema, _pg_db

EFFECT_JOB = "test-effect"
# Set by a test: the effect fails this many times before it succeeds (a crash mid-update).
FAILURES = {"left": 0}
# Set by a test: how long the effect holds its transaction open (another process's copy waits).
HOLD = {"seconds": 0.0}
ORDER: list[str] = []
# "a" waits (bounded by HOLD) for "b" to start: b starts meanwhile unless it is held up by a.
B_STARTED: dict[str, asyncio.Event] = {}


@action("tst15", consent=False)
async def _effect(ctx, args):  # noqa: ANN001, ANN202 - a test action: one committed row per run
    ORDER.append(f"start:{args[0]}")
    if args[0] == "b" and "event" in B_STARTED:
        B_STARTED["event"].set()
    if HOLD["seconds"]:
        waiting = B_STARTED.get("event") if args[0] == "a" else None
        try:
            await asyncio.wait_for(waiting.wait() if waiting else asyncio.sleep(HOLD["seconds"]),
                                   timeout=HOLD["seconds"])
        except asyncio.TimeoutError:
            pass
    if FAILURES["left"]:
        FAILURES["left"] -= 1
        raise RuntimeError("the process died half-way")
    ctx.session.add(JobRun(job=EFFECT_JOB, period=uuid.uuid4().hex[:16], done_at=ctx.clock.now()))
    ORDER.append(f"end:{args[0]}")
    return Screen(text=f"готово {args[0]}")


@pytest.fixture(autouse=True)
def _reset():
    FAILURES["left"], HOLD["seconds"] = 0, 0.0
    ORDER.clear()
    B_STARTED.clear()


def dialogs_on(db: Database, clock) -> Dialogs:  # noqa: ANN001
    return Dialogs(db, clock, Settings(_env_file=None))


async def effects(db: Database) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(JobRun)
                                      .where(JobRun.job == EFFECT_JOB))).scalar_one()


def press(event_id: str, tag: str = "x") -> Input:
    return Input.press(f"tst15:{tag}").with_event(event_id)


async def test_a_copy_changes_nothing_and_gets_the_screen_until_the_answer_went_out(any_db, clock):
    dialogs = dialogs_on(any_db, clock)
    first = await dialogs.handle("test", "1", press("u1"))
    assert first.screens and "готово" in first.screens[0].text
    # The answer is not known to have gone out (the process died before sending it):
    # a copy gets the current screen back, and the step does not run again.
    copy = await dialogs.handle("test", "1", press("u1"))
    assert copy.screens
    assert await effects(any_db) == 1
    # Once the adapter says the answer went out, a copy gets nothing at all.
    await dialogs.replied("test", "1", "u1")
    again = await dialogs.handle("test", "1", press("u1"))
    assert again.screens == []
    assert await effects(any_db) == 1
    # A new event with the same button is a new press.
    await dialogs.handle("test", "1", press("u2"))
    assert await effects(any_db) == 2


async def test_the_same_event_id_of_another_parent_is_another_event(any_db, clock):
    # Telegram's message ids count per chat: the key is (platform, user, event).
    dialogs = dialogs_on(any_db, clock)
    await dialogs.handle("test", "1", press("m5"))
    await dialogs.handle("test", "2", press("m5"))
    await dialogs.handle("vk", "1", press("m5"))
    assert await effects(any_db) == 3


async def test_an_update_whose_handling_crashed_is_handled_when_it_comes_again(any_db, clock):
    dialogs = dialogs_on(any_db, clock)
    FAILURES["left"] = 1
    failed = await dialogs.handle("test", "1", press("u7"))
    assert failed.screens and "готово" not in failed.screens[0].text   # an apology
    assert await effects(any_db) == 0
    done = await dialogs.handle("test", "1", press("u7"))
    assert "готово" in done.screens[0].text
    assert await effects(any_db) == 1


async def test_old_ids_are_pruned_after_two_days(any_db, clock):
    dialogs = dialogs_on(any_db, clock)
    await dialogs.handle("test", "1", press("old"))
    async with any_db.write() as session:
        assert await handled_updates.prune(session, clock.now() + dt.timedelta(days=1)) == 0
    async with any_db.write() as session:
        assert await handled_updates.prune(session, clock.now() + dt.timedelta(days=2, minutes=1)) == 1
    async with any_db.read() as session:
        assert (await session.execute(select(func.count()).select_from(HandledUpdate))).scalar_one() == 0


@pytest.fixture
async def two_processes():
    """Two Database objects on one PostgreSQL schema: two processes' pools."""
    first, schema = await _pg_db()
    second = Database(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    yield first, second
    await first.dispose()
    await second.dispose()
    await _drop_pg_schema(schema)


@pytest.mark.postgres
async def test_two_processes_handling_one_update_at_once_make_one_effect(two_processes, clock):
    first, second = two_processes
    HOLD["seconds"] = 0.3   # the first copy is still being handled when the second arrives
    replies = await asyncio.gather(dialogs_on(first, clock).handle("telegram", "9", press("c1")),
                                   dialogs_on(second, clock).handle("telegram", "9", press("c1")))
    assert await effects(first) == 1
    assert sum("готово" in r.screens[0].text for r in replies if r.screens) == 1
    assert ORDER.count("start:x") == 1   # the copy waited for the first and did not run


@pytest.mark.postgres
async def test_one_parents_updates_run_one_at_a_time_across_processes(two_processes, clock):
    first, second = two_processes
    HOLD["seconds"], B_STARTED["event"] = 1.0, asyncio.Event()
    one = asyncio.create_task(dialogs_on(first, clock).handle("telegram", "9", press("a1", "a")))
    for _ in range(200):        # "a" is inside its transaction when "b" arrives elsewhere
        if ORDER:
            break
        await asyncio.sleep(0.01)
    two = asyncio.create_task(dialogs_on(second, clock).handle("telegram", "9", press("b1", "b")))
    await asyncio.gather(one, two)
    assert ORDER == ["start:a", "end:a", "start:b", "end:b"]
    assert await effects(first) == 2


@pytest.mark.postgres
async def test_different_parents_are_not_held_up_by_each_other(two_processes, clock):
    first, second = two_processes
    HOLD["seconds"], B_STARTED["event"] = 10.0, asyncio.Event()
    one = asyncio.create_task(dialogs_on(first, clock).handle("telegram", "1", press("a1", "a")))
    for _ in range(200):
        if ORDER:
            break
        await asyncio.sleep(0.01)
    two = asyncio.create_task(dialogs_on(second, clock).handle("telegram", "2", press("b1", "b")))
    await asyncio.gather(one, two)
    assert ORDER.index("start:b") < ORDER.index("end:a")
