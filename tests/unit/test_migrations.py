"""The schema the migrations build is the one the models declare (the tests build theirs
from the models): on SQLite and on PostgreSQL, after `migrate` to head."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.schema import CreateIndex

import core.outbox  # noqa: F401 - its tables are in the metadata
from bot.migrate import upgrade
from core.db import Database
from core.models import Base
from tests.conftest import PG_URL


def declared_for(dialect: str) -> MetaData:
    """The models' metadata as create_all builds it on `dialect`: an index declared for
    another dialect only (`.ddl_if(dialect=…)`) left out."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        elsewhere = {index for index in table.indexes
                     if getattr(getattr(index, "_ddl_if", None), "dialect", None) not in (None, dialect)}
        table.indexes -= elsewhere   # copied without them (a copy forgets ddl_if)
        try:
            table.to_metadata(metadata)
        finally:
            table.indexes |= elsewhere
    return metadata


def _compare(sync) -> list:  # type: ignore[no-untyped-def]
    found = compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                             declared_for(sync.dialect.name))
    # Alembic drops from what it reflects an index on the primary key's columns (it takes it
    # for the key's own), so ix_programs_id_covering (id) INCLUDE (…) looks missing: check it here.
    inspector = inspect(sync)

    def there(index) -> bool:  # type: ignore[no-untyped-def]
        return any(seen["name"] == index.name and seen["column_names"] == [c.name for c in index.columns]
                   for seen in inspector.get_indexes(index.table.name))

    found = [diff for diff in found if not (diff[0] == "add_index" and there(diff[1]))]
    # Nor does it compare an index on an expression (PostgreSQL's title COLLATE "C"): it
    # reports it removed and added. Compare PostgreSQL's own definition with the models' instead.
    if sync.dialect.name == "postgresql":
        added = {diff[1].name: diff[1] for diff in found if diff[0] == "add_index"}
        same = set()
        for name, index in added.items():
            definition = sync.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                                      {"name": name}).scalar()
            expected = str(CreateIndex(index).compile(dialect=sync.dialect)).split(" ON ", 1)[1]
            if definition and definition.split(" ON ", 1)[1].replace("public.", "").replace(" USING btree", "") \
                    == expected.replace('"title" COLLATE "C"', 'title COLLATE "C"'):
                same.add(name)
        found = [diff for diff in found if not (diff[0] in ("add_index", "remove_index") and diff[1].name in same)]
    return found


async def differences(url: str) -> list:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(_compare)
    finally:
        await db.dispose()


async def test_migrations_build_what_the_models_declare_on_sqlite(tmp_path):
    assert await differences(f"sqlite+aiosqlite:///{tmp_path}/migrated.sqlite3") == []


@pytest.mark.postgres
async def test_migrations_build_what_the_models_declare_on_postgresql():
    import asyncpg

    raw = PG_URL.replace("postgresql+asyncpg", "postgresql")
    name = f"migrated_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncio.wait_for(asyncpg.connect(raw), timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        assert await differences(f"{PG_URL.rsplit('/', 1)[0]}/{name}") == []
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_word_index_is_built_anew_from_the_programs_either_way(tmp_path, clock):
    """Migration 0006 rebuilds program_terms (derived data) from the programs already there,
    and its downgrade builds the older shape back: a catalog survives both, searchable."""
    from alembic import command
    from sqlalchemy import func, select

    from bot.migrate import alembic_config
    from core.catalog import SearchFilters, search
    from core.importer import import_rows
    from core.models import ProgramTerm
    from tests.unit.test_catalog import row

    url = f"sqlite+aiosqlite:///{tmp_path}/catalog.sqlite3"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        await import_rows(db, [row("a", title="Шахматы"), row("b", title="Робототехника", age_min=14,
                                                              age_max=17)], clock, new_municipalities=True)
        async with db.read() as session:
            before = (await session.execute(select(func.count()).select_from(ProgramTerm))).scalar()
        await db.engine.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0005")
        await asyncio.to_thread(upgrade, url)
        async with db.read() as session:
            assert (await session.execute(select(func.count()).select_from(ProgramTerm))).scalar() == before
            found = await search(session, SearchFilters(words="робот", age=15), clock=clock)
            assert [p.title for p in found.items] == ["Робототехника"]
            assert (await search(session, SearchFilters(words="робот", age=9), clock=clock)).total == 0
    finally:
        await db.dispose()


async def test_migration_0008_marks_renewals_and_lets_a_month_be_topped_up_not_closed_twice(tmp_path):
    """Existing charges are renewals when their enrollment has an earlier year's charge;
    afterwards a month may hold a second reservation but never a second settlement, and the
    downgrade folds a topped-up month back into one row of the same amount."""
    import sqlite3

    from alembic import command

    from bot.migrate import alembic_config

    path = tmp_path / "ledger.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    before = "0009"   # the revision 0008 follows
    await asyncio.to_thread(command.upgrade, alembic_config(url), before)
    # Plain SQL, not the models: the models are those of the latest revision.
    now = "2026-12-02 10:00:00"
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO municipalities (id, name) VALUES (1, 'г. Тест')")
        conn.execute("INSERT INTO parents (id, platform, external_id, consent_at, created_at)"
                     " VALUES (1, 'test', '1', ?, ?)", (now, now))
        conn.execute("INSERT INTO children (id, parent_id, full_name, birth_date, snils, snils_confirmed,"
                     " municipality_id, created_at) VALUES (1, 1, 'Иванов Пётр Сергеевич', '2015-03-10',"
                     " '11223344595', 1, 1, ?)", (now,))
        conn.execute("INSERT INTO programs (id, external_id, title, provider, provider_kind, municipality_id,"
                     " category, age_min, age_max, price_per_month, start_date, end_date, address, schedule,"
                     " seats, funding, description, search_text, published_at, updated_at) VALUES (1, 'P-1',"
                     " 'Робототехника', 'МБУ ДО', 'municipal', 1, 'technical', 5, 17, 300000, '2026-09-01',"
                     " '2027-05-31', '', '', 20, 'certificate', '', '', ?, ?)", (now, now))
        conn.execute("INSERT INTO certificates (id, child_id, number, status, issued_at, valid_until)"
                     " VALUES (1, 1, '1234567890', 'funded', ?, '2033-03-09')", (now,))
        conn.executemany("INSERT INTO enrollments (id, child_id, program_id, status, enrolled_at)"
                         " VALUES (?, 1, 1, 'cancelled', ?)", [(1, now), (2, now)])
        conn.executemany(
            "INSERT INTO charges (enrollment_id, year, unit, months, cost, covered, copay, created_at)"
            " VALUES (?, ?, 'rub', 4, 400, 400, 0, ?)", [(1, 2025, now), (1, 2026, now), (2, 2026, now)])
        conn.execute("INSERT INTO ledger_entries (certificate_id, kind, amount, unit, year, month, enrollment_id,"
                     " created_at) VALUES (1, 'reserve', 100, 'rub', 2026, 12, 2, ?)", (now,))
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0008")
    add = ("INSERT INTO ledger_entries (certificate_id, kind, amount, unit, year, month, enrollment_id, created_at)"
           " VALUES (1, ?, ?, 'rub', 2026, 12, 2, ?)")
    with sqlite3.connect(path) as conn:
        renewals = conn.execute("SELECT enrollment_id, year, renewal FROM charges ORDER BY id").fetchall()
        conn.execute(add, ("reserve", 50, now))
        conn.execute(add, ("settle", 150, now))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(add, ("refund", 150, now))
    assert renewals == [(1, 2025, 0), (1, 2026, 1), (2, 2026, 0)]
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM ledger_entries WHERE kind = 'settle'")
    await asyncio.to_thread(command.downgrade, alembic_config(url), before)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT kind, amount, month FROM ledger_entries").fetchall()
    assert rows == [("reserve", 150, 12)]


async def test_migration_0018_marks_the_programs_already_there_with_their_thesaurus_groups(tmp_path, clock):
    """Programs imported before the thesaurus get their groups' markers from the upgrade
    (found by a synonym at once); the downgrade takes them off again."""
    from alembic import command
    from sqlalchemy import select

    from bot.migrate import alembic_config
    from core.catalog import SearchFilters, search
    from core.importer import import_rows
    from core.models import Program
    from tests.unit.test_catalog import row

    url = f"sqlite+aiosqlite:///{tmp_path}/catalog.sqlite3"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        await import_rows(db, [row("a", title="Хореография для малышей")], clock, new_municipalities=True)
        await db.engine.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0012")
        async with db.read() as session:
            assert "~" not in (await session.execute(select(Program.search_text))).scalar_one()
        await db.engine.dispose()
        await asyncio.to_thread(upgrade, url)
        async with db.read() as session:
            assert " ~танц " in (await session.execute(select(Program.search_text))).scalar_one()
            found = await search(session, SearchFilters(words="танцы"), clock=clock)
            assert [p.title for p in found.items] == ["Хореография для малышей"]
    finally:
        await db.dispose()
