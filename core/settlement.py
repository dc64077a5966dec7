"""The calendar of the money (SPEC §1): month settlement and the year rollover.

Both are idempotent services: the ledger's unique indexes make a second
settlement, expiry, credit or renewal of the same thing impossible, and each
run records its period in `job_runs`, so running twice changes nothing and a
missed run can simply run late.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.certificates import append, balance, get_nominal, has_credit, lock_child
from core.clock import Clock
from core.costing import allocate, payable_months, price_per_month
from core.errors import DomainError
from core.models import (
    Certificate,
    CertificateStatus,
    Charge,
    Child,
    Enrollment,
    EnrollmentStatus,
    Funding,
    JobRun,
    LedgerEntry,
    LedgerKind,
    Program,
)

SETTLE_MONTH = "settle-month"
YEAR_ROLLOVER = "year-rollover"


def previous_month(day: dt.date) -> tuple[int, int]:
    return (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)


async def job_done(session: AsyncSession, job: str, period: str) -> bool:
    return await session.get(JobRun, (job, period)) is not None


async def mark_done(session: AsyncSession, job: str, period: str, clock: Clock) -> None:
    if not await job_done(session, job, period):
        session.add(JobRun(job=job, period=period, done_at=clock.now()))
        await session.flush()


def month_period(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


# --- month settlement -----------------------------------------------------

async def _settle_through(session: AsyncSession, year: int, month: int, clock: Clock,
                          certificate_id: int | None = None) -> int:
    """Turn every open reservation of months up to (year, month) into spent money:
    one SETTLE per enrollment month, of the month's RESERVE rows summed (a month
    topped up by freed money has several, core/copay.py)."""
    outer = aliased(LedgerEntry)
    closed = exists().where(and_(
        LedgerEntry.enrollment_id == outer.enrollment_id, LedgerEntry.year == outer.year,
        LedgerEntry.month == outer.month,
        LedgerEntry.kind.in_([LedgerKind.SETTLE, LedgerKind.REFUND])))
    stmt = (select(outer.certificate_id, outer.enrollment_id, outer.year, outer.month, outer.unit,
                   func.sum(outer.amount))
            .where(outer.kind == LedgerKind.RESERVE, ~closed,
                   outer.year * 100 + outer.month <= year * 100 + month)
            .group_by(outer.certificate_id, outer.enrollment_id, outer.year, outer.month, outer.unit))
    if certificate_id is not None:
        stmt = stmt.where(outer.certificate_id == certificate_id)
    settled = 0
    for certificate, enrollment, reserve_year, reserve_month, unit, amount in (await session.execute(stmt)).all():
        session.add(LedgerEntry(certificate_id=certificate, kind=LedgerKind.SETTLE, amount=int(amount),
                                unit=unit, year=reserve_year, month=reserve_month, enrollment_id=enrollment,
                                created_at=clock.now()))
        settled += 1
    await session.flush()
    return settled


@dataclass
class SettleReport:
    period: str
    settled: int
    already_done: bool


async def settle_month(session: AsyncSession, year: int, month: int, clock: Clock) -> SettleReport:
    """Settle (year, month) and anything older still open: reservations become spent.

    Run on the 1st for the previous month; a late run settles everything missed.
    """
    if not 1 <= month <= 12:
        raise DomainError("month_invalid", month=month)
    if (year, month) >= (clock.today().year, clock.today().month):
        raise DomainError("month_not_over", period=month_period(year, month))
    period = month_period(year, month)
    already = await job_done(session, SETTLE_MONTH, period)
    settled = await _settle_through(session, year, month, clock)
    await mark_done(session, SETTLE_MONTH, period, clock)
    return SettleReport(period=period, settled=settled, already_done=already and settled == 0)


# --- the year rollover ----------------------------------------------------

@dataclass
class Renewal:
    """A continuing enrollment reserved first in the new year; copay > 0 is a shortfall."""
    enrollment_id: int
    charge: Charge


@dataclass
class RolloverReport:
    year: int
    certificates: int = 0
    expired: int = 0
    credited: int = 0
    renewals: list[Renewal] = field(default_factory=list)

    @property
    def shortfalls(self) -> list[Renewal]:
        return [renewal for renewal in self.renewals if renewal.charge.copay > 0]


async def roll_certificate(session: AsyncSession, child: Child, year: int, clock: Clock,
                           report: RolloverReport | None = None) -> None:
    """Bring one certificate into `year` (caller holds the child's lock).

    1. settle what is left of the old year; 2. expire the old free remainder;
    3. credit the new nominal (if the municipality has one and the child is
    still under 18 on 1 January); 4. reserve continuing enrollments first,
    recording each shortfall as a co-payment. Every step is idempotent.
    """
    certificate = child.certificate
    if certificate is None or certificate.status is not CertificateStatus.FUNDED:
        return
    report = report or RolloverReport(year=year)
    report.certificates += 1
    await _settle_through(session, year - 1, 12, clock, certificate_id=certificate.id)

    old = await balance(session, certificate, year - 1)
    if old.available > 0 and old.unit is not None:
        append(session, certificate, LedgerKind.EXPIRE, old.available, unit=old.unit, year=year - 1, clock=clock)
        report.expired += old.available

    if not await has_credit(session, certificate.id, year):
        nominal = await get_nominal(session, child.municipality_id, year)
        if nominal is None or certificate.valid_until < dt.date(year, 1, 1):
            await session.flush()
            return
        certificate.unit = nominal.unit
        append(session, certificate, LedgerKind.CREDIT, nominal.amount, unit=nominal.unit, year=year, clock=clock)
        report.credited += nominal.amount
        await session.flush()

    await _renew_continuing(session, child, certificate, year, clock, report)


async def _renew_continuing(session: AsyncSession, child: Child, certificate: Certificate, year: int,
                            clock: Clock, report: RolloverReport) -> None:
    charged = exists().where(Charge.enrollment_id == Enrollment.id, Charge.year == year)
    stmt = (select(Enrollment).join(Program, Enrollment.program_id == Program.id)
            .where(Enrollment.child_id == child.id, Enrollment.status == EnrollmentStatus.ACTIVE,
                   Program.funding == Funding.CERTIFICATE, Program.end_date >= dt.date(year, 1, 1),
                   ~charged)
            .order_by(Enrollment.enrolled_at, Enrollment.id))
    unit = certificate.unit
    assert unit is not None
    for enrollment in (await session.execute(stmt)).scalars().all():
        months = payable_months(enrollment.program, year)
        if not months:
            continue
        try:
            price = price_per_month(enrollment.program, unit)
        except DomainError:
            continue  # not payable in this year's unit: the parent pays the provider
        available = (await balance(session, certificate, year)).available
        allocation = allocate(months, price, available)
        for month, amount in allocation.per_month:
            append(session, certificate, LedgerKind.RESERVE, amount, unit=unit, year=year, month=month,
                   enrollment_id=enrollment.id, clock=clock)
        charge = Charge(enrollment_id=enrollment.id, year=year, unit=unit, months=len(months),
                        cost=allocation.cost, covered=allocation.covered, copay=allocation.copay,
                        created_at=clock.now(), renewal=True)
        session.add(charge)
        await session.flush()
        report.renewals.append(Renewal(enrollment_id=enrollment.id, charge=charge))


async def year_rollover(session: AsyncSession, year: int, clock: Clock) -> RolloverReport:
    """1 January: for every funded certificate, expire, credit, renew (see roll_certificate)."""
    if year > clock.today().year:
        raise DomainError("year_not_started", year=year)
    report = RolloverReport(year=year)
    child_ids = (await session.execute(
        select(Certificate.child_id).where(Certificate.status == CertificateStatus.FUNDED)
        .order_by(Certificate.id))).scalars().all()
    for child_id in child_ids:
        child = await lock_child(session, child_id)
        await roll_certificate(session, child, year, clock, report)
    await session.flush()
    # Settle December everywhere too (certificates without money have nothing to expire).
    await _settle_through(session, year - 1, 12, clock)
    await mark_done(session, YEAR_ROLLOVER, str(year), clock)
    return report

