"""What expires, when it matters (SPEC §1 Budget advice): from 1 December the free
remainder of a certificate is about to expire on 31 December, and the parent is
shown it with the programs that can still take it this month.

A program "can still take it" when the child could enroll in it today and be charged
for December: certificate-funded, in the child's municipality and age, priced in the
certificate's unit, with December among its study months this year, not finished,
not already the child's, and with a free seat.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import waitlist
from core.certificates import balance
from core.children import age_on
from core.clock import Clock
from core.costing import payable_months
from core.models import Certificate, CertificateStatus, Child, Enrollment, EnrollmentStatus, Funding, Program, Unit

DECEMBER = 12
SUGGESTED = 3
BATCH = 50          # candidates read at a time, in title order
MAX_BATCHES = 10    # a catalog where 500 candidates in a row are full or idle in December: stop looking


def is_year_end(clock: Clock) -> bool:
    """From 1 December (on the bot's calendar) the free remainder is about to expire."""
    return clock.today().month == DECEMBER


@dataclass(frozen=True)
class Expiring:
    year: int
    unit: Unit
    free: int   # kopecks or hours that expire on 31 December


async def expiring(session: AsyncSession, certificate: Certificate, clock: Clock) -> Expiring | None:
    """This year's free remainder of a funded certificate (None: nothing to say: not
    December, no money on it, or nothing free)."""
    if not is_year_end(clock) or certificate.status is not CertificateStatus.FUNDED or certificate.unit is None:
        return None
    year = clock.today().year
    current = await balance(session, certificate, year)
    if current.available <= 0 or current.unit is None:
        return None
    return Expiring(year=year, unit=current.unit, free=current.available)


async def december_programs(session: AsyncSession, child: Child, unit: Unit, clock: Clock,
                            limit: int = SUGGESTED) -> list[Program]:
    """Up to `limit` programs the child could still enroll in and pay for this December."""
    today = clock.today()
    if child.birth_date is None or child.forgotten_at is not None:
        return []
    age = age_on(child.birth_date, today)
    if age >= 18:
        return []
    price = Program.price_per_month if unit is Unit.RUB else Program.hours_per_month
    already = exists().where(Enrollment.program_id == Program.id, Enrollment.child_id == child.id,
                             Enrollment.status == EnrollmentStatus.ACTIVE)
    stmt = (select(Program)
            .where(Program.municipality_id == child.municipality_id, Program.funding == Funding.CERTIFICATE,
                   Program.age_min <= age, Program.age_max >= age, price.is_not(None), price > 0,
                   Program.end_date >= today, Program.start_date <= dt.date(today.year, 12, 31), ~already)
            .order_by(Program.title, Program.id))
    found: list[Program] = []
    for batch in range(MAX_BATCHES):
        candidates = list((await session.execute(stmt.offset(batch * BATCH).limit(BATCH))).scalars())
        taught = [p for p in candidates if payable_months(p, today.year, DECEMBER)]
        full = await waitlist.full_programs(session, taught, clock)
        found.extend(p for p in taught if p.id not in full)
        if len(found) >= limit or len(candidates) < BATCH:
            break
    return found[:limit]
