"""The calendar of the money (SPEC §1): month settlement and the year rollover, one batch
of certificates at a time (core/calendar_jobs.py runs the batches and records the period).

Every step is idempotent: the ledger's unique indexes make a second settlement, expiry,
credit or renewal of the same thing impossible, so a batch run twice changes nothing.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.certificates import append, balance, get_nominal, has_credit
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
                          certificate_id: int | None = None,
                          certificate_ids: Sequence[int] | None = None) -> int:
    """Turn every open reservation of months up to (year, month) into spent money."""
    outer = aliased(LedgerEntry)
    closed = exists().where(and_(
        LedgerEntry.enrollment_id == outer.enrollment_id, LedgerEntry.year == outer.year,
        LedgerEntry.month == outer.month,
        LedgerEntry.kind.in_([LedgerKind.SETTLE, LedgerKind.REFUND])))
    stmt = select(outer).where(outer.kind == LedgerKind.RESERVE, ~closed,
                               outer.year * 100 + outer.month <= year * 100 + month)
    if certificate_id is not None:
        stmt = stmt.where(outer.certificate_id == certificate_id)
    if certificate_ids is not None:  # one batch of a calendar job (core/calendar_jobs.py)
        stmt = stmt.where(outer.certificate_id.in_(certificate_ids))
    settled = 0
    for reserve in (await session.execute(stmt)).scalars().all():
        session.add(LedgerEntry(certificate_id=reserve.certificate_id, kind=LedgerKind.SETTLE,
                                amount=reserve.amount, unit=reserve.unit, year=reserve.year,
                                month=reserve.month, enrollment_id=reserve.enrollment_id,
                                created_at=clock.now()))
        settled += 1
    await session.flush()
    return settled


def check_month_over(year: int, month: int, clock: Clock) -> str:
    """The period of (year, month), refused unless the month is over."""
    if not 1 <= month <= 12:
        raise DomainError("month_invalid", month=month)
    if (year, month) >= (clock.today().year, clock.today().month):
        raise DomainError("month_not_over", period=month_period(year, month))
    return month_period(year, month)


async def lock_certificates(session: AsyncSession, certificate_ids: Sequence[int]) -> list[Child]:
    """Lock the children of a batch of certificates (in id order; every other writer takes
    one child's lock, so no deadlock) and load them with their certificates, in certificate
    id order."""
    locked = (select(Child.id).join(Certificate, Certificate.child_id == Child.id)
              .where(Certificate.id.in_(certificate_ids)).order_by(Child.id).with_for_update(of=Child))
    child_ids = (await session.execute(locked)).scalars().all()
    if not child_ids:
        return []
    # A statement of its own after the lock: on PostgreSQL it sees the certificates as
    # committed by whoever held a child's lock before us.
    children = (await session.execute(
        select(Child).where(Child.id.in_(child_ids)).execution_options(populate_existing=True)
    )).unique().scalars().all()
    return sorted(children, key=lambda child: child.certificate.id if child.certificate else 0)


async def settle_certificates(session: AsyncSession, year: int, month: int,
                              certificate_ids: Sequence[int], clock: Clock) -> int:
    """One batch of the month settlement (core/calendar_jobs.py runs them): the open
    reservations of these certificates up to (year, month) become spent."""
    await lock_certificates(session, certificate_ids)
    return await _settle_through(session, year, month, clock, certificate_ids=certificate_ids)


# --- the year rollover ----------------------------------------------------

@dataclass
class Renewal:
    """A continuing enrollment reserved first in the new year; copay > 0 is a shortfall."""
    enrollment_id: int
    charge: Charge


@dataclass
class RolloverReport:
    """What rolling some certificates did (counts of certificates, of settled reservations)."""
    year: int
    certificates: int = 0
    settled: int = 0
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
    report.settled += await _settle_through(session, year - 1, 12, clock, certificate_id=certificate.id)

    old = await balance(session, certificate, year - 1)
    if old.available > 0 and old.unit is not None:
        append(session, certificate, LedgerKind.EXPIRE, old.available, unit=old.unit, year=year - 1, clock=clock)
        report.expired += 1

    if not await has_credit(session, certificate.id, year):
        nominal = await get_nominal(session, child.municipality_id, year)
        if nominal is None or certificate.valid_until < dt.date(year, 1, 1):
            await session.flush()
            return
        certificate.unit = nominal.unit
        append(session, certificate, LedgerKind.CREDIT, nominal.amount, unit=nominal.unit, year=year, clock=clock)
        report.credited += 1
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
                        created_at=clock.now())
        session.add(charge)
        await session.flush()
        report.renewals.append(Renewal(enrollment_id=enrollment.id, charge=charge))


async def roll_certificates(session: AsyncSession, year: int, certificate_ids: Sequence[int], clock: Clock,
                            report: RolloverReport, stop: Callable[[], bool] | None = None) -> int:
    """One batch of the year rollover (core/calendar_jobs.py runs them): December of the old
    year settled on these certificates, then each funded one rolled (roll_certificate), in id
    order. `stop()` is asked after each certificate: the batch may end early (its transaction
    short); returns the last certificate id done."""
    children = await lock_certificates(session, certificate_ids)
    report.settled += await _settle_through(session, year - 1, 12, clock, certificate_ids=certificate_ids)
    last = 0
    for child in children:
        await roll_certificate(session, child, year, clock, report)
        last = child.certificate.id if child.certificate else last
        if stop is not None and stop():
            return last
    return certificate_ids[-1]


def check_year_started(year: int, clock: Clock) -> None:
    if year > clock.today().year:
        raise DomainError("year_not_started", year=year)
