"""Several processes started at the same moment on one new PostgreSQL database (issue 15):
they migrate in turn and load the demo catalog once, instead of failing on each other's
tables or loading it twice."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core.db import Database
from core.demo import seed_demo_if_empty
from core.models import Program

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


async def migrate(url: str, workdir: Path) -> tuple[int, bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "PD_", "REDIS_URL"))}
    env.update(DATABASE_URL=url, DATA_DIR=str(workdir), PD_KEY="", PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "migrate", cwd=workdir, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out


async def test_two_processes_migrating_a_new_database_at_once_both_succeed(pg_database, tmp_path):
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    results = await asyncio.gather(*(migrate(pg_database, d) for d in dirs))
    assert [code for code, _ in results] == [0, 0], [out.decode()[-2000:] for _, out in results]
    db = Database(pg_database)
    try:
        async with db.read() as session:
            versions = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert len(versions) == 1
    finally:
        await db.dispose()


async def test_two_processes_starting_on_an_empty_catalog_load_the_demo_once(pg_database, tmp_path, clock):
    code, out = await migrate(pg_database, tmp_path)
    assert code == 0, out.decode()[-2000:]
    first, second = Database(pg_database), Database(pg_database)
    try:
        reports = await asyncio.gather(seed_demo_if_empty(first, clock), seed_demo_if_empty(second, clock))
        assert sorted(r is None for r in reports) == [False, True]     # one loaded it, one found it
        loaded = next(r for r in reports if r is not None)
        async with first.read() as session:
            programs = (await session.execute(select(func.count()).select_from(Program))).scalar_one()
        assert programs == loaded.created > 0
    finally:
        await first.dispose()
        await second.dispose()
