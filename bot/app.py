"""`python -m bot run` and `python -m bot chat`: the whole bot in one process.

run: migrate, load the demo catalog into an empty database, then serve every
configured platform (Telegram, VK, or both side by side) plus the scheduler,
until SIGINT/SIGTERM. With no platform configured it says how to connect one
and opens the terminal chat instead.

chat (and run without a platform): the terminal chat, with the scheduler beside
it so that alerts due to the terminal parent print at its prompt. The terminal
is then the conversation, so the log goes to the data folder's bot.log
(bot/logfile.py); with messengers it stays on stderr, the operator's console.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bot import log_privacy, logfile
from bot.config import Settings
from bot.runtime import AppContext, keep_startup_objects_out_of_gc, make_clock, open_database

log = logging.getLogger("bot.app")

CONNECT_HINT = ("No messenger is configured: set TELEGRAM_BOT_TOKEN, VK_GROUP_TOKEN and VK_GROUP_ID, "
                "or MAX_BOT_TOKEN in .env to connect one. Meanwhile, here is the bot in this terminal.")
LOG_HINT = "The log goes to {path}."
SHUTDOWN_SECONDS = 8.0   # after SIGTERM, the platforms may finish what they accepted (exit within 10 s)

Serve = Callable[[AppContext, asyncio.Event], Awaitable[None]]


def run(settings: Settings) -> int:
    problem = settings.webhook_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr, flush=True)
        return 2
    from bot.process_lock import AlreadyRunning, single_process

    try:
        with single_process(settings.database_url):
            return _run_alone(settings)
    except AlreadyRunning as refused:
        print(refused, file=sys.stderr, flush=True)
        return 1


def _run_alone(settings: Settings) -> int:
    if settings.telegram_enabled:
        from bot import lean_aiogram

        lean_aiogram.start()  # before the adapter imports aiogram: its schemas built on first use
    if not platforms(settings):
        with logfile.to_file(settings) as path:  # before the event loop logs its first line
            print(CONNECT_HINT, flush=True)
            print(LOG_HINT.format(path=path), flush=True)
            return _main(_terminal(settings))
    return _main(_run(settings))


def chat(settings: Settings) -> int:
    with logfile.to_file(settings) as path:
        print(LOG_HINT.format(path=path), flush=True)
        return _main(_terminal(settings))


def _main(coro: Awaitable[int]) -> int:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except KeyboardInterrupt:  # Ctrl-C before our signal handlers were in place
        return 0


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not possible off the main thread (tests) or on Windows: Ctrl-C then ends via KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


async def _context(settings: Settings) -> AppContext:
    log_privacy.install()   # also when started other than by bot/cli.py
    if not (settings.pd_operator_name.strip() and settings.pd_operator_address.strip()):
        log.warning("PD_OPERATOR_NAME / PD_OPERATOR_ADDRESS are empty: the consent document shows a placeholder")
    from bot.dialogs.engine import Dialogs

    db = await open_database(settings)
    clock = make_clock(settings)
    return AppContext(settings=settings, db=db, clock=clock, dialogs=Dialogs(db, clock, settings))


async def _warm_up_search(ctx: AppContext) -> None:
    """Build the search statements before the first parent searches (core.catalog.warm_up);
    searching works without it, so a failure here only costs the first searches time."""
    from core.catalog import warm_up

    try:
        async with ctx.db.read() as session:
            ran = await warm_up(session, ctx.clock)
    except Exception as exc:  # noqa: BLE001 - an optimisation must not stop the bot
        log.warning("catalog: building the search statements failed (%s); searches build them", type(exc).__name__)
        return
    log.info("catalog: %d search statements built", ran)


async def _load_demo_if_empty(ctx: AppContext) -> None:
    from core.demo import seed_demo_if_empty

    report = await seed_demo_if_empty(ctx.db, ctx.clock)
    if report is not None:
        log.info("empty catalog: loaded the demo catalog (%d programs)", report.created + report.updated)


def platforms(settings: Settings) -> list[tuple[str, Serve]]:
    """The configured platforms' serve functions; each adapter is imported only when enabled."""
    found: list[tuple[str, Serve]] = []
    if settings.telegram_enabled:
        from bot.handlers import telegram

        found.append(("telegram", telegram.serve))
    if settings.vk_enabled:
        from bot.handlers import vk

        found.append(("vk", vk.serve))
    if settings.max_enabled:
        from bot.handlers import max as max_adapter

        found.append(("max", max_adapter.serve))
    return found


async def start_scheduler(ctx: AppContext) -> Any:
    """bot.jobs.scheduler.start(ctx) when that module exists; None otherwise."""
    try:
        scheduler = importlib.import_module("bot.jobs.scheduler")
    except ModuleNotFoundError as exc:
        if exc.name != "bot.jobs.scheduler":  # the module is there but something it needs is not
            log.error("scheduler not started: %s", exc)
        return None
    started = scheduler.start(ctx)
    if inspect.isawaitable(started):
        started = await started
    return started


async def stop_scheduler(handle: Any) -> None:
    if handle is None:
        return
    try:
        result = handle.shutdown()
        if inspect.isawaitable(result):
            await result
    except Exception as exc:  # noqa: BLE001 - shutting down anyway
        log.warning("scheduler shutdown failed: %s", type(exc).__name__)


async def _run(settings: Settings) -> int:
    from bot import http_server

    stop = asyncio.Event()
    _stop_on_signals(stop)
    _warn_without_redis(settings)
    ctx = await _context(settings)
    scheduler = None
    http: Any = None
    stopping: asyncio.Task[None] | None = None
    try:
        await _load_demo_if_empty(ctx)
        await _warm_up_search(ctx)
        serving = platforms(settings)
        tasks = {asyncio.create_task(serve(ctx, stop), name=name): name for name, serve in serving}
        # Each adapter registers its sender and appends its webhook routes before its first
        # await: after this turn the scheduler finds the senders and the server the routes.
        await asyncio.sleep(0)
        try:
            http = await http_server.start(ctx)
        except RuntimeError as exc:  # cannot listen on HTTP_HOST:HTTP_PORT
            print(f"error: {exc}", file=sys.stderr, flush=True)
            stop.set()
            if tasks:
                await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
            return 1
        scheduler = await start_scheduler(ctx)
        stopping = asyncio.create_task(_stop_server_and_jobs(stop, http, scheduler))
        keep_startup_objects_out_of_gc()
        log.info("serving: %s", ", ".join(tasks.values()))
        return await _serve_until_stopped(tasks, stop)
    finally:
        stop.set()
        if stopping is not None:
            await stopping
        else:
            await stop_scheduler(scheduler)
            if http is not None:
                await http.stop()
        from bot import in_flight

        await in_flight.close_for_context(ctx)
        await ctx.db.dispose()
        await _close_shared()


async def _close_shared() -> None:
    from bot import shared

    await shared.close_clients()


def _warn_without_redis(settings: Settings) -> None:
    if not settings.redis_url.strip() and not settings.database_url.startswith("sqlite"):
        log.warning("REDIS_URL is empty: fine for one process; several processes on this PostgreSQL "
                    "database each keep the platforms' pace on their own (set REDIS_URL to share it)")


async def _stop_server_and_jobs(stop: asyncio.Event, http: Any, scheduler: Any) -> None:
    """On stop, at once and side by side: the scheduler stops (releasing the jobs lock) and the
    HTTP server stops listening and answers the requests it accepted; the platforms finish
    meanwhile (_serve_until_stopped)."""
    await stop.wait()
    parts = [stop_scheduler(scheduler)]
    if http is not None:
        parts.append(http.stop())
    for result in await asyncio.gather(*parts, return_exceptions=True):
        if isinstance(result, BaseException):
            log.warning("stopping failed: %s", type(result).__name__)


async def _terminal(settings: Settings) -> int:
    """The terminal chat with the scheduler beside it: its alerts print at the chat's prompt."""
    from bot.handlers import console

    stop = asyncio.Event()
    _stop_on_signals(stop)
    ctx = await _context(settings)
    scheduler = None
    try:
        await _load_demo_if_empty(ctx)
        await _warm_up_search(ctx)
        console.register_sender(ctx)  # before the scheduler's first delivery run looks for it
        scheduler = await start_scheduler(ctx)
        await console.serve(ctx, stop)
        return 0
    finally:
        await stop_scheduler(scheduler)
        await ctx.db.dispose()
        await _close_shared()


async def _serve_until_stopped(tasks: dict[asyncio.Task[None], str], stop: asyncio.Event) -> int:
    """Wait for a stop signal; a platform that fails, or ends before the signal, stops the others
    (exit 1). A platform that ends because of the signal (VK's callback mode does at once) is
    not a failure."""
    stopper = asyncio.create_task(stop.wait())
    code = 0
    try:
        done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stopper:
                continue
            error = task.exception()
            if error is not None:
                print(f"error: {tasks[task]}: {error}", file=sys.stderr, flush=True)
                log.debug("platform failed", exc_info=error)
                code = 1
            elif not stop.is_set():
                log.warning("%s stopped by itself", tasks[task])
                code = 1
            # else: it returned because it was told to stop (it may end before `stopper` wakes)
    finally:
        stop.set()
        stopper.cancel()
        pending = [task for task in tasks if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=SHUTDOWN_SECONDS)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=2)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None and code == 0:
                print(f"error: {tasks[task]}: {task.exception()}", file=sys.stderr, flush=True)
                code = 1
    return code
