"""Loading the demo catalog (core/demo_catalog.py) and this year's nominals.

Idempotent: programs are upserted by external_id through the importer and
nominals are set, so seeding twice leaves one copy of everything.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import exists, select, text

from core import municipalities
from core.certificates import set_nominal
from core.clock import Clock
from core.db import Database
from core.demo_catalog import CONTACTS, NOMINALS, PROGRAMS, STUDY_MONTHS
from core.importer import ImportReport, import_rows
from core.models import Program, Unit


def _school_year_start(today: dt.date) -> int:
    """The calendar year in which the current school year began (September)."""
    return today.year if today.month >= 9 else today.year - 1


# period → (start, end) relative to today. "school" runs September to May,
# "multi" periods span several school years, "next"/"spring" start after New Year.
PERIODS: dict[str, Callable[[dt.date], tuple[dt.date, dt.date]]] = {
    "school": lambda t: (dt.date(_school_year_start(t), 9, 1), dt.date(_school_year_start(t) + 1, 5, 31)),
    "schoolj": lambda t: (dt.date(_school_year_start(t), 9, 1), dt.date(_school_year_start(t) + 1, 6, 30)),
    "fall": lambda t: (dt.date(_school_year_start(t), 9, 1), dt.date(_school_year_start(t), 12, 25)),
    "multi2": lambda t: (dt.date(_school_year_start(t), 9, 1), dt.date(_school_year_start(t) + 2, 5, 31)),
    "multi3": lambda t: (dt.date(_school_year_start(t) - 1, 9, 1), dt.date(_school_year_start(t) + 2, 5, 31)),
    "year": lambda t: (dt.date(t.year, 1, 15), dt.date(t.year, 12, 20)),
    "next": lambda t: (dt.date(t.year + 1, 1, 12), dt.date(t.year + 1, 5, 31)),
    "spring": lambda t: (dt.date(t.year + 1, 2, 1), dt.date(t.year + 1, 6, 30)),
    # this summer and the next one (with study months 6–8: a summer camp for two summers)
    "summers": lambda t: (dt.date(t.year, 1, 1), dt.date(t.year + 1, 8, 31)),
}


def demo_rows(today: dt.date) -> list[dict[str, str]]:
    """The demo programs as import rows (the same shape as a CSV row)."""
    rows = []
    for (external_id, municipality, title, provider, provider_kind, category, age_min, age_max,
         price, hours, period, address, schedule, seats, funding, description) in PROGRAMS:
        start, end = PERIODS[period](today)
        row = {
            "external_id": external_id, "title": title, "provider": provider,
            "provider_kind": provider_kind, "municipality": municipality, "category": category,
            "age_min": str(age_min), "age_max": str(age_max),
            "price_per_month": "" if price is None else str(price),
            "hours_per_month": "" if hours is None else str(hours),
            "start_date": start.isoformat(), "end_date": end.isoformat(),
            "address": address, "schedule": schedule, "seats": str(seats),
            "funding": funding, "description": description,
        }
        if external_id in STUDY_MONTHS:
            row["months"] = STUDY_MONTHS[external_id]
        phone, email, website = CONTACTS.get(provider, (None, None, None))
        row.update(phone=phone or "", email=email or "", website=website or "")
        rows.append(row)
    return rows


async def seed_demo(db: Database, clock: Clock) -> ImportReport:
    """Register the demo municipalities, upsert the demo programs and set the
    nominals of the current year."""
    rows = demo_rows(clock.today())
    async with db.write() as session:
        for name in sorted({row["municipality"] for row in rows} | {name for name, _, _ in NOMINALS}):
            await municipalities.register(session, name)
    report = await import_rows(db, rows, clock)
    year = clock.today().year
    async with db.write() as session:
        for municipality, amount, unit in NOMINALS:
            if unit == "rub":
                await set_nominal(session, municipality, year, amount * 100, Unit.RUB)
            else:
                await set_nominal(session, municipality, year, amount, Unit.HOURS)
    return report


async def catalog_is_empty(db: Database) -> bool:
    async with db.read() as session:
        return not (await session.execute(select(exists().where(Program.id.is_not(None))))).scalar_one()


# Any constant shared by every process of one database: the processes that start together
# load the demo catalog once (PostgreSQL; SQLite has one process).
_DEMO_LOCK = 0x5EED_DE30


async def seed_demo_if_empty(db: Database, clock: Clock) -> ImportReport | None:
    """The demo catalog, into an empty catalog only; None when it had programs. On PostgreSQL
    processes starting at the same moment take turns (a session advisory lock held on a
    connection of its own), so the second finds the catalog loaded."""
    if db.engine.dialect.name != "postgresql":
        return await seed_demo(db, clock) if await catalog_is_empty(db) else None
    async with db.engine.connect() as lock:
        await lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _DEMO_LOCK})
        await lock.commit()
        try:
            return await seed_demo(db, clock) if await catalog_is_empty(db) else None
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _DEMO_LOCK})
            await lock.commit()
