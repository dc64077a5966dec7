"""The platforms' pace for all processes together, counted in Redis (REDIS_URL).

Each platform has one sliding window in Redis: a sorted set of the sends of the last `per`
seconds (bot/jobs/pacing.py LIMITS), stamped with Redis's own clock so every process
agrees on the time. A Lua script checks and takes a slot atomically:
  - nothing while the platform is paused (a 429 / flood answer seen by any process);
  - every send at least per / rate / 2 after the newest (a second's sends in one burst let
    the delays of the processes and the network pile two windows into one of the
    platform's seconds: 30 replies in a second seen by a fake Telegram, 429s, before this);
  - replies take a slot while the window holds fewer than `rate` sends;
  - alerts only while it holds fewer than `rate - RESERVE`: replies always find room, and an
    alert waits when replies took the budget;
  - every send, reply or alert, `per_chat` after the last send to its chat (Telegram's one
    message a second per chat, whichever process sent it);
  - otherwise the script says how many milliseconds to wait, and the caller tries again.
So in any `per` seconds no more than `rate` sends leave all processes together.

`SharedPacer` holds the window. `SharedLimiter` is the gate every call of an adapter that
sends or edits a message passes (Telegram's request middleware, VK's and MAX's clients):
each takes a reply slot, in the order the calls came in this process; a call whose chat's
second is not over steps out of the queue for the rest of it, so the calls to other chats
behind it are not held up. The delivery worker
waits at an `AlertGate` first (alerts' budget, per-chat spacing, no slot taken), then its
send passes the adapter's gate like a reply, so every call is counted once, a message of
several parts included. If Redis does not answer, each falls back to its in-memory pace
(logged), so the bot keeps talking, at one process's pace.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bot.jobs.pacing import DEFAULT_RESERVE, LIMITS, RESERVE, VK, Pacer

log = logging.getLogger("bot.jobs.pacing")

MAX_WAITS = 1000   # every wait frees a slot; bounded anyway

# KEYS: window, chat, pause. ARGV: per_ms, limit, per_chat_ms, gap_ms, member, take (1/0).
# Returns 0 when the slot was taken (or, take=0, is free), else the milliseconds to wait:
# negative when it is the chat's second that is not over (the window may have room).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local per_chat, gap = tonumber(ARGV[3]), tonumber(ARGV[4])
local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then return paused end
if per_chat > 0 then
  local chat = redis.call('PTTL', KEYS[2])
  if chat > 0 then return -chat end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local freeing = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  return math.max(tonumber(freeing[2]) + per - now, 1)
end
if gap > 0 and n > 0 then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local wait = tonumber(newest[2]) + gap - now
  if wait > 0 then return wait end
end
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], per + 1000)
end
if per_chat > 0 and ARGV[6] == '1' then redis.call('SET', KEYS[2], '1', 'PX', per_chat) end
return 0
"""


class SharedPacer:
    """One platform's pace in Redis, shared by every process whose keys start with `prefix`."""

    def __init__(self, redis: Any, prefix: str, platform: str, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        limits = LIMITS.get(platform, VK)
        self.redis = redis
        self.platform = platform
        self.rate, self.per, self.per_chat = int(limits["rate"]), float(limits["per"]), float(limits["per_chat"])
        self.reserve = min(RESERVE.get(platform, DEFAULT_RESERVE), self.rate - 1)
        self.keys = f"{prefix}pace:{platform}"
        self._sleep = sleep
        self._monotonic = monotonic
        self._names = (f"{os.getpid()}.{uuid.uuid4().hex[:6]}.{n}" for n in itertools.count())
        self._script: Any = None
        self._local = Pacer(self.rate, self.per, self.per_chat, clock=monotonic, sleep=sleep)
        self._paused_until = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _try(self, chat: str, reply: bool, take: bool = True) -> float:
        """0 when a slot was taken, else seconds to wait."""
        return abs(await self._attempt(chat, reply, take))

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def _attempt(self, chat: str, reply: bool, take: bool) -> float:
        """As `_try`, negative when the chat's second is what is not over."""
        if self._script is None:
            self._script = self.redis.register_script(_TAKE)
        limit = self.rate if reply else self.rate - self.reserve
        per_chat = int(self.per_chat * 1000) if chat else 0
        gap = int(self.per / self.rate / 2 * 1000)
        waited = await self._script(
            keys=[f"{self.keys}:window", f"{self.keys}:chat:{chat}", f"{self.keys}:paused"],
            args=[int(self.per * 1000), limit, per_chat, gap, next(self._names), "1" if take else "0"])
        return int(waited) / 1000

    async def wait(self, chat: str, *, reply: bool = False, take: bool = True,
                   chat_busy: Callable[[float], None] | None = None) -> float:
        """Wait until a send to `chat` may go and take its slot (`take`=False: leave the slot
        to the gate that sends); returns the time waited. With `chat_busy`, a chat whose
        second is not over is not waited for here: it is told how long is left, and the
        call returns without a slot (the gate waits outside its queue, then comes again)."""
        waited = 0.0
        for _ in range(MAX_WAITS):
            pause = self._paused_until - self._monotonic()
            if pause <= 0:
                try:
                    pause = await self._attempt(str(chat), reply, take)
                    if pause < 0 and chat_busy is not None:
                        chat_busy(-pause)
                        return waited
                    pause = abs(pause)
                except Exception as exc:  # noqa: BLE001 - Redis down: this process's own pace
                    log.warning("pacing: Redis did not answer (%s); pacing %s in this process only",
                                type(exc).__name__, self.platform)
                    return waited + await self._local.wait(str(chat))
            if pause <= 0:
                return waited
            waited += pause
            await self._sleep(pause)
        return waited

    def pause(self, seconds: float) -> None:
        """Nothing goes to the platform from any process for `seconds` (it asked to slow down)."""
        seconds = max(float(seconds), 0.0)
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)
        self._local.pause(seconds)
        if seconds > 0:
            task = asyncio.ensure_future(self._pause_everywhere(seconds))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pause_everywhere(self, seconds: float) -> None:
        try:
            await self.redis.set(f"{self.keys}:paused", "1", px=max(int(seconds * 1000), 1))
        except Exception as exc:  # noqa: BLE001 - this process pauses anyway
            log.warning("pacing: pausing in Redis failed (%s)", type(exc).__name__)


class SharedLimiter:
    """The gate of an adapter's calls: each takes a reply slot of the shared pace, first come,
    first served in this process (asyncio.Lock wakes its waiters in order). `acquire()` for
    VK's client, `wait(chat)` and `pause(seconds)` where a Pacer was (MAX's client, Telegram's
    request middleware)."""

    def __init__(self, pacer: SharedPacer) -> None:
        self.pacer = pacer
        self._turn = asyncio.Lock()

    async def wait(self, chat: str = "") -> float:
        waited = 0.0
        for _ in range(MAX_WAITS):
            busy: list[float] = []
            async with self._turn:
                waited += await self.pacer.wait(str(chat), reply=True, chat_busy=busy.append)
            if not busy:
                return waited
            waited += busy[0]
            await self.pacer.sleep(busy[0])     # the chat's second, out of the queue
        return waited

    async def acquire(self) -> None:
        await self.wait()

    def pause(self, seconds: float) -> None:
        self.pacer.pause(seconds)


class AlertGate:
    """The delivery worker's pace with REDIS_URL, where the adapter's gate counts every call: the
    alert waits for the per-chat spacing and for room below rate - RESERVE, taking no slot
    (the adapter's gate takes it), so an alert is never counted twice."""

    def __init__(self, pacer: SharedPacer) -> None:
        self.pacer = pacer

    async def wait(self, chat: str) -> float:
        return await self.pacer.wait(chat, take=False)

    def pause(self, seconds: float) -> None:
        self.pacer.pause(seconds)


def shared_gate(settings: Any, platform: str) -> SharedLimiter | None:
    """The gate of an adapter's sends when REDIS_URL is set; None otherwise."""
    pacer = shared_pacer(settings, platform)
    return SharedLimiter(pacer) if pacer is not None else None


def shared_pacer(settings: Any, platform: str) -> SharedPacer | None:
    """The platform's shared pace when REDIS_URL is set; None otherwise (in-memory pace)."""
    from bot import shared

    redis = shared.redis_client(settings)
    if redis is None:
        return None
    return SharedPacer(redis, shared.prefix(settings), platform)
