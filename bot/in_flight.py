"""An update being handled, claimed across processes (issue 15): a copy waits for it.

A webhook update (Telegram, VK's Callback API, MAX) may reach two processes at once: the
platform re-sends it after a timeout, a load balancer retries it elsewhere. The database
already makes its *effects* happen once (core/handled_updates.py), but between the first
copy's commit and its reply going out, a second copy would find it "handled, answer not
sent" and show the screen again: a second reply. So each copy first claims the update by
(platform, event id):

  - claimed: handle it, then give the claim up;
  - claimed by another copy (this process or another): wait for it to be given up, then
    handle — the dialogs then find it handled and answered, and do nothing — and the
    endpoint answers 2xx with no effect;
  - still claimed after WAIT_SECONDS: `Busy`, and the endpoint answers 503 so that the
    platform sends it again later.

Where the claim lives:
  - Redis (REDIS_URL): `SET key token NX PX lease`, renewed while held; a process that dies
    holding it stops renewing, so the claim runs out within LEASE_SECONDS and the update,
    sent again, is handled — never lost.
  - PostgreSQL without Redis: a session-level advisory lock per update, on one connection
    the process keeps for its claims; the server frees them at once if the process dies.
  - SQLite (one process): in memory.
If Redis or the database does not answer the claim, the update is handled without it (the
database still keeps its effects once; at worst a screen is shown twice).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text

from bot import shared
from bot.config import Settings
from core.db import Database

log = logging.getLogger("bot.in_flight")

WAIT_SECONDS = 10.0     # a copy waits this long for the first to finish, then 503
LEASE_SECONDS = 15.0    # Redis: a dead holder's claim runs out after this
POLL_SECONDS = (0.02, 0.05, 0.1, 0.2)   # between tries while another copy holds it

class Busy(Exception):
    """Another copy of the update is still being handled: answer non-2xx, it comes again."""


class LocalClaims:
    """One process (SQLite): the updates in flight in this process."""

    def __init__(self) -> None:
        self.held: set[str] = set()

    async def try_claim(self, key: str) -> Any:
        if key in self.held:
            return None
        self.held.add(key)
        return key

    async def release(self, key: str, handle: Any) -> None:
        self.held.discard(key)


class RedisClaims:
    def __init__(self, redis: Any, prefix: str, lease_seconds: float = LEASE_SECONDS) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lease_ms = int(lease_seconds * 1000)
        self.token = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def try_claim(self, key: str) -> Any:
        token = f"{self.token}:{uuid.uuid4().hex[:6]}"
        if not await self.redis.set(self.prefix + key, token, nx=True, px=self.lease_ms):
            return None
        return _Renewal(self, key, token)

    async def release(self, key: str, handle: Any) -> None:
        await handle.stop()
        await self.redis.eval(shared.DELETE_IF_OWNER, 1, self.prefix + key, handle.token)


class _Renewal:
    """Keeps a Redis claim alive while its update is handled (every third of the lease)."""

    def __init__(self, claims: RedisClaims, key: str, token: str) -> None:
        self.claims, self.key, self.token = claims, key, token
        self.task = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        every = self.claims.lease_ms / 3000
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await self.claims.redis.eval(shared.EXTEND_IF_OWNER, 1, self.claims.prefix + self.key,
                                             self.token, self.claims.lease_ms)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


class PostgresClaims:
    """Session-level advisory locks, one per update, on one connection of the process's own
    (a connection per update would empty the pool under a burst). Such a lock is re-entrant
    within its session, so the process's own copies are told apart in memory first."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.local = LocalClaims()
        self.connection: Any = None
        self._turn = asyncio.Lock()    # one statement at a time on the connection

    async def try_claim(self, key: str) -> Any:
        if await self.local.try_claim(key) is None:
            return None
        try:
            got = await self._ask("SELECT pg_try_advisory_lock(:k)", key)
        except BaseException:
            await self.local.release(key, key)
            raise
        if not got:
            await self.local.release(key, key)
            return None
        return key

    async def release(self, key: str, handle: Any) -> None:
        try:
            await self._ask("SELECT pg_advisory_unlock(:k)", key)
        finally:
            await self.local.release(key, handle)

    async def close(self) -> None:
        """Give the connection back (its locks with it); at the process's end."""
        async with self._turn:
            connection, self.connection = self.connection, None
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.invalidate()   # never back to the pool holding locks
                with contextlib.suppress(Exception):
                    await connection.close()

    async def _ask(self, sql: str, key: str) -> Any:
        async with self._turn:
            if self.connection is None:
                connection = await self.db.engine.connect()
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                self.connection = connection
            try:
                return (await self.connection.execute(text(sql), {"k": _lock_key(key)})).scalar()
            except Exception:
                # The connection is gone, and its locks with it: a new one next time.
                connection, self.connection = self.connection, None
                with contextlib.suppress(Exception):
                    await connection.invalidate()
                raise


def _lock_key(key: str) -> int:
    digest = hashlib.blake2b(f"in-flight:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class InFlight:
    """`async with in_flight.claim(platform, event_id):` around handling one webhook update."""

    def __init__(self, backend: Any, wait_seconds: float = WAIT_SECONDS) -> None:
        self.backend = backend
        self.wait_seconds = wait_seconds

    async def close(self) -> None:
        closing = getattr(self.backend, "close", None)
        if closing is not None:
            await closing()

    @contextlib.asynccontextmanager
    async def claim(self, platform: str, event_id: str) -> AsyncIterator[None]:
        if not event_id:
            yield
            return
        key = f"{platform}:{event_id}"
        handle = await self._take(key)
        try:
            yield
        finally:
            if handle is not None:
                try:
                    await self.backend.release(key, handle)
                except Exception as exc:  # noqa: BLE001 - a Redis claim runs out by itself
                    log.warning("in flight: giving a claim up failed: %s", type(exc).__name__)

    async def _take(self, key: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        tries = 0
        while True:
            try:
                handle = await self.backend.try_claim(key)
            except Exception as exc:  # noqa: BLE001 - handled without the claim (effects stay once)
                log.warning("in flight: claiming an update failed (%s); handled without it", type(exc).__name__)
                return None
            if handle is not None:
                return handle
            if loop.time() >= deadline:
                raise Busy(key)
            await asyncio.sleep(POLL_SECONDS[min(tries, len(POLL_SECONDS) - 1)])
            tries += 1


def backend_for(settings: Settings, db: Database) -> Any:
    redis = shared.redis_client(settings)
    if redis is not None:
        return RedisClaims(redis, shared.prefix(settings) + "in-flight:")
    if db.sqlite:
        return LocalClaims()
    return PostgresClaims(db)


_BY_CONTEXT: dict[int, tuple[Any, InFlight]] = {}


def for_context(ctx: Any) -> InFlight:
    """The process's claims for this AppContext (one per context, shared by its adapters)."""
    entry = _BY_CONTEXT.get(id(ctx))
    if entry is None or entry[0] is not ctx:
        entry = (ctx, InFlight(backend_for(ctx.settings, ctx.db)))
        _BY_CONTEXT[id(ctx)] = entry
    return entry[1]


async def close_for_context(ctx: Any) -> None:
    """At the end of `run`: the claims' connection (PostgreSQL) given back."""
    entry = _BY_CONTEXT.pop(id(ctx), None)
    if entry is not None and entry[0] is ctx:
        await entry[1].close()
