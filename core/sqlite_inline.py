"""aiosqlite without its thread: SQLite statements run in the event loop's own thread.

aiosqlite hands every call (execute, fetch, commit…) to a worker thread and waits for the
answer. On the machines this bot was measured on that round trip costs about 0.5 ms, while
the statements themselves take 5–50 µs: a step of a dialog (six or so calls) spent nearly all
of its time handing work between threads. Here the same `aiosqlite.Connection` API (which
SQLAlchemy's aiosqlite dialect drives) runs each call at once, in the caller's thread.

What the thread was also good for is waiting: while another *process* (an import from the
command line, say) holds SQLite's write lock, `BEGIN IMMEDIATE` is told "busy". SQLite's own
busy handler would sleep inside the call and freeze the whole bot, so the busy timeout is
zero and the wait happens here instead, with `asyncio.sleep`, for up to `BUSY_WAIT` seconds.
Writers within one process never get that far: before `BEGIN IMMEDIATE` they queue on an
asyncio lock shared by the engine's connections, held until COMMIT or ROLLBACK.

Durability. The database runs with `synchronous=NORMAL`: a commit is not flushed to disk,
which makes it about 25 times cheaper, and a crash of the process still loses nothing. Only
a power cut could roll back the newest commits. That is harmless for the rows in
`RELAXED_TABLES` (a dialog's place, an alert's "sent" mark) but not for money or a parent's
data, so a transaction that wrote anything else has the write-ahead log flushed
(`fdatasync`) before its commit returns, which is what `synchronous=FULL` would do.
"""
from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from functools import partial
from types import SimpleNamespace
from typing import Any

import aiosqlite

BUSY_WAIT = 60.0            # seconds a statement may wait for another process's write lock
_FIRST_PAUSE, _MAX_PAUSE = 0.001, 0.05
RELAXED_TABLES = frozenset({"dialog_states", "outbox", "alert_watermarks"})
_READS = ("SELECT", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "EXPLAIN")
_WRITE_TARGET = re.compile(
    r"\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+[\"`\[]?(\w+)",
    re.IGNORECASE)
_DML = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_BEGIN_WRITE = re.compile(r"\s*BEGIN\s+(IMMEDIATE|EXCLUSIVE)", re.IGNORECASE)


class WriterQueue:
    """The engine's writers, one at a time, in the order they asked. A writer that waits
    longer than BUSY_WAIT gets SQLite's own "database is locked" error."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None

    async def acquire(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        if not self._lock.locked():
            await self._lock.acquire()  # free: no timer needed (wait_for costs a task)
            return
        try:
            await asyncio.wait_for(self._lock.acquire(), BUSY_WAIT)
        except asyncio.TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    def release(self) -> None:
        if self._lock is not None and self._lock.locked():
            self._lock.release()


def must_be_durable(sql: str) -> bool:
    """Would losing this statement's effect in a power cut lose money or a parent's data?"""
    head = sql.lstrip()[:9].upper()
    if head.startswith(_READS):
        return False
    if head.startswith("WITH") and not _DML.search(sql):
        return False  # a query with common table expressions
    target = _WRITE_TARGET.match(sql)
    return target is None or target.group(1).lower() not in RELAXED_TABLES


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


class _RunAtOnce:
    """Stands in for aiosqlite's queue to the worker thread: runs each item as it is put."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future | None, Any]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run in the caller's thread, waiting out "busy"."""

    def __init__(self, connector: Any, iter_chunk_size: int, wal_path: str | None,
                 writers: WriterQueue) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunAtOnce()  # type: ignore[assignment] - the thread is never started
        self._wal_path = wal_path
        self._writers = writers
        self._writing = False     # holds the writers' lock (between BEGIN IMMEDIATE and the end)
        self._unflushed = False   # this transaction wrote something that must survive a power cut

    def __await__(self) -> Any:
        return self._connect().__await__()

    async def commit(self) -> None:
        await self._execute(self._conn.commit)
        if self._unflushed:
            self._unflushed = False
            self._flush_wal()
        self._stop_writing()

    async def rollback(self) -> None:
        self._unflushed = False
        try:
            await self._execute(self._conn.rollback)
        finally:
            self._stop_writing()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._stop_writing()

    def _stop_writing(self) -> None:
        if self._writing:
            self._writing = False
            self._writers.release()

    def _flush_wal(self) -> None:
        if self._wal_path is None:
            return
        try:
            fd = os.open(self._wal_path, os.O_RDONLY)
        except FileNotFoundError:  # checkpointed and removed: already in the database file
            return
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if args and isinstance(args[0], str):
            if not self._writing and _BEGIN_WRITE.match(args[0]):
                await self._writers.acquire()
                self._writing = True
                try:
                    return await self._run(fn, *args, **kwargs)
                except BaseException:
                    self._stop_writing()  # no transaction began: let the next writer in
                    raise
            if not self._unflushed:
                self._unflushed = must_be_durable(args[0])
        return await self._run(fn, *args, **kwargs)

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        deadline = None
        pause = _FIRST_PAUSE
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
                now = time.monotonic()
                deadline = deadline or now + BUSY_WAIT
                if now >= deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE)


def connect(database: str, *, writers: WriterQueue, iter_chunk_size: int = 64,
            **kwargs: Any) -> InlineConnection:
    kwargs["timeout"] = 0                  # busy: wait in _execute, not inside SQLite
    kwargs["check_same_thread"] = False    # the pool may close it from a finaliser
    in_memory = database == ":memory:" or str(database).startswith("file::memory:") or not database
    wal_path = None if in_memory else os.path.abspath(str(database)) + "-wal"
    return InlineConnection(partial(sqlite3.connect, database, **kwargs), iter_chunk_size, wal_path,
                            writers)


def dbapi() -> Any:
    """The DBAPI module for SQLAlchemy's aiosqlite dialect (`create_async_engine(module=…)`);
    one per engine, since its connections share one queue of writers."""
    from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

    module = SimpleNamespace(**{name: getattr(aiosqlite, name) for name in dir(aiosqlite)
                                if not name.startswith("__")})
    module.connect = partial(connect, writers=WriterQueue())
    module.Connection = InlineConnection
    return AsyncAdapt_aiosqlite_dbapi(module, sqlite3)  # type: ignore[arg-type]
