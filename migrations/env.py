"""Alembic environment: async engines for both SQLite (aiosqlite) and PostgreSQL (asyncpg)."""
from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from core.db import make_engine
from core.models import Base
import core.outbox  # noqa: F401

config = context.config
MIGRATION_LOCK = 0x5EED_0A1E   # any constant every process of one database shares
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from bot.config import get_settings

        url = get_settings().database_url
    return url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Processes started at the same moment migrate in turn: the second reads the
            # version table once the first has committed, and finds nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        context.run_migrations()


def _without_foreign_keys(engine) -> None:  # type: ignore[no-untyped-def]
    """SQLite batch migrations copy a table, drop it and rename the copy: with foreign keys on
    (core.db turns them on at connect), dropping a table other rows refer to fails, so a
    migration of a populated database would stop half-way. Off for the migration's own
    connections only, set at connect (the pragma does nothing inside a transaction)."""
    @event.listens_for(engine.sync_engine, "connect")
    def _off(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()


async def _run_online() -> None:
    engine = make_engine(_url())
    if engine.dialect.name == "sqlite":
        _without_foreign_keys(engine)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    if connection.dialect.name == "sqlite":
        # A migration may have erased or rewritten personal data (0010): no older copy of
        # those pages may stay in the write-ahead log.
        async with engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
