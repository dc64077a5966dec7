"""What the processes of one deployment share besides the database: Redis (REDIS_URL).

Every key starts with `prefix(settings)`, derived from DATABASE_URL: the processes of one
deployment agree on it, and two deployments (or two tests with their own databases) on one
Redis never touch each other's keys. Nothing here ever flushes a database.
"""
from __future__ import annotations

import hashlib
from typing import Any

from bot.config import Settings

REDIS_TIMEOUT = 5.0   # seconds for connecting and for each command

# Lua scripts for a key holding an owner's token (a lock with a lease): KEYS[1] the key,
# ARGV[1] the owner's token; each acts only while the key still holds that token.
EXTEND_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
DELETE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

_CLIENTS: dict[tuple[str, int], Any] = {}   # (url, id of the event loop) → client


def prefix(settings: Settings) -> str:
    digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
    return f"certbot:{digest}:"


def redis_client(settings: Settings) -> Any | None:
    """The process's redis.asyncio client for REDIS_URL (None without it): one per URL and
    event loop (a client's connections belong to the loop that opened them)."""
    import asyncio

    url = settings.redis_url.strip()
    if not url:
        return None
    try:
        loop = id(asyncio.get_running_loop())
    except RuntimeError:   # built before the loop runs (its first command then binds it)
        loop = 0
    key = (url, loop)
    client = _CLIENTS.get(key)
    if client is None:
        from redis.asyncio import Redis

        client = Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        _CLIENTS[key] = client
    return client


async def close_clients() -> None:
    """At the end of the event loop: its clients' connections closed."""
    import asyncio

    loop = id(asyncio.get_running_loop())
    mine = [key for key in _CLIENTS if key[1] == loop]
    for key in mine:
        client = _CLIENTS.pop(key)
        try:
            await client.aclose()
        except Exception:  # noqa: BLE001 - closing anyway
            pass
