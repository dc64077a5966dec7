"""Every Prometheus metric of the process, served as text at GET /metrics (bot/http_server.py).

All metric objects live here, in prometheus_client's default registry, and the code that
counts imports them: `from bot import metrics` then one line where the thing happens, e.g.
`metrics.UPDATES.labels(platform, "ok").inc()`. Labels are closed sets (platform names,
outcomes, job names), never a user id or a text: a label value per parent would grow the
registry without bound, and a parent's id is theirs.

One process, one registry: several bot processes are several scrape targets, summed by
Prometheus (`sum by (platform) (rate(bot_updates_total[5m]))`).
"""
from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram

T = TypeVar("T")

# Updates (Telegram updates, VK events, …) handled, by platform and outcome:
#   ok         handled and answered;
#   error      handling or answering failed (a webhook answers 5xx: the platform sends it again);
#   duplicate  a copy of an update already handled (once-only handling), answered with nothing.
UPDATES = Counter("bot_updates", "Updates handled, by platform and outcome", ["platform", "outcome"])

# The time from an input to its reply being ready (the dialog step: database included,
# sending not), by platform.
STEP_SECONDS = Histogram("bot_step_seconds", "Dialog step latency (input to reply ready), seconds",
                         ["platform"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

# Outbox rows waiting to be sent; read from the database when /metrics is scraped.
OUTBOX_PENDING = Gauge("bot_outbox_pending", "Outbox messages waiting to be sent")

# Alerts sent by the delivery worker (bot/jobs/delivery.py), by platform and result:
#   sent, blocked (the parent blocked the bot), retry (transient, tried again later),
#   failed (for good), throttled (the platform said 429: waited and tried again).
SENDS = Counter("bot_sends", "Alert sends, by platform and result", ["platform", "result"])

# Every 429 (flood limit) a platform answered, replies and alerts alike.
RATE_LIMITED = Counter("bot_rate_limited", "Answers 429 (too many requests) from a platform", ["platform"])

# Scheduled job runs (bot/jobs/scheduler.py), by job name and outcome (ok, failed).
JOB_RUNS = Counter("bot_job_runs", "Scheduled job runs, by job and outcome", ["job", "outcome"])

# 1 in the process that holds the jobs lock (runs the periodic jobs), 0 elsewhere.
JOBS_LEADER = Gauge("bot_jobs_leader", "1 when this process holds the jobs lock")

# /healthz's view: 1 when the dependency answered the last check.
HEALTHY = Gauge("bot_dependency_up", "1 when the dependency answered the last health check", ["dependency"])


async def step(platform: str, awaitable: Awaitable[T]) -> T:
    """Await a dialog step, timing it into STEP_SECONDS:
    `reply = await metrics.step(PLATFORM, dialogs.handle(PLATFORM, user, inp))`."""
    with STEP_SECONDS.labels(platform).time():
        return await awaitable
