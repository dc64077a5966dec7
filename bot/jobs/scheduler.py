"""APScheduler 3 inside `python -m bot run` (bot/app.py calls `start(ctx)`).

An AsyncIOScheduler with the default in-memory job store and the jobs defined
here in code; the truth lives in our own tables (JobRun markers, outbox rows),
so every job is idempotent and nothing needs a persistent job store. When this
process takes the jobs lock (bot/jobs/leader.py: at start, or later when the holder
died), a one-off catch-up runs what the calendar missed meanwhile, once. Every
process schedules the jobs; only the lock's holder runs them.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import metrics
from bot.jobs import shared_pacing, tasks
from bot.jobs.delivery import Deliverer
from bot.jobs.leader import Leader, lease_for, renew_every
from bot.runtime import AppContext

log = logging.getLogger("bot.jobs.scheduler")

STOP_GRACE_SECONDS = 5.0   # a message in flight may finish and be marked sent
HOLD_EXPIRY_SECONDS = 300  # a seat held 24 hours passes on within 5 minutes of running out
# Platforms whose adapter counts every call in the shared pace itself (VK's and MAX's clients,
# Telegram's request middleware): the alert only waits for its turn (AlertGate).
GATED_BY_ADAPTER = {"vk", "telegram", "max"}
PRUNE_SECONDS = 3600       # handled update ids older than two days are forgotten hourly


class Jobs:
    """The scheduler and what its jobs share; `shutdown()` is the app's stop hook."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.deliverer = Deliverer(ctx.db, ctx.clock, ctx.senders, make_pacer=shared_pace(ctx))
        self.scheduler = AsyncIOScheduler(timezone=ctx.clock.tz)
        self.running: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self.leader = Leader(lease_for(ctx.settings, ctx.db), every=renew_every(ctx.settings),
                             on_gain=self.catch_up)

    def guarded(self, name: str, job: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self.stopping or not self.leader.held:
                return   # another process holds the jobs lock
            task = asyncio.current_task()
            if task is not None:
                self.running.add(task)
            try:
                await job()
                metrics.JOB_RUNS.labels(name, "ok").inc()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a job failing must not stop the scheduler
                # The type and where only: messages and SQL parameters may hold personal data.
                where = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)[-4:]))
                log.error("job %s failed: %s\n%s", name, type(exc).__name__, where)
                metrics.JOB_RUNS.labels(name, "failed").inc()
            finally:
                if task is not None:
                    self.running.discard(task)
        run.__name__ = f"job_{name.replace('-', '_')}"
        return run

    def add(self, name: str, trigger: Any, job: Callable[[], Awaitable[Any]], **kw: Any) -> None:
        self.scheduler.add_job(self.guarded(name, job), trigger, id=name, name=name, coalesce=True,
                               max_instances=1, replace_existing=True, **kw)

    def start(self) -> "Jobs":
        ctx, tz = self.ctx, self.ctx.clock.tz
        now = dt.datetime.now(tz)
        self.add("notify", IntervalTrigger(seconds=ctx.settings.notify_interval_seconds, timezone=tz),
                 lambda: tasks.notify(ctx.db, ctx.clock, self.deliverer),
                 next_run_time=now + dt.timedelta(seconds=1), misfire_grace_time=None)
        self.add("settle-month", CronTrigger(day=1, hour=0, minute=5, timezone=tz),
                 lambda: tasks.run_settle_month(ctx.db, ctx.clock), misfire_grace_time=3600)
        self.add("year-rollover", CronTrigger(month=1, day=1, hour=0, minute=10, timezone=tz),
                 lambda: tasks.run_year_rollover(ctx.db, ctx.clock), misfire_grace_time=3600)
        self.add("hold-expiry", IntervalTrigger(seconds=HOLD_EXPIRY_SECONDS, timezone=tz),
                 lambda: tasks.run_expire_holds(ctx.db, ctx.clock), misfire_grace_time=None)
        self.add("year-end", CronTrigger(month=12, day=",".join(map(str, tasks.YEAR_END_DAYS)),
                                         hour=10, minute=0, timezone=tz),
                 lambda: tasks.run_year_end(ctx.db, ctx.clock), misfire_grace_time=3600)
        self.add("prune-handled", IntervalTrigger(seconds=PRUNE_SECONDS, timezone=tz),
                 lambda: tasks.prune_handled(ctx.db, ctx.clock), misfire_grace_time=None)
        self.scheduler.start()
        log.info("scheduler: alerts every %ds; calendar in %s", ctx.settings.notify_interval_seconds, tz.key)
        return self

    def catch_up(self) -> None:
        """The jobs lock was taken: run what the calendar missed, once, right away."""
        ctx = self.ctx
        self.add("catch-up", DateTrigger(run_date=dt.datetime.now(ctx.clock.tz)),
                 lambda: tasks.catch_up(ctx.db, ctx.clock), misfire_grace_time=None)

    async def shutdown(self) -> None:
        """Stop taking new jobs, give the jobs lock up at once, let a message in flight finish
        (bounded), then cancel."""
        self.stopping = True
        self.deliverer.stopping = True
        await self.leader.stop()
        with contextlib.suppress(Exception):
            self.scheduler.pause()
        if self.running:
            await asyncio.wait(set(self.running), timeout=STOP_GRACE_SECONDS)
        with contextlib.suppress(Exception):
            self.scheduler.shutdown(wait=False)  # runs on the loop's next turn (call_soon_threadsafe)
        await asyncio.sleep(0)
        late = [task for task in self.running if not task.done()]
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=2)


def shared_pace(ctx: AppContext) -> Callable[[str], Any] | None:
    """With REDIS_URL, the alerts' pace per platform counted with every process's (VK: a gate
    in front of the adapter's own counting, bot/jobs/shared_pacing.py); None: in memory."""
    if not ctx.settings.redis_url.strip():
        return None

    def make(platform: str) -> Any:
        pacer = shared_pacing.shared_pacer(ctx.settings, platform)
        if pacer is not None and platform in GATED_BY_ADAPTER:
            return shared_pacing.AlertGate(pacer)
        return pacer
    return make


async def start(ctx: AppContext) -> Jobs:
    """Schedule the jobs, try the jobs lock once (the catch-up runs at once if taken), then
    keep trying and renewing in the background."""
    jobs = Jobs(ctx).start()
    await jobs.leader.step()
    jobs.leader.start()
    return jobs
