"""Pacing sends at the platforms' limits (SPEC §1, "Delivery respects …").

Telegram: 25 messages a second for the whole bot (the platform allows about
30), and one message a second per chat. VK: at most 20 requests a second per
community token, in windows a little wider than VK's own second since that
limit is exact (the VK client's own limiter gates its calls too; both share
the one budget). MAX: 30 requests a second per bot token, counted the same way
(the MAX client paces every call it makes with a Pacer of its own too). A 429 / flood answer pauses the whole platform for what it
asked.

Sends are spread out, never closer than half the even spacing (per / rate / 2):
a burst of the whole second's sends in a few milliseconds would let the jitter
of the network pile two bursts into one of the server's seconds. A send that
went late (a slow batch, a late wake-up) lets the next ones catch up, so the
pace sustained is the rate itself, never more than `rate` in any `per` seconds.

The clock and the sleep are injected, so unit tests count instead of waiting.

This is the pace of one process. With REDIS_URL the processes of a deployment count in
Redis together (bot/jobs/shared_pacing.py), from the same table: a platform added here
(MAX below) is paced both ways.
"""
from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable

TELEGRAM = {"rate": 25, "per": 1.0, "per_chat": 1.05}
VK = {"rate": 20, "per": 1.1, "per_chat": 0.0}
MAX = {"rate": 28, "per": 1.0, "per_chat": 0.0}      # MAX Bot API: about 30 a second
CONSOLE = {"rate": 50, "per": 1.0, "per_chat": 0.0}  # the terminal chat: our own screen, no API
LIMITS = {"telegram": TELEGRAM, "vk": VK, "max": MAX, "console": CONSOLE}
# Slots of each window alerts leave to replies (replies go first): alerts take at most
# rate - RESERVE sends in a window, replies up to the rate, and an alert waits while replies
# use the budget. Telegram leaves one: alerts up to 24 a second across processes (the
# "processes" benchmark asks >= 22.5 of two; with two left, 23 was too close).
RESERVE = {"telegram": 1, "vk": 2, "max": 3}
DEFAULT_RESERVE = 2
MAX_WAITS = 1000  # every wait frees a slot; bounded anyway


class Pacer:
    """At most `rate` sends in any `per` seconds overall, at least per / rate / 2 apart,
    `per_chat` seconds apart per chat, and nothing while paused (after a RetryLater)."""

    def __init__(self, rate: int, per: float = 1.0, per_chat: float = 0.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if rate < 1 or per <= 0 or per_chat < 0:
            raise ValueError("rate must be >= 1, per > 0, per_chat >= 0")
        self.rate, self.per, self.per_chat = rate, per, per_chat
        self.gap = per / rate / 2
        self._clock, self._sleep = clock, sleep
        self._stamps: collections.deque[float] = collections.deque()
        self._last_in_chat: dict[str, float] = {}
        self._paused_until = 0.0

    @classmethod
    def for_platform(cls, platform: str, **kw: object) -> "Pacer":
        return cls(**LIMITS.get(platform, VK), **kw)  # type: ignore[arg-type]

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (the platform asked us to slow down)."""
        self._paused_until = max(self._paused_until, self._clock() + max(float(seconds), 0.0))

    def delay(self, chat: str) -> float:
        """How long to wait before a send to `chat` may go (0: now)."""
        now = self._clock()
        while self._stamps and self._stamps[0] <= now - self.per:
            self._stamps.popleft()
        waits = [self._paused_until - now]
        if len(self._stamps) >= self.rate:
            waits.append(self._stamps[0] + self.per - now)
        if self._stamps:
            waits.append(self._stamps[-1] + self.gap - now)
        last = self._last_in_chat.get(chat)
        if last is not None and self.per_chat:
            waits.append(last + self.per_chat - now)
        return max(0.0, *waits)

    async def wait(self, chat: str) -> float:
        """Wait until a send to `chat` may go and take its slot; returns the time waited."""
        waited = 0.0
        for _ in range(MAX_WAITS):
            pause = self.delay(chat)
            if pause <= 0:
                break
            waited += pause
            await self._sleep(pause)
        now = self._clock()
        self._stamps.append(now)
        self._last_in_chat[chat] = now
        if len(self._last_in_chat) > 10_000:  # forget chats whose second is long over
            horizon = now - max(self.per_chat, self.per)
            self._last_in_chat = {c: t for c, t in self._last_in_chat.items() if t > horizon}
        return waited
