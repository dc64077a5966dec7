"""Freed money covers co-payments first (SPEC §1 Enrollment).

When money frees up on a certificate (a cancellation's refund), the current
year's co-payments of the certificate's active enrollments are covered before
the money can sit idle and expire: oldest enrollment first (enrolled_at, id),
month by month from the earliest month not fully reserved.

Only months still to be paid are covered: the current month and later ones,
and never a month already settled. An earlier month is over: its
co-payment was the parent's to pay then.

A co-payment sits in an enrollment's last months (`costing.allocate` covers
months in order), often as one partly covered month: that month is topped up
by a second RESERVE row. The ledger stays append-only; whoever reads a
month's reservation sums its rows (`certificates.open_reservations`,
`settlement._settle_through`, `certificates.year_plan`), and one SETTLE or
REFUND closes the month (the unique index uq_ledger_month_closed).
The enrollment's `Charge` (not the ledger) is updated to the new covered /
co-payment figures, which /enrollments and the cancellation screen show.

Credits: the year rollover credits the nominal and renews the continuing
enrollments first, in the same order, so it leaves no co-payment beside free
money; an enrollment that credits a nominal does so for a certificate with no
charge in that year yet. Neither needs this module.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.certificates import append, balance
from core.clock import Clock
from core.costing import payable_months
from core.models import Certificate, Charge, Enrollment, EnrollmentStatus, LedgerEntry, LedgerKind, Unit


@dataclass(frozen=True)
class Coverage:
    """Freed money put into one enrollment's co-payment of one year."""
    enrollment_id: int
    charge_id: int
    title: str                          # the program's
    year: int
    unit: Unit
    covered: int                        # newly covered by the certificate
    copay: int                          # the co-payment left for the year after it
    months: tuple[tuple[int, int], ...]  # (month, amount added to its reservation)


def charged_months(enrollment: Enrollment, charge: Charge, tz: dt.tzinfo) -> list[int] | None:
    """The calendar months a charge pays for, or None when the program's months
    no longer match the charge (its dates changed since): then nothing is covered."""
    enrolled = enrollment.enrolled_at.astimezone(tz).date()
    first = 1 if charge.renewal or enrolled.year != charge.year else enrolled.month
    months = payable_months(enrollment.program, charge.year, first)
    if charge.months <= 0 or len(months) != charge.months or charge.cost % charge.months:
        return None
    return months


async def _months_state(session: AsyncSession, enrollment_id: int, year: int) -> tuple[dict[int, int], set[int]]:
    """An enrollment year's reservations per month (summed) and its closed months."""
    stmt = (select(LedgerEntry.month, LedgerEntry.kind, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.enrollment_id == enrollment_id, LedgerEntry.year == year,
                   LedgerEntry.kind.in_([LedgerKind.RESERVE, LedgerKind.SETTLE, LedgerKind.REFUND]))
            .group_by(LedgerEntry.month, LedgerEntry.kind))
    reserved: dict[int, int] = {}
    closed: set[int] = set()
    for month, kind, total in (await session.execute(stmt)).all():
        if kind is LedgerKind.RESERVE:
            reserved[month] = int(total)
        else:
            closed.add(month)
    return reserved, closed


async def plan_coverage(session: AsyncSession, certificate: Certificate, year: int, clock: Clock, *,
                        free: int | None = None, excluding: int | None = None) -> list[Coverage]:
    """What `free` money (default: the certificate's available balance of `year`)
    would cover, writing nothing. `excluding`: an enrollment about to be cancelled."""
    today = clock.today()
    if certificate.unit is None or year < today.year:
        return []
    first_open = today.month if year == today.year else 1
    if free is None:
        free = (await balance(session, certificate, year)).available
    if free <= 0:
        return []
    stmt = (select(Enrollment, Charge).join(Charge, Charge.enrollment_id == Enrollment.id)
            .where(Enrollment.child_id == certificate.child_id, Enrollment.status == EnrollmentStatus.ACTIVE,
                   Charge.year == year, Charge.copay > 0, Charge.unit == certificate.unit)
            .order_by(Enrollment.enrolled_at, Enrollment.id))
    if excluding is not None:
        stmt = stmt.where(Enrollment.id != excluding)
    plan: list[Coverage] = []
    for enrollment, charge in (await session.execute(stmt)).all():
        if free <= 0:
            break
        months = charged_months(enrollment, charge, clock.tz)
        if months is None:
            continue
        price = charge.cost // charge.months
        reserved, closed = await _months_state(session, enrollment.id, year)
        added: list[tuple[int, int]] = []
        room = charge.copay   # never more than the charge says the parent owes
        for month in months:
            if free <= 0 or room <= 0:
                break
            if month < first_open or month in closed:
                continue
            amount = min(price - reserved.get(month, 0), free, room)
            if amount > 0:
                added.append((month, amount))
                free -= amount
                room -= amount
        if added:
            covered = sum(amount for _, amount in added)
            plan.append(Coverage(enrollment_id=enrollment.id, charge_id=charge.id, title=enrollment.program.title,
                                 year=year, unit=charge.unit, covered=covered, copay=charge.copay - covered,
                                 months=tuple(added)))
    return plan


async def cover_copayments(session: AsyncSession, certificate: Certificate, year: int,
                           clock: Clock) -> list[Coverage]:
    """Put the certificate's free money of `year` into its active enrollments'
    co-payments (see the module's rule). The caller holds the child's lock."""
    plan = await plan_coverage(session, certificate, year, clock)
    for coverage in plan:
        for month, amount in coverage.months:
            append(session, certificate, LedgerKind.RESERVE, amount, unit=coverage.unit, year=year, month=month,
                   enrollment_id=coverage.enrollment_id, clock=clock)
        charge = await session.get(Charge, coverage.charge_id)
        assert charge is not None
        charge.covered += coverage.covered
        charge.copay -= coverage.covered
    await session.flush()
    return plan
