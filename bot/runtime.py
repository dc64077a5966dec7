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


# --- The process's shared objects, handed to every platform adapter ---------
#
# Adapter contract (bot/handlers/telegram.py, bot/handlers/vk.py):
#   async def serve(ctx: AppContext, stop: asyncio.Event) -> None
#       serve updates until `stop` is set, then return cleanly;
#   def make_sender(ctx: AppContext) -> bot.delivery.Sender
#       a Sender for alerts; serve() registers it in ctx.senders[platform].
from dataclasses import dataclass, field  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from core.clock import Clock  # noqa: E402

if TYPE_CHECKING:
    from bot.delivery import Sender


@dataclass
class AppContext:
    settings: Settings
    db: Database
    clock: Clock
    dialogs: Any  # bot.dialogs.engine.Dialogs
    senders: dict[str, "Sender"] = field(default_factory=dict)
