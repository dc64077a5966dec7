"""Engine, sessions and units of work, for SQLite (embedded) and PostgreSQL.

Writers that touch money must be serialised per certificate. PostgreSQL
does it with `SELECT … FOR UPDATE` (see `lock`); SQLite ignores FOR UPDATE,
so there every write transaction starts with BEGIN IMMEDIATE, taking the
database's write lock before the first read of a balance. SQLite statements run in the
event loop's own thread: see core/sqlite_inline.py for why, and how writers wait.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Select

from core import sqlite_inline

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/bot.sqlite3"

T = TypeVar("T")
# Set in a session's info by `mark_erased`: Database.write checkpoints after its commit.
ERASED = "erased_personal_data"
CHECKPOINT_ATTEMPTS = 5

log = logging.getLogger("core.db")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("module", sqlite_inline.dbapi())
        engine = create_async_engine(url, **kwargs)
        _serialise_sqlite_writers(engine)
        return engine
    # Connections beyond pool_size are opened for one unit of work and closed after it: with
    # 10 kept, a burst of a hundred parents spent most of its time connecting (benchmark 1's
    # state-only step: 5.2 ms -> 2.9 ms per update with 20 kept).
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(url, **kwargs)


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, emit BEGIN (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted and overwritten content (an erased child's data) is zeroed, not left in free space.
        cursor.execute("PRAGMA secure_delete=ON")
        # A process crash loses nothing; money is flushed at commit (core/sqlite_inline.py).
        cursor.execute("PRAGMA synchronous=NORMAL")
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except Exception:  # pragma: no cover - e.g. in-memory databases
            pass
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One per process: the engine and the two kinds of unit of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self.engine = make_engine(url, **engine_kwargs)
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(
            self.engine.execution_options(write=True), expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits on success and writes nothing on error.
        One that erased personal data (`mark_erased`) checkpoints the files after its commit."""
        async with self._writer() as session:
            async with session.begin():
                yield session
            erased = session.info.pop(ERASED, False)
        if erased:
            await self.checkpoint()

    async def checkpoint(self) -> bool:
        """SQLite: copy the write-ahead log into the database file and empty the log, so the
        pages an erase overwrote leave no older copy in the log. True when done in full
        (a reader still on an old snapshot holds part of it back). Nothing to do on PostgreSQL."""
        if not self.sqlite:
            return True
        for attempt in range(CHECKPOINT_ATTEMPTS):
            if attempt:
                await asyncio.sleep(0.02 * attempt)   # readers of older snapshots finish quickly
            async with self.engine.connect() as conn:
                busy, _log, _done = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
                await conn.commit()
            if busy == 0:
                return True
        log.warning("checkpoint after an erase not complete: readers held the log; "
                    "the next checkpoint folds it")
        return False

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            async with session.begin():
                yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def mark_erased(session: AsyncSession) -> None:
    """This unit of work erases personal data: no copy may stay in the database's files."""
    session.info[ERASED] = True


def data_dir(url: str) -> Path:
    """The folder of the SQLite database (where the personal-data key file lives); ./data otherwise."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            return Path(database).resolve().parent
    return Path("data").resolve()


def lock(stmt: Select[Any]) -> Select[Any]:
    """Row lock for PostgreSQL; on SQLite the write transaction already holds
    the database lock (BEGIN IMMEDIATE) and FOR UPDATE compiles to nothing."""
    return stmt.with_for_update()
