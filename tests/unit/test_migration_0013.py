"""Migration 0013: programs get contact columns and the lessons of their schedules,
parsed for the programs already there; the downgrade drops them, the catalog stays."""
from __future__ import annotations

import asyncio
import sqlite3


async def test_migration_0013_parses_the_schedules_already_there_and_downgrades(tmp_path):
    from alembic import command

    from bot.migrate import alembic_config

    path = tmp_path / "catalog.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0012")
    now = "2026-12-02 10:00:00"
    insert = ("INSERT INTO programs (id, external_id, title, provider, provider_kind, municipality_id,"
              " category, age_min, age_max, price_per_month, start_date, end_date, address, schedule,"
              " seats, funding, description, search_text, published_at, updated_at) VALUES (?, ?,"
              " 'Робототехника', 'МБУ ДО', 'municipal', 1, 'technical', 5, 17, 300000, '2026-09-01',"
              " '2027-05-31', '', ?, 20, 'certificate', '', '', ?, ?)")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO municipalities (id, name) VALUES (1, 'г. Тест')")
        conn.executemany(insert, [(1, "P-1", "Пн, Ср 16:00–17:30", now, now),
                                  (2, "P-2", "по договорённости", now, now),
                                  (3, "P-3", "", now, now)])
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0013")
    with sqlite3.connect(path) as conn:
        found = conn.execute("SELECT id, lessons, phone, email, website FROM programs ORDER BY id").fetchall()
    assert found == [(1, "1 16:00-17:30;3 16:00-17:30", None, None, None),
                     (2, None, None, None, None), (3, None, None, None, None)]
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0012")
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(programs)")}
        assert conn.execute("SELECT count(*) FROM programs").fetchone()[0] == 3
    assert not {"lessons", "phone", "email", "website"} & columns
