"""Loopback ports for the end-to-end tests: a free one for a bot process to listen on, and an
aiohttp app (the fakes, the balancer) served on one the system picks."""
from __future__ import annotations

import socket

from aiohttp import web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def serve_on_free_port(runner: web.AppRunner) -> int:
    """Start the set-up `runner` on 127.0.0.1 at a port the system picks; returns the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    return port
