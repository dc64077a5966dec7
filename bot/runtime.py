"""The process's shared objects: database and clock built from settings, the
context handed to every platform adapter, and waiting that a stop cuts short."""
from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.config import Settings, use_pd_keys
from core.clock import Clock, SystemClock
from core.db import Database

if TYPE_CHECKING:
    from bot.delivery import Sender


def make_clock(settings: Settings) -> SystemClock:
    return SystemClock(settings.timezone)


async def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The database at the latest schema revision (migrating is idempotent and quick), with
    the personal-data keys loaded."""
    use_pd_keys(settings)
    if migrate:
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
#   In webhook or callback mode, serve() appends its aiohttp routes to ctx.http_routes before
#   its first await; the one HTTP server (bot/http_server.py) serves them beside /healthz and
#   /metrics.

@dataclass
class AppContext:
    settings: Settings
    db: Database
    clock: Clock
    dialogs: Any  # bot.dialogs.engine.Dialogs
    senders: dict[str, "Sender"] = field(default_factory=dict)
    http_routes: list[Any] = field(default_factory=list)  # aiohttp.web.RouteDef


def keep_startup_objects_out_of_gc() -> None:
    """Once started (libraries imported, schemas built), move every object alive so far out of
    the garbage collector's reach (`gc.freeze`): they live as long as the process, and each full
    collection used to walk them all, pausing every reply in flight for ~150 ms about every
    1.5 s under load (seen with asyncio's slow-callback log during the e2e benchmark)."""
    gc.collect()
    gc.freeze()


async def until_stopped(stop: asyncio.Event, coro: Any) -> tuple[bool, Any]:
    """Run `coro` unless `stop` comes first: (finished, result)."""
    task = asyncio.ensure_future(coro)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task in done:
        return True, task.result()
    task.cancel()
    try:
        await task
    except BaseException:  # noqa: BLE001 - cancelled on purpose
        pass
    return False, None
