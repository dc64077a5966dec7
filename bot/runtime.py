"""Building the process's shared objects from settings: database, clock."""
from __future__ import annotations

from bot.config import Settings
from core.clock import SystemClock
from core.db import Database


def make_clock(settings: Settings) -> SystemClock:
    return SystemClock(settings.timezone)


async def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The database at the latest schema revision (migrating is idempotent and quick)."""
    if migrate:
        import asyncio

        from bot.migrate import upgrade

        await asyncio.to_thread(upgrade, settings.database_url)
    return Database(settings.database_url)
