"""What every benchmark shares: results, percentiles, and fresh databases."""
from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

from core.db import Database

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    figure: str
    value: float
    unit: str
    backend: str
    target: str = ""
    met: bool | None = None   # None: reported, no target

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def sqlite_url(directory: Path, name: str = "bench.sqlite3") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


async def pg_reachable() -> bool:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(_raw(PG_URL)), timeout=5)
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    await conn.close()
    return True


def _raw(url: str) -> str:
    return url.replace("postgresql+asyncpg", "postgresql")


@contextlib.asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database of our own (its URL), dropped afterwards."""
    import asyncpg

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_raw(PG_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(_raw(PG_URL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def migrated(url: str) -> Database:
    """The database at head, through the project's own migrations."""
    from bot.migrate import upgrade
    from core import pd

    if pd.configured() is None:
        # The benchmarks' made-up children are encrypted too (the cost is part of what is
        # measured), under keys that live as long as the run: in the environment too, so
        # the bot processes benchmark 2 starts read what was loaded here.
        os.environ.setdefault("PD_KEY", pd.encode_key(pd.new_key()))
        os.environ.setdefault("PD_INDEX_KEY", pd.encode_key(pd.new_key()))
        pd.configure(pd.load_keyring(key=os.environ["PD_KEY"], old_keys=os.environ.get("PD_OLD_KEYS", ""),
                                     index_key=os.environ["PD_INDEX_KEY"], key_dir=Path(".")))
    await asyncio.to_thread(upgrade, url)
    return Database(url)


@contextlib.asynccontextmanager
async def backends(want_pg: bool) -> AsyncIterator[list[tuple[str, str]]]:
    """[(backend, url)]: a fresh SQLite file, plus a fresh PostgreSQL database when reachable."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        found = [("sqlite", sqlite_url(Path(tmp)))]
        if want_pg and await pg_reachable():
            async with pg_database() as url:
                yield found + [("postgresql", url)]
        else:
            yield found


async def as_autovacuum_would(db: Database, *tables: str) -> None:
    """On PostgreSQL, what autovacuum (on by default) does within a minute of a bulk load:
    statistics for the planner, and pages marked all-visible for index-only scans. The server
    the benchmarks run against may have it off (the test server here does); a benchmark that
    loads 100 000 rows and queries at once would otherwise measure plans made blind (the
    alert fan-out to 100 000 subscribers: 23.7 s instead of seconds)."""
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            await conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
