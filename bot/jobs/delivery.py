"""The delivery worker: pending outbox rows → messages, paced, exactly once.

One message in flight per platform at a time; each is marked sent in its own
unit of work right after the send succeeded, before the next send starts, so a
crash repeats at most that one message and loses none. Screens are built for
SCREEN_BATCH messages at a time in one read unit of work (the moot ones dropped
in one write), and rebuilt when older than SCREEN_MAX_AGE by the time their turn
comes (a slow pace, a platform's pause). Failures (bot/delivery.py):
  RetryLater    the platform is paused for what it asked and the same message retried
                (bounded); still refused → it stays pending for the next run;
  Blocked       the parent is marked unreachable (their alerts pause), the row failed;
  TransientError  attempts counted, retried later with bounded exponential backoff,
                failed after MAX_ATTEMPTS;
  other         failed at once (a bad request does not get better by repeating it).
With several processes on PostgreSQL each message's rows are claimed first
(core/outbox_claims.py): a message another process claimed is skipped.
Logs name parent ids and counts only, never texts, names or SNILS.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot import metrics
from bot.delivery import Blocked, DeliveryError, RetryLater, Sender, TransientError
from bot.dialogs.screen import Screen
from bot.jobs import screens
from bot.jobs.pacing import Pacer
from core import outbox, outbox_claims, reachability
from core.clock import Clock
from core.db import Database

log = logging.getLogger("bot.jobs.delivery")

RETRY_LATER_TIMES = 5        # RetryLater answers waited out for one message in one run
MAX_PAUSE_SECONDS = 60.0     # a longer retry_after ends the run; the rows stay pending
ROUNDS = 1000                # batches per run (each up to BATCH parents); bounded anyway
BATCH = 200
SCREEN_BATCH = 50            # screens built in one read unit of work
SCREEN_MAX_AGE = 1.0         # seconds: an older screen is built again before it is sent


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    retried: int = 0
    throttled: int = 0
    dropped: int = 0

    def add(self, other: "DeliveryReport") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Deliverer:
    """Long-lived (the scheduler keeps one): its pacers remember the platforms' windows."""

    def __init__(self, db: Database, clock: Clock, senders: dict[str, Sender], *,
                 pacers: dict[str, Pacer] | None = None,
                 make_pacer: Callable[[str], Any] | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.db = db
        self.clock = clock
        self.senders = senders  # looked up on every run: adapters register theirs late
        self.pacers: dict[str, Pacer] = dict(pacers or {})
        self.make_pacer = make_pacer  # a platform's shared pace (Redis), or None: in memory
        self._monotonic = monotonic
        self._sleep = sleep
        self.stopping = False  # set on shutdown: finish the message in flight, take no more

    def pacer(self, platform: str) -> Pacer:
        if platform not in self.pacers:
            shared = self.make_pacer(platform) if self.make_pacer is not None else None
            self.pacers[platform] = shared or Pacer.for_platform(platform, clock=self._monotonic, sleep=self._sleep)
        return self.pacers[platform]

    async def run(self, max_seconds: float = 600.0) -> DeliveryReport:
        """Send everything due now on every platform that has a sender (platforms in parallel)."""
        report = DeliveryReport()
        async with self.db.write() as session:
            report.dropped += await outbox.drop_moot(session, self.clock)
        platforms = sorted(self.senders)
        if not platforms:
            return report
        results = await asyncio.gather(*(self._run_platform(p, max_seconds) for p in platforms))
        for result in results:
            report.add(result)
        return report

    async def _run_platform(self, platform: str, max_seconds: float) -> DeliveryReport:
        report = DeliveryReport()
        deadline = self._monotonic() + max_seconds
        for _ in range(ROUNDS):
            if self.stopping:
                break
            async with self.db.read() as session:
                units = await outbox.due_units(session, [platform], self.clock, BATCH)
            if not units:
                break
            while units:
                if self.stopping or self._monotonic() > deadline:
                    return report
                built_at = self._monotonic()
                batch = await self._screens(units[:SCREEN_BATCH], report)
                units = units[SCREEN_BATCH:]
                for n, (unit, screen) in enumerate(batch):
                    if self.stopping or self._monotonic() > deadline:
                        return report
                    if n and self._monotonic() - built_at > SCREEN_MAX_AGE:
                        units = [u for u, _ in batch[n:]] + units  # built again, fresh
                        break
                    if not await self.deliver(unit, screen, report):
                        return report  # the platform asked for a long pause: later runs continue
        return report

    async def _screens(self, units: list[outbox.Unit], report: DeliveryReport) -> list[tuple[outbox.Unit, Screen]]:
        """The screens of `units`, built in one read; units with nothing left to say are
        dropped (one write) and left out."""
        async with self.db.read() as session:
            built = await screens.build_many(session, units, self.clock.today(), self.clock.tz, self.clock.now())
        moot = [unit for unit, screen in zip(units, built) if screen is None]
        if moot:
            async with self.db.write() as session:
                await outbox.mark_dropped(session, moot, "moot")
            report.dropped += len(moot)
        return [(unit, screen) for unit, screen in zip(units, built) if screen is not None]

    async def deliver(self, unit: outbox.Unit, screen: Screen, report: DeliveryReport) -> bool:
        """Send one message and record the outcome; False if this platform should stop for now."""
        sender = self.senders.get(unit.platform)
        if sender is None:
            return False
        if not await outbox_claims.claim(self.db, unit, self.clock):
            return True   # another process is sending it
        pacer = self.pacer(unit.platform)
        for _ in range(RETRY_LATER_TIMES):
            await pacer.wait(unit.user_id)
            try:
                await sender.send(unit.user_id, screen)
            except RetryLater as exc:
                report.throttled += 1
                metrics.SENDS.labels(unit.platform, "throttled").inc()
                log.info("%s asked to wait %.1fs (parent %d)", unit.platform, exc.seconds, unit.parent_id)
                pacer.pause(min(exc.seconds, MAX_PAUSE_SECONDS))
                if exc.seconds > MAX_PAUSE_SECONDS:
                    await outbox_claims.give_back(self.db, unit, self.clock.now())
                    return False
                continue
            except Blocked:
                async with self.db.write() as session:
                    await reachability.mark_unreachable_by_id(session, unit.parent_id, self.clock)
                    await outbox.mark_failed(session, unit, "blocked", self.clock)
                report.blocked += 1
                metrics.SENDS.labels(unit.platform, "blocked").inc()
                report.failed += 1
                log.info("parent %d blocked the bot on %s: alerts paused", unit.parent_id, unit.platform)
                return True
            except TransientError as exc:
                await self._retry(unit, f"transient: {exc}", report)
                return True
            except DeliveryError as exc:
                async with self.db.write() as session:
                    await outbox.mark_failed(session, unit, f"error: {exc}", self.clock)
                report.failed += 1
                metrics.SENDS.labels(unit.platform, "failed").inc()
                log.warning("alert to parent %d failed for good: %s", unit.parent_id, type(exc).__name__)
                return True
            except Exception as exc:  # noqa: BLE001 - an unknown failure is retried, bounded
                await self._retry(unit, f"unexpected: {type(exc).__name__}", report)
                return True
            await outbox.record_sent(self.db, unit, self.clock)
            report.sent += 1
            metrics.SENDS.labels(unit.platform, "sent").inc()
            return True
        await outbox_claims.give_back(self.db, unit, self.clock.now())
        return True  # still throttled: the rows stay pending, the next run tries again

    async def _retry(self, unit: outbox.Unit, reason: str, report: DeliveryReport) -> None:
        async with self.db.write() as session:
            again = await outbox.mark_retry(session, unit, reason, self.clock)
        if again:
            report.retried += 1
        else:
            report.failed += 1
        metrics.SENDS.labels(unit.platform, "retry" if again else "failed").inc()
        log.info("alert to parent %d: %s (%s)", unit.parent_id, reason.split(":")[0],
                 "will retry" if again else "gave up")
