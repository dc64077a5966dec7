"""A copy of an update that arrives while the first is still being handled (bot/in_flight.py,
issue 15): it waits for the first and is then handled (finding nothing left to do), or, if
the first takes too long, it is refused (`Busy`: the endpoint answers 503 and the platform
sends it again). A process that dies holding a claim does not keep it: the update is handled
when it comes again. Each backend — Redis, PostgreSQL's advisory locks, one process in
memory — is checked with two `InFlight`s standing for two processes.
"""
from __future__ import annotations

import asyncio

import pytest

from bot.in_flight import Busy, InFlight, LocalClaims, PostgresClaims, RedisClaims


async def two_copies(first: InFlight, second: InFlight) -> list[str]:
    """The first copy is being handled when the second comes; what happened, in order."""
    happened: list[str] = []
    holding = asyncio.Event()
    release = asyncio.Event()

    async def copy_one() -> None:
        async with first.claim("telegram", "1001"):
            happened.append("first handled")
            holding.set()
            await release.wait()
            happened.append("first answered")

    async def copy_two() -> None:
        await holding.wait()
        async with second.claim("telegram", "1001"):
            happened.append("second handled")

    tasks = [asyncio.create_task(copy_one()), asyncio.create_task(copy_two())]
    await holding.wait()
    for _ in range(5):                    # the second copy is waiting, not handled
        await asyncio.sleep(0.02)
    assert happened == ["first handled"]
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    return happened


async def refused_while_held(first: InFlight, second: InFlight) -> None:
    async with first.claim("vk", "ev7"):
        with pytest.raises(Busy):
            async with second.claim("vk", "ev7"):
                pass
        async with second.claim("vk", "ev8"):   # another update is not held up
            pass


# --- Redis -------------------------------------------------------------------------------------

@pytest.mark.redis
async def test_redis_a_copy_waits_for_the_first_then_goes(redis):
    client, prefix = redis
    assert await two_copies(InFlight(RedisClaims(client, prefix)), InFlight(RedisClaims(client, prefix))) \
        == ["first handled", "first answered", "second handled"]
    assert [key async for key in client.scan_iter(match=f"{prefix}*")] == []   # given up


@pytest.mark.redis
async def test_redis_a_copy_is_refused_when_the_first_takes_too_long(redis):
    client, prefix = redis
    await refused_while_held(InFlight(RedisClaims(client, prefix)),
                             InFlight(RedisClaims(client, prefix), wait_seconds=0.2))


@pytest.mark.redis
async def test_redis_a_claim_is_renewed_while_its_update_is_handled(redis):
    client, prefix = redis
    first, second = InFlight(RedisClaims(client, prefix, lease_seconds=0.3)), \
        InFlight(RedisClaims(client, prefix), wait_seconds=0.1)
    async with first.claim("max", "m5"):
        await asyncio.sleep(0.6)            # twice the lease: still held
        with pytest.raises(Busy):
            async with second.claim("max", "m5"):
                pass


@pytest.mark.redis
async def test_redis_the_claim_of_a_process_that_died_runs_out_and_the_update_is_handled(redis):
    client, prefix = redis
    dead = RedisClaims(client, prefix, lease_seconds=0.3)
    renewal = await dead.try_claim("telegram:2002")
    await renewal.stop()                    # the process died: nobody renews, nobody releases
    handled = False
    async with InFlight(RedisClaims(client, prefix), wait_seconds=3).claim("telegram", "2002"):
        handled = True
    assert handled


# --- PostgreSQL --------------------------------------------------------------------------------

@pytest.fixture
async def pg_claims(pg_db):
    """Claims of two processes on one database (their connections given back after)."""
    made: list[InFlight] = []

    def make(wait_seconds: float = 10.0) -> InFlight:
        made.append(InFlight(PostgresClaims(pg_db), wait_seconds=wait_seconds))
        return made[-1]
    yield make
    for claims in made:
        await claims.close()


@pytest.mark.postgres
async def test_postgres_a_copy_waits_for_the_first_then_goes(pg_claims):
    assert await two_copies(pg_claims(), pg_claims()) == ["first handled", "first answered", "second handled"]


@pytest.mark.postgres
async def test_postgres_claims_hold_one_connection_whatever_the_number_of_updates(pg_db, pg_claims):
    one = pg_claims()
    two = InFlight(one.backend, wait_seconds=0.1)
    async with one.claim("telegram", "1"), one.claim("telegram", "2"), one.claim("vk", "3"):
        assert pg_db.engine.pool.checkedout() == 1
        with pytest.raises(Busy):           # the process's own copy: held in memory first
            async with two.claim("telegram", "2"):
                pass
    async with two.claim("telegram", "2"):  # given up
        pass


@pytest.mark.postgres
async def test_postgres_a_copy_is_refused_when_the_first_takes_too_long(pg_claims):
    await refused_while_held(pg_claims(), pg_claims(wait_seconds=0.2))


@pytest.mark.postgres
async def test_postgres_the_claim_of_a_process_that_died_is_freed_at_once(pg_claims):
    dead = pg_claims()
    assert await dead.backend.try_claim("telegram:3003") is not None
    await dead.backend.connection.invalidate()   # the process died: its connection is gone, and the lock
    handled = False
    async with pg_claims(wait_seconds=1).claim("telegram", "3003"):
        handled = True
    assert handled


# --- one process (SQLite), and a claim that cannot be made ----------------------------------

async def test_in_one_process_a_copy_waits_for_the_first():
    claims = InFlight(LocalClaims())
    assert await two_copies(claims, claims) == ["first handled", "first answered", "second handled"]
    await refused_while_held(claims, InFlight(claims.backend, wait_seconds=0.1))


async def test_an_update_without_an_id_is_not_claimed():
    claims = InFlight(LocalClaims(), wait_seconds=0.1)
    async with claims.claim("vk", ""):
        async with claims.claim("vk", ""):
            pass


async def test_when_the_claim_cannot_be_made_the_update_is_handled_without_it():
    class Unreachable:
        async def try_claim(self, key: str) -> None:
            raise ConnectionError("Redis is down")

    handled = False
    async with InFlight(Unreachable()).claim("telegram", "4004"):
        handled = True
    assert handled
