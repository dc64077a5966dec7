"""Start and stop the real bot process (`python -m bot run`) for end-to-end tests.

Shared by the Telegram and VK e2e tests. The process runs in its own working
directory (so no stray `.env` is read), with only the environment a test
gives it on top of a scrubbed copy of ours; its stdout/stderr go to files in
that directory for debugging. Every wait is bounded; `stop()` is always safe
to call, and the `bot_process` context managers clean up even when a test
fails half-way.

    async with running_bot(tmp_path, {"TELEGRAM_BOT_TOKEN": ..., ...},
                           ready=lambda: fake.seen("setMyCommands")) as proc:
        ...
        proc.kill()              # SIGKILL, as a crash
        await proc.restart(ready=...)
"""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Settings the bot reads (bot/config.py); a test states the ones it wants.
_SCRUBBED_PREFIXES = ("TELEGRAM_", "VK_", "MAX_", "HTTP_", "DATABASE_URL", "REDIS_URL", "NOTIFY_", "ADMIN_IDS", "TIMEZONE",
                      "JOBS_")

Ready = Callable[[], bool | Awaitable[bool]]


class BotProcessError(AssertionError):
    """The bot did not start, or died: the message carries the tail of its stderr."""


def bot_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: our own minus the bot's settings, plus a SQLite file in `workdir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}"
    # Keep alert polling slow unless a test asks otherwise.
    env.setdefault("NOTIFY_INTERVAL_SECONDS", "3600")
    env.update(extra or {})
    return env


class BotProcess:
    def __init__(self, workdir: Path, env: dict[str, str], args: tuple[str, ...] = ("run",)) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = bot_env(self.workdir, env)
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def database_path(self) -> Path:
        url = self.env["DATABASE_URL"]
        return Path(url.split(":///", 1)[1])

    @property
    def stdout_path(self) -> Path:
        return self.workdir / f"bot-{self.starts}.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / f"bot-{self.starts}.stderr.log"

    def start(self) -> None:
        if self.running:
            raise BotProcessError("the bot is already running")
        self.starts += 1
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", *self.args],
                cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def output(self) -> str:
        """Everything the current run printed (stdout then stderr)."""
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            if path.exists():
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    def _tail(self, limit: int = 4000) -> str:
        return self.output()[-limit:]

    async def wait_ready(self, ready: Ready, timeout: float = 30.0) -> None:
        """Poll `ready()` until true; fail early with the bot's stderr if it exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise BotProcessError(f"the bot exited with {self.returncode} before it was ready:\n{self._tail()}")
            result = ready()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)
        raise BotProcessError(f"the bot was not ready within {timeout}s:\n{self._tail()}")

    async def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return self.returncode
            await asyncio.sleep(0.05)
        return None

    async def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait (bounded), then SIGKILL. Returns the exit code of the graceful stop, or None if killed."""
        if not self.running:
            return self.returncode
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = await self.wait_exit(timeout)
        if code is None:
            self.kill()
            return None
        return code

    def kill(self) -> None:
        """SIGKILL the bot (its whole process group), as a crash would; waits until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - the kernel did not reap it
            pass

    async def restart(self, ready: Ready | None = None, timeout: float = 30.0) -> None:
        if self.running:
            await self.stop()
        self.start()
        if ready is not None:
            await self.wait_ready(ready, timeout)


@contextlib.asynccontextmanager
async def running_bot(workdir: Path, env: dict[str, str], ready: Ready | None = None,
                      timeout: float = 30.0, args: tuple[str, ...] = ("run",)) -> AsyncIterator[BotProcess]:
    """A started (and, with `ready`, ready) bot, stopped and killed if need be on exit."""
    bot = BotProcess(workdir, env, args)
    bot.start()
    try:
        if ready is not None:
            await bot.wait_ready(ready, timeout)
        yield bot
    finally:
        try:
            await bot.stop()
        finally:
            bot.kill()
