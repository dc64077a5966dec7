"""One `run` process per SQLite database: a second one is refused with a clear message.

SQLite serialises its writers inside one process (core/db.py) and the jobs, the outbox and
the platforms' pace are not shared between processes without PostgreSQL and Redis. The lock
is an exclusive `flock` on `bot.lock` in the data folder, held for the life of the process
and freed by the system however the process ends (a crash included).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from core.db import data_dir, is_sqlite

LOCK_NAME = "bot.lock"
REFUSED = ("error: another bot process is already running on the SQLite database {database} "
           "(lock file {path}). Several processes need PostgreSQL (DATABASE_URL) and Redis (REDIS_URL); "
           "on SQLite run one process.")


class AlreadyRunning(RuntimeError):
    pass


@contextlib.contextmanager
def single_process(database_url: str) -> Iterator[Path | None]:
    """Hold the data folder's lock while the body runs (SQLite only; None otherwise)."""
    if not is_sqlite(database_url):
        yield None
        return
    import fcntl

    folder = data_dir(database_url)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(REFUSED.format(database=database_url.split("///", 1)[-1], path=path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)   # frees the lock
