"""`run` serves the platforms until SIGINT/SIGTERM (bot/app.py `_serve_until_stopped`): a
clean stop exits 0 — also when a platform ends the moment it is told to stop, as VK's
Callback API mode does — while a platform that fails or ends by itself exits 1."""
from __future__ import annotations

import asyncio

from bot.app import _serve_until_stopped


async def serve_until_told(stop: asyncio.Event) -> None:
    await stop.wait()              # nothing to finish: ends at once (VK in callback mode)


async def finish_after_stop(stop: asyncio.Event) -> None:
    await stop.wait()
    await asyncio.sleep(0.01)      # answers what it accepted first (Telegram's webhook)


async def serve(*platforms) -> tuple[int, asyncio.Event]:  # noqa: ANN002
    stop = asyncio.Event()
    tasks = {asyncio.create_task(platform(stop)): platform.__name__ for platform in platforms}
    asyncio.get_running_loop().call_soon(stop.set)        # the signal
    return await asyncio.wait_for(_serve_until_stopped(tasks, stop), timeout=5), stop


async def test_a_stop_signal_exits_0_even_when_a_platform_ends_at_once():
    for order in ((serve_until_told, finish_after_stop), (finish_after_stop, serve_until_told),
                  (serve_until_told,)):
        code, _ = await serve(*order)
        assert code == 0, order


async def test_a_platform_that_fails_exits_1_and_stops_the_others():
    async def failing(stop: asyncio.Event) -> None:
        raise RuntimeError("Telegram refused TELEGRAM_BOT_TOKEN")

    stop = asyncio.Event()
    other = asyncio.create_task(serve_until_told(stop))
    tasks = {asyncio.create_task(failing(stop)): "telegram", other: "vk"}
    assert await asyncio.wait_for(_serve_until_stopped(tasks, stop), timeout=5) == 1
    assert stop.is_set() and other.done()


async def test_a_platform_that_ends_by_itself_before_any_signal_exits_1():
    async def ends(stop: asyncio.Event) -> None:
        return None

    stop = asyncio.Event()
    tasks = {asyncio.create_task(ends(stop)): "max", asyncio.create_task(serve_until_told(stop)): "vk"}
    assert await asyncio.wait_for(_serve_until_stopped(tasks, stop), timeout=5) == 1
