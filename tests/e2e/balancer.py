"""A small round-robin load balancer on 127.0.0.1, in front of several bot processes.

Every POST is forwarded to the next upstream in turn, with its path, query, body and headers;
an upstream that refuses the connection (a dead process) is skipped for the next one, as a
real balancer does. The client (the fake Telegram or VK) gets the answer of the upstream that
took it, and re-sends on a failure or a non-2xx answer by itself.

To show that each update is handled once whichever process gets it, the balancer also sends
copies, as a platform does when an answer is lost (`copies`):
  - every `again_every`-th request answered 2xx is sent once more, to the next upstream,
    after that answer (a re-sent update that was already handled);
  - every `twin_every`-th request goes to two upstreams at once (a copy arriving while the
    first is still being handled); the client gets the first upstream's answer.
Each copy's status is recorded in `copies` (path, status; None: the connection failed).
"""
from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from tests.e2e.ports import serve_on_free_port

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
TIMEOUT = 30.0


@dataclass
class Copy:
    path: str
    kind: str            # "again" | "twin"
    status: int | None


class Balancer:
    def __init__(self, upstreams: list[int], *, again_every: int = 0, twin_every: int = 0) -> None:
        self.upstreams = list(upstreams)
        self.again_every = again_every
        self.twin_every = twin_every
        self.copies: list[Copy] = []
        self.forwarded: dict[int, int] = {port: 0 for port in self.upstreams}   # answered per upstream
        self._turn = itertools.count()
        self._requests = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "Balancer":
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("POST", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self.port = await serve_on_free_port(self._runner)
        return self

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=2)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        target = request.path_qs
        number = next(self._requests)
        first = next(self._turn)
        if self.twin_every and number % self.twin_every == 0:
            twin = asyncio.create_task(self._copy("twin", first + 1, target, body, headers))
            self._background.add(twin)
            twin.add_done_callback(self._background.discard)
        status, answer = await self._send(first, target, body, headers)
        if status is None:
            return web.Response(status=502, text="no upstream answered")
        if self.again_every and number % self.again_every == 0 and 200 <= status < 300:
            await self._copy("again", first + 1, target, body, headers)
        return web.Response(status=status, body=answer)

    async def _copy(self, kind: str, turn: int, target: str, body: bytes, headers: dict[str, str]) -> None:
        status, _ = await self._send(turn, target, body, headers)
        self.copies.append(Copy(target, kind, status))

    async def _send(self, turn: int, target: str, body: bytes,
                    headers: dict[str, str]) -> tuple[int | None, bytes]:
        """To the upstream whose turn it is, or the next ones if it refuses the connection."""
        assert self._session is not None
        for step in range(len(self.upstreams)):
            port = self.upstreams[(turn + step) % len(self.upstreams)]
            try:
                async with self._session.post(f"http://127.0.0.1:{port}{target}", data=body,
                                              headers=headers) as response:
                    answer = await response.read()
                    self.forwarded[port] += 1
                    return response.status, answer
            except aiohttp.ClientConnectorError:
                continue            # nobody listening there: the next upstream
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return None, b""    # accepted, then lost: the client sends it again
        return None, b""
