"""Periodic jobs in exactly one process: a lock with a lease, renewed while held.

The lease is JOBS_LEASE_SECONDS (default 30 s); every process tries (takes or renews) every
third of it (`renew_every`).
- Redis (REDIS_URL set): `SET key token NX PX lease`, renewed by a script that extends it
  only while the key still holds this process's token; released (deleted, same check) at
  shutdown. A holder that dies stops renewing: its key expires after the lease and another
  process, trying every third of it, takes over — within 4/3 of the lease (40 s by default)
  of the death.
- PostgreSQL without Redis: a session-level advisory lock held by a connection of its own,
  checked every third of the lease. A holder that dies closes its connection and the server
  frees the lock at once; another process takes it at its next try.
- SQLite: one process only (bot/process_lock.py), which always holds the jobs.

`Leader.run` keeps trying until stopped; `held` is what the jobs look at before each run,
and the gauge bot_jobs_leader shows it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from bot import shared
from bot.config import Settings
from bot.metrics import JOBS_LEADER
from core.db import Database

log = logging.getLogger("bot.jobs.leader")

LEASE_SECONDS = 30.0      # JOBS_LEASE_SECONDS's default
RENEW_SECONDS = 10.0      # a third of it
JOBS_LOCK_KEY = 0x6A6F6273  # "jobs": the advisory lock's key on PostgreSQL

class LocalLease:
    """One process on the database (SQLite): always the holder."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RedisLease:
    def __init__(self, redis: Any, key: str, lease_seconds: float = LEASE_SECONDS) -> None:
        self.redis = redis
        self.key = key
        self.lease_ms = int(lease_seconds * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    async def acquire(self) -> bool:
        """Take the lock, or extend it if held; False if another process has it."""
        if self.held:
            self.held = bool(await self.redis.eval(shared.EXTEND_IF_OWNER, 1, self.key, self.token,
                                                   self.lease_ms))
        if not self.held:
            self.held = bool(await self.redis.set(self.key, self.token, nx=True, px=self.lease_ms))
        return self.held

    async def release(self) -> None:
        if self.held:
            self.held = False
            await self.redis.eval(shared.DELETE_IF_OWNER, 1, self.key, self.token)


class PostgresLease:
    def __init__(self, db: Database, key: int = JOBS_LOCK_KEY) -> None:
        self.db = db
        self.key = key
        self.connection: Any = None

    async def acquire(self) -> bool:
        if self.connection is not None:
            try:
                await self.connection.execute(text("SELECT 1"))
                return True
            except Exception:  # noqa: BLE001 - the connection is gone, and the lock with it
                await self._drop()
        connection = await self.db.engine.connect()
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            got = (await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})).scalar()
        except BaseException:
            await connection.close()
            raise
        if got:
            self.connection = connection
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            await self._drop()

    async def _drop(self) -> None:
        connection, self.connection = self.connection, None
        with contextlib.suppress(Exception):
            await connection.invalidate()   # never back to the pool holding a lock
        with contextlib.suppress(Exception):
            await connection.close()


def renew_every(settings: Settings) -> float:
    """How often a process tries the lock: a third of the lease (two renewals may fail in a row)."""
    return settings.jobs_lease_seconds / 3


def lease_for(settings: Settings, db: Database) -> LocalLease | RedisLease | PostgresLease:
    redis = shared.redis_client(settings)
    if redis is not None:
        return RedisLease(redis, shared.prefix(settings) + "jobs-leader", settings.jobs_lease_seconds)
    if db.sqlite:
        return LocalLease()
    return PostgresLease(db)


class Leader:
    """Keeps trying to hold the lease; `held` says whether this process runs the jobs."""

    def __init__(self, lease: Any, *, every: float = RENEW_SECONDS,
                 on_gain: Callable[[], Awaitable[None] | None] | None = None) -> None:
        self.lease = lease
        self.every = every
        self.on_gain = on_gain
        self.held = False
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def step(self) -> bool:
        """One try (take or renew); a failure of Redis or the database counts as not held."""
        try:
            held = await self.lease.acquire()
        except Exception as exc:  # noqa: BLE001 - retried at the next step
            log.warning("jobs lock: %s; not running jobs until it answers", type(exc).__name__)
            held = False
        if held != self.held:
            log.info("jobs lock %s", "taken: this process runs the jobs" if held else "lost")
            self.held = held
            JOBS_LEADER.set(1 if held else 0)
            if held and self.on_gain is not None:
                result = self.on_gain()
                if asyncio.iscoroutine(result):
                    await result
        return held

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="jobs-leader")

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self.step()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.every)

    async def stop(self) -> None:
        """Stop renewing and give the lock up at once (another process takes it next try)."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self.held = False
        JOBS_LEADER.set(0)
        try:
            await self.lease.release()
        except Exception as exc:  # noqa: BLE001 - the lease runs out by itself
            log.warning("jobs lock: release failed (%s); it expires by itself", type(exc).__name__)
