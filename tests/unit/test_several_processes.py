"""Several processes on one PostgreSQL and one Redis (issue 15): the jobs lock, the outbox
claimed row by row, the platforms' pace counted together, and SQLite's one process.

Redis tests use keys under a prefix of their own (never FLUSHDB) and skip, saying "Redis",
when the server is not reachable (.ci/run then fails the build).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bot.jobs.leader import Leader, PostgresLease, RedisLease
from bot.jobs.shared_pacing import SharedPacer
from core import outbox, outbox_claims
from core.db import Database
from core.models import Parent
from tests.conftest import PG_URL, REDIS_URL, _drop_pg_schema, _pg_db

ROOT = Path(__file__).resolve().parents[2]


# --- the jobs lock ----------------------------------------------------------------------------

@pytest.mark.redis
async def test_one_process_holds_the_jobs_and_another_takes_over_when_it_dies(redis):
    client, prefix = redis
    key = prefix + "jobs-leader"
    a = Leader(RedisLease(client, key, lease_seconds=1.0))
    b = Leader(RedisLease(client, key, lease_seconds=1.0))
    assert await a.step() is True
    assert await b.step() is False          # one holder at a time
    assert await a.step() is True           # renewed while held
    # "a" dies: it stops renewing and never releases; its lease runs out.
    took_over = False
    for _ in range(40):                     # bounded: 4 s for a 1 s lease
        await asyncio.sleep(0.1)
        if await b.step():
            took_over = True
            break
    assert took_over
    # The dead holder's last renewal cannot steal it back: the key holds b's token.
    assert await a.step() is False
    assert b.held and not a.held


@pytest.mark.redis
async def test_the_jobs_lock_is_released_at_once_on_shutdown(redis):
    client, prefix = redis
    key = prefix + "jobs-leader"
    a = Leader(RedisLease(client, key, lease_seconds=30.0))
    b = Leader(RedisLease(client, key, lease_seconds=30.0))
    assert await a.step()
    await a.stop()
    assert await b.step()                   # no waiting for the 30 s lease


@pytest.fixture
async def two_processes():
    first, schema = await _pg_db()
    second = Database(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    yield first, second
    await first.dispose()
    await second.dispose()
    await _drop_pg_schema(schema)


@pytest.mark.postgres
async def test_postgres_jobs_lock_passes_on_when_its_holder_dies(two_processes):
    first, second = two_processes
    key = int.from_bytes(uuid.uuid4().bytes[:7], "big")   # this test's own lock
    a, b = PostgresLease(first, key), PostgresLease(second, key)
    assert await a.acquire()
    assert not await b.acquire()
    assert await a.acquire()                # renewed: its connection still answers
    await a._drop()                         # "a" dies: its connection is gone, the lock with it
    assert await b.acquire()
    await b.release()
    assert await a.acquire()
    await a.release()


# --- the outbox, claimed row by row ------------------------------------------------------------

async def queue_alerts(db: Database, clock, count: int) -> None:  # noqa: ANN001
    async with db.write() as session:
        parents = [Parent(platform="telegram", external_id=str(1000 + n)) for n in range(count)]
        session.add_all(parents)
        await session.flush()
        for n, parent in enumerate(parents):
            session.add(outbox.Outbox(kind=outbox.WAITLIST, parent_id=parent.id, platform="telegram",
                                      ref_id=n, status=outbox.PENDING, created_at=clock.now()))


@pytest.mark.postgres
async def test_two_deliverers_on_one_postgres_send_each_row_once(two_processes, clock):
    first, second = two_processes
    await queue_alerts(first, clock, 60)
    sent: list[int] = []

    async def deliverer(db: Database) -> None:
        for _ in range(20):
            async with db.read() as session:
                units = await outbox.due_units(session, ["telegram"], clock, 50)
            if not units:
                return
            for unit in units:
                if await outbox_claims.claim(db, unit, clock):
                    await asyncio.sleep(0)          # "sending"
                    sent.extend(unit.row_ids)
                    await outbox.record_sent(db, unit, clock)

    await asyncio.gather(deliverer(first), deliverer(second))
    assert len(sent) == 60 and len(set(sent)) == 60
    async with first.read() as session:
        assert (await outbox.counts(session))["sent"] == 60


@pytest.mark.postgres
async def test_a_row_claimed_by_a_process_that_died_is_sent_after_its_lease(two_processes, clock):
    first, second = two_processes
    await queue_alerts(first, clock, 1)
    async with first.read() as session:
        [unit] = await outbox.due_units(session, ["telegram"], clock, 10)
    assert await outbox_claims.claim(first, unit, clock)     # ... and the process dies
    assert not await outbox_claims.claim(second, unit, clock)
    async with second.read() as session:
        assert await outbox.due_units(session, ["telegram"], clock, 10) == []
    clock.advance(seconds=outbox_claims.CLAIM_LEASE.total_seconds())
    async with second.read() as session:
        [again] = await outbox.due_units(session, ["telegram"], clock, 10)
    assert again.row_ids == unit.row_ids
    assert await outbox_claims.claim(second, again, clock)


async def test_sqlite_needs_no_claim(db, clock):
    await queue_alerts(db, clock, 1)
    async with db.read() as session:
        [unit] = await outbox.due_units(session, ["telegram"], clock, 10)
    assert await outbox_claims.claim(db, unit, clock)
    assert await outbox_claims.claim(db, unit, clock)


# --- the pace, counted in Redis ------------------------------------------------------------------

@pytest.mark.redis
async def test_two_pacers_sharing_redis_never_exceed_the_rate_in_any_second(redis):
    client, prefix = redis
    stamps: list[float] = []
    loop = asyncio.get_running_loop()

    async def sender(pacer: SharedPacer, chats: range) -> None:
        for chat in chats:
            await pacer.wait(str(chat))
            stamps.append(loop.time())

    a, b = SharedPacer(client, prefix, "telegram"), SharedPacer(client, prefix, "telegram")
    await asyncio.wait_for(asyncio.gather(sender(a, range(0, 30)), sender(b, range(30, 60))), timeout=30)
    stamps.sort()
    assert len(stamps) == 60
    # Alerts keep RESERVE slots of the window free for replies: at most 24 in any second
    # (a little slack for the event loop's clock against Redis's).
    worst = max(sum(1 for t in stamps if s <= t < s + 0.98) for s in stamps)
    assert worst <= a.rate - a.reserve


@pytest.mark.redis
async def test_replies_find_room_while_alerts_wait_for_the_budget(redis):
    client, prefix = redis
    alerts, replies = SharedPacer(client, prefix, "telegram"), SharedPacer(client, prefix, "telegram")
    for chat in range(alerts.rate - alerts.reserve):
        await alerts.wait(str(chat))                          # each alert waits for its turn
    assert await alerts._try("other", reply=False) > 0.1    # the alerts' budget is used up
    assert await replies.wait("99", reply=True) < 0.1       # a reply (to a chat not alerted) still goes


@pytest.mark.redis
async def test_a_pause_asked_by_the_platform_holds_every_process(redis):
    client, prefix = redis
    a, b = SharedPacer(client, prefix, "vk"), SharedPacer(client, prefix, "vk")
    a.pause(2.0)
    for _ in range(50):
        if await client.exists(f"{prefix}pace:vk:paused"):
            break
        await asyncio.sleep(0.02)
    assert await b._try("1", reply=True) > 0


# --- SQLite: one process ------------------------------------------------------------------------

def test_a_second_process_on_one_sqlite_database_is_refused(tmp_path):
    from bot.process_lock import AlreadyRunning, single_process

    url = f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3"
    with single_process(url):
        script = ("import sys\nfrom bot.process_lock import single_process, AlreadyRunning\n"
                  "try:\n    with single_process(sys.argv[1]): print('ran')\n"
                  "except AlreadyRunning as e: print(e)\n")
        other = subprocess.run([sys.executable, "-c", script, url], cwd=ROOT, capture_output=True, text=True,
                               timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert "another bot process is already running" in other.stdout
        assert "PostgreSQL" in other.stdout and "Redis" in other.stdout
        with pytest.raises(AlreadyRunning):
            with single_process(url):
                pass
    with single_process(url):   # free again once the first one ended
        pass


def test_postgres_takes_no_lock_file(tmp_path):
    from bot.process_lock import single_process

    with single_process(PG_URL) as path:
        assert path is None


# --- the scheduler: two processes, one runs the jobs ----------------------------------------------

@pytest.mark.redis
async def test_of_two_schedulers_sharing_redis_one_runs_the_jobs_and_the_other_takes_over(redis, db, tmp_path):
    import datetime as dt

    from bot import shared
    from bot.config import Settings
    from bot.jobs import scheduler
    from bot.runtime import AppContext
    from core.clock import FixedClock

    _client, _prefix = redis
    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    # A database URL of this test's own: the processes' shared key prefix derives from it.
    settings = Settings(_env_file=None, redis_url=REDIS_URL, notify_interval_seconds=3600,
                        database_url=f"sqlite+aiosqlite:///{tmp_path}/shared-{uuid.uuid4().hex}.sqlite3")
    first = await scheduler.start(AppContext(settings=settings, db=db, clock=clock, dialogs=None))
    second = await scheduler.start(AppContext(settings=settings, db=db, clock=clock, dialogs=None))
    try:
        assert (first.leader.held, second.leader.held) == (True, False)
        assert second.scheduler.get_job("catch-up") is None     # only the holder catches up
        await first.shutdown()                                  # gives the lock up at once
        assert await second.leader.step()
    finally:
        await second.shutdown()
        keys = [key async for key in _client.scan_iter(match=f"{shared.prefix(settings)}*")]
        if keys:
            await _client.delete(*keys)
        await shared.close_clients()


async def test_the_jobs_lease_is_a_setting_and_renewed_every_third_of_it():
    from bot import shared
    from bot.config import Settings
    from bot.jobs.leader import lease_for, renew_every

    assert Settings(_env_file=None).jobs_lease_seconds == 30
    settings = Settings(_env_file=None, jobs_lease_seconds=3, redis_url=REDIS_URL,
                        database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    try:
        lease = lease_for(settings, None)   # Redis set: the database is not asked
        assert isinstance(lease, RedisLease) and lease.lease_ms == 3000
        assert renew_every(settings) == 1.0
    finally:
        await shared.close_clients()
