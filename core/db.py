"""Engine, sessions and units of work, for SQLite (embedded) and PostgreSQL.

Writers that touch money must be serialised per certificate. PostgreSQL
does it with `SELECT … FOR UPDATE` (see `lock`); SQLite ignores FOR UPDATE,
so there every write transaction starts with BEGIN IMMEDIATE, taking the
database's write lock before the first read of a balance.

SQLite is driven by stock aiosqlite through SQLAlchemy's `sqlite+aiosqlite` dialect: each
statement runs in the connection's worker thread and the event loop runs meanwhile, however
long the statement. Waiting for the write lock:
- writers of this process queue on an asyncio lock (`WriterTurns`), taken just before
  `BEGIN IMMEDIATE` and given back when the connection returns to the pool after COMMIT or
  ROLLBACK, in the order they came, so they never poll SQLite's lock against each other;
- another process's writer (an import from the command line) is waited out by SQLite's busy
  timeout (`BUSY_TIMEOUT`), which sleeps in the worker thread, not in the event loop.

Durability. SQLite runs in WAL mode with `synchronous=NORMAL`: a commit is not flushed to
disk, which makes it many times cheaper, and a crash of the process still loses nothing;
only a power cut could roll back the newest commits. The unit of work decides whether that
is acceptable (`Database.write`, `mark_durable`): whatever it wrote, except the rows of
models declared `@not_durable` (a dialog's place, an alert's delivery bookkeeping), has the
write-ahead log flushed (`fdatasync`, off the event loop) before `write()` returns, which is
what `synchronous=FULL` would do. PostgreSQL commits are durable already.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import TextClause, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.sql import Select

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/bot.sqlite3"
BUSY_TIMEOUT = 60.0   # seconds a writer may wait for the write lock (another process's or ours)

T = TypeVar("T")
# Set in a session's info by `mark_erased`: Database.write checkpoints after its commit.
ERASED = "erased_personal_data"
CHECKPOINT_ATTEMPTS = 5

log = logging.getLogger("core.db")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _database_file(url: str) -> str | None:
    """The SQLite database's file, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


class WriterTurns:
    """This process's SQLite writers, one at a time, in the order they asked. A writer that
    waits longer than BUSY_TIMEOUT gets SQLite's own "database is locked" error."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None

    async def take(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        if not self._lock.locked():
            await self._lock.acquire()
            return
        try:
            async with asyncio.timeout(BUSY_TIMEOUT):
                await self._lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    def give_back(self) -> None:
        if self._lock is not None and self._lock.locked():
            self._lock.release()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        path = _database_file(url)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", BUSY_TIMEOUT)   # sleeps in the driver's thread
        # Let SQLAlchemy, not the sqlite3 module, emit BEGIN (see "begin" below).
        connect_args.setdefault("isolation_level", None)
        engine = create_async_engine(url, connect_args=connect_args, **kwargs)
        _serialise_sqlite_writers(engine, WriterTurns())  # one engine per process
        return engine
    # Connections beyond pool_size are opened for one unit of work and closed after it: with
    # 10 kept, a burst of a hundred parents spent most of its time connecting (benchmark 1's
    # state-only step: 5.2 ms -> 2.9 ms per update with 20 kept).
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(url, **kwargs)


_HOLDS_TURN = "core.db.holds_turn"   # in a pooled connection's record_info


def _serialise_sqlite_writers(engine: AsyncEngine, writers: WriterTurns) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted and overwritten content (an erased child's data) is zeroed, not left in free space.
        cursor.execute("PRAGMA secure_delete=ON")
        # A process crash loses nothing; what must survive a power cut is flushed by
        # Database.write (see the module's docstring).
        cursor.execute("PRAGMA synchronous=NORMAL")
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except Exception:  # pragma: no cover - e.g. in-memory databases
            pass
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not conn.get_execution_options().get("write"):
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        pooled = conn.connection
        # An awaitable inside SQLAlchemy's synchronous event: AdaptedConnection.run_async.
        pooled.dbapi_connection.run_async(lambda _driver: writers.take())
        pooled.record_info[_HOLDS_TURN] = True
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # Back in the pool: the transaction ended (COMMIT, ROLLBACK, or the connection closed).
        if record.record_info.pop(_HOLDS_TURN, False):
            writers.give_back()


# --- durability ------------------------------------------------------------------

_DURABLE = "core.db.durable"          # key in Session.info: this unit of work must be flushed
_NOT_DURABLE: set[type] = set()       # models whose rows may lag behind a power cut
_NOT_DURABLE_TABLES: set[str] = set()
M = TypeVar("M", bound=type)


def not_durable(model: M) -> M:
    """Class decorator: rows of this model may be set back a step by a power cut (a dialog's
    place, delivery bookkeeping). A unit of work writing only such rows skips the flush to
    disk. Every other model is durable, including ones added later."""
    _NOT_DURABLE.add(model)
    _NOT_DURABLE_TABLES.add(model.__table__.name)  # type: ignore[attr-defined]
    return model


def mark_durable(session: AsyncSession | Session) -> None:
    """This unit of work must reach the disk before it returns (for writes the session's
    events cannot see, e.g. statements run on `session.connection()`)."""
    session.info[_DURABLE] = True


def is_durable(session: AsyncSession | Session) -> bool:
    return bool(session.info.get(_DURABLE))


# The sessions of `Database.write`: a sessionmaker of their own, so that the durability events
# below apply to them and to no other session (SQLAlchemy's documented way to scope events).
_units = sessionmaker()


@event.listens_for(_units, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    if session.info.get(_DURABLE):
        return
    for changed in (session.new, session.dirty, session.deleted):
        if any(type(instance) not in _NOT_DURABLE for instance in changed):
            session.info[_DURABLE] = True
            return


@event.listens_for(_units, "do_orm_execute")
def _executing(state: ORMExecuteState) -> None:
    """`session.execute(insert/update/delete(...))` writes without a flush; decide by the
    table it writes. A textual statement could write anything: durable."""
    if state.session.info.get(_DURABLE) or state.is_select:
        return
    statement = state.statement
    if state.is_insert or state.is_update or state.is_delete:
        if statement.table.name in _NOT_DURABLE_TABLES:  # type: ignore[attr-defined]
            return
    elif not isinstance(statement, TextClause):
        return  # neither DML nor SQL text: nothing written
    state.session.info[_DURABLE] = True


def _fdatasync(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # checkpointed and removed: it is in the database file, synced
        return
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


class Database:
    """One per process: the engine and the two kinds of unit of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self.engine = make_engine(url, **engine_kwargs)
        database_file = _database_file(url) if self.sqlite else None
        self.wal_path = None if database_file is None else database_file + "-wal"
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(self.engine.execution_options(write=True), expire_on_commit=False,
                                          sync_session_class=_units.class_)

    @contextlib.asynccontextmanager
    async def write(self, durable: bool = False) -> AsyncIterator[AsyncSession]:
        """A transaction that commits on success and writes nothing on error. When it wrote
        money or personal data (or `durable`), it is on disk when this returns. One that
        erased personal data (`mark_erased`) checkpoints the files after its commit."""
        async with self._writer() as session:
            if durable:
                mark_durable(session)
            async with session.begin():
                yield session
            flush = is_durable(session)
            erased = session.info.pop(ERASED, False)
        if flush and self.wal_path is not None:
            await asyncio.to_thread(_fdatasync, self.wal_path)
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
