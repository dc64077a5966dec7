"""The one HTTP server of a bot process (aiohttp): the webhooks, GET /healthz and GET /metrics.

Started by bot/app.py when an adapter appended routes to `ctx.http_routes` (a webhook or
callback mode is on) or HTTP_PORT is set explicitly (then in polling mode too), on
HTTP_HOST:HTTP_PORT (default 127.0.0.1:8080; a reverse proxy with TLS goes in front).

Adding a route (an adapter's webhook): in serve(), before its first await,
    ctx.http_routes.append(aiohttp.web.post("/the/path", handler))
The server is started after every adapter had that turn, so the routes are all there.

/healthz answers from the last background check (every CHECK_EVERY seconds, each probe
bounded by PROBE_TIMEOUT): 200 with {"status": "ok", "database": "ok", "redis": "ok"} when the
database, and Redis if REDIS_URL is set, answered; else 503 with the one that did not. A
check older than STALE_AFTER counts as failed, so a stuck probe also turns it 503. The
process stays up either way: the checks go on and /healthz turns 200 when they answer again.

/metrics: every metric of bot/metrics.py in Prometheus text format; the outbox gauge is read
from the database at that moment (bounded).

Stopping (SIGTERM): the listening socket closes first, the requests already accepted are
handled and answered (up to SHUTDOWN_SECONDS), then the connections close.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot import metrics
from bot.runtime import AppContext

log = logging.getLogger("bot.http")

CHECK_EVERY = 1.0        # seconds between health checks
PROBE_TIMEOUT = 1.5      # one probe (database or Redis) may take this long
STALE_AFTER = 4.0        # a check older than this counts as failed
METRICS_DB_TIMEOUT = 2.0
SHUTDOWN_SECONDS = 7.0   # requests in flight may finish within this on stop


class Health:
    """The database's and Redis's state, probed in the background."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.state: dict[str, str] = {"database": "unknown"}
        self.checked_at = 0.0
        self._redis: Any = None
        if ctx.settings.redis_url:
            import redis.asyncio as redis

            self.state["redis"] = "unknown"
            self._redis = redis.Redis.from_url(ctx.settings.redis_url, socket_timeout=PROBE_TIMEOUT,
                                               socket_connect_timeout=PROBE_TIMEOUT)

    async def check(self) -> None:
        probes = {"database": self._database()}
        if self._redis is not None:
            probes["redis"] = self._redis.ping()
        results = await asyncio.gather(*(self._bounded(probe) for probe in probes.values()))
        self.state = dict(zip(probes, results))
        self.checked_at = time.monotonic()
        for name, result in self.state.items():
            metrics.HEALTHY.labels(name).set(1 if result == "ok" else 0)

    async def _database(self) -> None:
        async with self.ctx.db.read() as session:
            await session.execute(text("SELECT 1"))

    @staticmethod
    async def _bounded(probe: Any) -> str:
        try:
            await asyncio.wait_for(probe, timeout=PROBE_TIMEOUT)
        except asyncio.TimeoutError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - any failure is "not answering"
            return f"error: {type(exc).__name__}"
        return "ok"

    def report(self) -> tuple[bool, dict[str, str]]:
        state = dict(self.state)
        if time.monotonic() - self.checked_at > STALE_AFTER:
            state = {name: (value if value != "ok" else "stale") for name, value in state.items()}
        healthy = all(value == "ok" for value in state.values())
        return healthy, {"status": "ok" if healthy else "unavailable", **state}

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.check()
            await asyncio.sleep(CHECK_EVERY)

    async def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()


class HttpServer:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.health = Health(ctx)
        self.app = web.Application()
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/metrics", self.metrics)
        self.app.router.add_routes(ctx.http_routes)
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS,
                                    handle_signals=False)
        self._checks: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self.ctx.settings
        await self.health.check()
        self._checks = asyncio.create_task(self.health.run(), name="healthz")
        await self.runner.setup()
        site = web.TCPSite(self.runner, settings.http_host, settings.http_port, reuse_address=True)
        await site.start()
        paths = ", ".join(sorted({route.path for route in self.ctx.http_routes}))
        log.info("HTTP: serving on %s:%d (/healthz, /metrics%s)", settings.http_host, settings.http_port,
                 f", {paths}" if paths else "")

    async def stop(self) -> None:
        """Stop listening, let the accepted requests be answered (bounded), close."""
        try:
            await self.runner.cleanup()
        finally:
            if self._checks is not None:
                self._checks.cancel()
                with contextlib.suppress(BaseException):
                    await self._checks
            await self.health.close()

    async def healthz(self, request: web.Request) -> web.Response:
        healthy, body = self.health.report()
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        await self._read_outbox()
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _read_outbox(self) -> None:
        from core.outbox import PENDING, counts

        async def read() -> int:
            async with self.ctx.db.read() as session:
                return (await counts(session)).get(PENDING, 0)

        try:
            metrics.OUTBOX_PENDING.set(await asyncio.wait_for(read(), timeout=METRICS_DB_TIMEOUT))
        except Exception as exc:  # noqa: BLE001 - the other metrics are still worth serving
            log.debug("outbox count for /metrics failed: %s", type(exc).__name__)


def wanted(ctx: AppContext) -> bool:
    """The server runs when an adapter serves a webhook, or HTTP_PORT was set explicitly."""
    return bool(ctx.http_routes) or ctx.settings.http_port_set


async def start(ctx: AppContext) -> HttpServer | None:
    """Start the server if it is wanted (after every adapter appended its routes)."""
    if not wanted(ctx):
        return None
    server = HttpServer(ctx)
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        raise RuntimeError(f"cannot listen on {ctx.settings.http_host}:{ctx.settings.http_port}: "
                           f"{exc.strerror or exc}") from None
    return server
