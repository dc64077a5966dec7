"""Shared fixtures: a clock standing on a chosen day, and fresh databases.

`db` is a SQLite file per test; `pg_db` is PostgreSQL on the machine, in a
schema of its own per test (so parallel runs never share tables); `any_db`
runs a test on both. PostgreSQL tests skip only when the server is not
reachable, and .ci/run fails the build if that happens.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid

import pytest

from core.clock import FixedClock
from core.db import Database
from core.models import Base
import core.outbox  # noqa: F401

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PG_ADMIN = PG_URL.replace("postgresql+asyncpg", "postgresql")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session", autouse=True)
def pd_keys():
    """Personal-data keys for the whole run, made up now (never a file in the repo): in the
    environment, so bot processes the e2e tests start use the same ones, and in core."""
    from core import pd

    saved = {name: os.environ.get(name) for name in ("PD_KEY", "PD_INDEX_KEY", "PD_OLD_KEYS")}
    os.environ["PD_KEY"] = pd.encode_key(pd.new_key())
    os.environ["PD_INDEX_KEY"] = pd.encode_key(pd.new_key())
    os.environ.pop("PD_OLD_KEYS", None)
    ring = pd.load_keyring(key=os.environ["PD_KEY"], index_key=os.environ["PD_INDEX_KEY"], key_dir=".")
    pd.configure(ring)
    yield ring
    pd.configure(None)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 21, 12, 0))


async def _sqlite_db(tmp_path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/test.sqlite3")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return database


async def _pg_db() -> tuple[Database, str]:
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    raw = PG_URL.replace("postgresql+asyncpg", "postgresql")
    try:
        conn = await asyncio.wait_for(asyncpg.connect(raw), timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    database = Database(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return database, schema


async def _drop_pg_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


@pytest.fixture
async def db(tmp_path):
    database = await _sqlite_db(tmp_path)
    yield database
    await database.dispose()


@pytest.fixture
async def pg_db():
    database, schema = await _pg_db()
    yield database
    await database.dispose()
    await _drop_pg_schema(schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def any_db(request, tmp_path):
    if request.param == "sqlite":
        database = await _sqlite_db(tmp_path)
        yield database
        await database.dispose()
    else:
        database, schema = await _pg_db()
        yield database
        await database.dispose()
        await _drop_pg_schema(schema)


async def reachable_redis():
    """A client of the test Redis; the test is skipped (saying "Redis") when it does not answer."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=5)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        await client.aclose()
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return client


async def delete_keys(client, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def redis():
    """The test Redis and a key prefix of this test's own (its keys deleted after)."""
    client = await reachable_redis()
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    yield client, prefix
    await delete_keys(client, prefix)
    await client.aclose()


@pytest.fixture
async def pg_database():
    """The URL of a PostgreSQL database of this test's own (created, then dropped), for bot
    processes that migrate it themselves."""
    asyncpg = pytest.importorskip("asyncpg")
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN), timeout=5)
    except Exception as exc:  # noqa: BLE001 - not reachable
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()
