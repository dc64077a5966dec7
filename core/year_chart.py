"""The figures of a certificate's year month by month (SPEC §1 Money, Budget advice):
what the /balance chart draws and says, in the certificate's unit (kopecks or hours).

Per calendar month of the year:
    settled  = the month's SETTLE rows (paid out: spent)
    reserved = RESERVE − SETTLE − REFUND (still reserved for it)
    copay    = the parent's part of the month: for each active enrollment's
               Charge of the year, price − what the certificate reserved for that
               month, over the months the charge pays for (the cost rule)
and for the year: free = the available balance (credit − reserve + refund −
expire), so Σ settled = spent, Σ reserved = reserved and free = available of
`certificates.balance`.

Next year's forecast, where an active enrollment continues, comes from
`core.estimates` (at this year's nominal, older enrollments first): per month
the certificate's estimated share and the parent's, and what would stay free.
`last_entry_id` (the certificate's newest ledger row) lets a cache tell a
changed ledger at a glance.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.certificates import balance
from core.clock import Clock
from core.copay import charged_months
from core.costing import allocate, payable_months
from core.estimates import enrollment_later_years, this_years_nominal
from core.models import Certificate, Charge, Enrollment, EnrollmentStatus, LedgerEntry, LedgerKind, Unit


@dataclass(frozen=True)
class MonthFigures:
    month: int
    settled: int = 0
    reserved: int = 0
    copay: int = 0

    @property
    def total(self) -> int:
        return self.settled + self.reserved + self.copay


@dataclass(frozen=True)
class Forecast:
    """The next year, estimated: `reserved` per month is the certificate's estimated share."""
    year: int
    nominal: int
    months: tuple[MonthFigures, ...]
    free: int


@dataclass(frozen=True)
class YearFigures:
    certificate_id: int
    year: int
    unit: Unit
    months: tuple[MonthFigures, ...]
    credited: int
    free: int
    expired: int
    last_entry_id: int
    forecast: Forecast | None

    @property
    def settled(self) -> int:
        return sum(m.settled for m in self.months)

    @property
    def reserved(self) -> int:
        return sum(m.reserved for m in self.months)

    @property
    def copay(self) -> int:
        return sum(m.copay for m in self.months)


async def last_entry_id(session: AsyncSession, certificate_id: int) -> int:
    stmt = select(func.max(LedgerEntry.id)).where(LedgerEntry.certificate_id == certificate_id)
    return int((await session.execute(stmt)).scalar() or 0)


async def _ledger_months(session: AsyncSession, certificate_id: int, year: int) -> dict[int, dict[LedgerKind, int]]:
    entry = LedgerEntry
    stmt = (select(entry.month, entry.kind, func.sum(entry.amount))
            .where(entry.certificate_id == certificate_id, entry.year == year, entry.month.is_not(None),
                   entry.kind.in_([LedgerKind.RESERVE, LedgerKind.SETTLE, LedgerKind.REFUND]))
            .group_by(entry.month, entry.kind))
    found: dict[int, dict[LedgerKind, int]] = {}
    for month, kind, total in (await session.execute(stmt)).all():
        found.setdefault(int(month), {})[kind] = int(total)
    return found


async def _reserved_by_enrollment(session: AsyncSession, enrollment_id: int, year: int) -> dict[int, int]:
    stmt = (select(LedgerEntry.month, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.enrollment_id == enrollment_id, LedgerEntry.year == year,
                   LedgerEntry.kind == LedgerKind.RESERVE, LedgerEntry.month.is_not(None))
            .group_by(LedgerEntry.month))
    return {int(month): int(total) for month, total in (await session.execute(stmt)).all()}


async def _active_enrollments(session: AsyncSession, child_id: int) -> list[Enrollment]:
    stmt = (select(Enrollment).where(Enrollment.child_id == child_id, Enrollment.status == EnrollmentStatus.ACTIVE)
            .order_by(Enrollment.enrolled_at, Enrollment.id))
    return list((await session.execute(stmt)).scalars().all())


def _copay_by_month(enrollment: Enrollment, charge: Charge, reserved: dict[int, int],
                    tz: dt.tzinfo) -> dict[int, int]:
    """The parent's part of each month a charge pays for."""
    months = charged_months(enrollment, charge, tz)
    if months is None:
        # The program's dates changed since the charge: by the cost rule a co-payment sits
        # in the last months (the certificate covers months in order), so put it there.
        months = payable_months(enrollment.program, charge.year) or [12]
        price = max(charge.cost // max(charge.months, 1), 1)
        out: dict[int, int] = {}
        left = charge.copay
        for month in reversed(months):
            if left <= 0:
                break
            part = left if month == months[0] else min(price, left)
            out[month] = part
            left -= part
        return out
    price = charge.cost // charge.months
    out = {month: max(price - reserved.get(month, 0), 0) for month in months}
    # Never more than the charge says the parent owes (a month topped up twice, say).
    excess = sum(out.values()) - charge.copay
    for month in months:
        if excess <= 0:
            break
        cut = min(out[month], excess)
        out[month] -= cut
        excess -= cut
    return {month: amount for month, amount in out.items() if amount > 0}


async def _forecast(session: AsyncSession, certificate: Certificate, enrollments: list[Enrollment],
                    year: int, unit: Unit) -> Forecast | None:
    covered: dict[int, int] = {}
    copay: dict[int, int] = {}
    any_year = False
    for enrollment in enrollments:
        _unit, estimates = await enrollment_later_years(session, enrollment, year)
        estimate = next((e for e in estimates if e.year == year + 1), None)
        if estimate is None or not estimate.months:
            continue
        any_year = True
        price = estimate.cost // len(estimate.months)
        paid = dict(allocate(estimate.months, price, estimate.covered).per_month)
        for month in estimate.months:
            covered[month] = covered.get(month, 0) + paid.get(month, 0)
            copay[month] = copay.get(month, 0) + price - paid.get(month, 0)
    if not any_year:
        return None
    nominal = await this_years_nominal(session, certificate.child, year, unit)
    months = tuple(MonthFigures(month=m, reserved=covered.get(m, 0), copay=copay.get(m, 0)) for m in range(1, 13))
    return Forecast(year=year + 1, nominal=nominal, months=months,
                    free=max(nominal - sum(covered.values()), 0))


async def year_figures(session: AsyncSession, certificate: Certificate, year: int, clock: Clock) -> YearFigures | None:
    """The year's figures of a certificate with money (None without a unit yet)."""
    unit = certificate.unit
    if unit is None:
        return None
    current = await balance(session, certificate, year)
    ledger = await _ledger_months(session, certificate.id, year)
    enrollments = await _active_enrollments(session, certificate.child_id)
    copay: dict[int, int] = {}
    if enrollments:
        charges = (await session.execute(
            select(Charge).where(Charge.enrollment_id.in_([e.id for e in enrollments]), Charge.year == year,
                                 Charge.unit == unit, Charge.copay > 0))).scalars().all()
        by_id = {e.id: e for e in enrollments}
        for charge in charges:
            enrollment = by_id[charge.enrollment_id]
            reserved = await _reserved_by_enrollment(session, enrollment.id, year)
            for month, amount in _copay_by_month(enrollment, charge, reserved, clock.tz).items():
                copay[month] = copay.get(month, 0) + amount
    months = []
    for month in range(1, 13):
        sums = ledger.get(month, {})
        settled = sums.get(LedgerKind.SETTLE, 0)
        still = sums.get(LedgerKind.RESERVE, 0) - settled - sums.get(LedgerKind.REFUND, 0)
        months.append(MonthFigures(month=month, settled=settled, reserved=max(still, 0), copay=copay.get(month, 0)))
    forecast = await _forecast(session, certificate, enrollments, year, unit)
    return YearFigures(certificate_id=certificate.id, year=year, unit=unit, months=tuple(months),
                       credited=current.credited, free=current.available, expired=current.expired,
                       last_entry_id=await last_entry_id(session, certificate.id), forecast=forecast)
