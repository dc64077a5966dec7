"""The calendar of the money (SPEC §1): month settlement and the year rollover, one batch
of certificates at a time (core/calendar_jobs.py runs the batches and records the period).

Every step is idempotent: the ledger's unique indexes make a second settlement, expiry,
credit or renewal of the same thing impossible, so a batch run twice changes nothing.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.certificates import append, balance
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
    Nominal,
    Program,
    Unit,
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
    if certificate_ids is not None:  # one batch of a calendar job (core/calendar_jobs.py)
        stmt = stmt.where(outer.certificate_id.in_(certificate_ids))
    settled = 0
    for certificate, enrollment, reserve_year, reserve_month, unit, amount in (await session.execute(stmt)).all():
        session.add(LedgerEntry(certificate_id=certificate, kind=LedgerKind.SETTLE, amount=int(amount),
                                unit=unit, year=reserve_year, month=reserve_month, enrollment_id=enrollment,
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
    """Bring one certificate into `year` (caller holds the child's lock); see _roll."""
    certificate = child.certificate
    if certificate is None or certificate.status is not CertificateStatus.FUNDED:
        return
    report = report or RolloverReport(year=year)
    report.settled += await _settle_through(session, year - 1, 12, clock, certificate_id=certificate.id)
    facts = await _year_facts(session, [certificate.id], year)
    nominals = await _nominals(session, [child.municipality_id], year)
    await _roll(session, [child], year, clock, report, facts, nominals, continuing={child.id})


@dataclass
class _Facts:
    old_available: int = 0   # the old year's free remainder
    credited: bool = False   # the new year's nominal is credited already


async def _year_facts(session: AsyncSession, certificate_ids: Sequence[int], year: int) -> dict[int, _Facts]:
    """What the rollover needs to know of each certificate's ledger, in one statement."""
    await session.flush()
    stmt = (select(LedgerEntry.certificate_id, LedgerEntry.year, LedgerEntry.kind, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.certificate_id.in_(certificate_ids), LedgerEntry.year.in_([year - 1, year]),
                   LedgerEntry.kind != LedgerKind.SETTLE)
            .group_by(LedgerEntry.certificate_id, LedgerEntry.year, LedgerEntry.kind))
    facts: dict[int, _Facts] = {}
    for certificate_id, entry_year, kind, total in (await session.execute(stmt)).all():
        found = facts.setdefault(certificate_id, _Facts())
        if entry_year == year:
            found.credited = found.credited or kind is LedgerKind.CREDIT
        else:
            found.old_available += AVAILABLE_SIGN[kind] * int(total)
    return facts


# How each kind of entry moves the available balance (core.certificates.balance).
AVAILABLE_SIGN = {LedgerKind.CREDIT: 1, LedgerKind.RESERVE: -1, LedgerKind.REFUND: 1, LedgerKind.EXPIRE: -1,
                  LedgerKind.SETTLE: 0}


async def _nominals(session: AsyncSession, municipality_ids: Sequence[int], year: int) -> dict[int, Nominal]:
    stmt = select(Nominal).where(Nominal.year == year, Nominal.municipality_id.in_(set(municipality_ids)))
    return {nominal.municipality_id: nominal for nominal in (await session.execute(stmt)).scalars()}


async def _continuing(session: AsyncSession, child_ids: Sequence[int], year: int) -> set[int]:
    """The children with an enrollment to renew into `year` (see _renew_continuing)."""
    stmt = (select(Enrollment.child_id).join(Program, Enrollment.program_id == Program.id)
            .where(Enrollment.child_id.in_(child_ids), *_renewable(year)).distinct())
    return set((await session.execute(stmt)).scalars())


def _renewable(year: int) -> list[ColumnElement[bool]]:
    charged = exists().where(Charge.enrollment_id == Enrollment.id, Charge.year == year)
    return [Enrollment.status == EnrollmentStatus.ACTIVE, Program.funding == Funding.CERTIFICATE,
            Program.end_date >= dt.date(year, 1, 1), ~charged]


def _expire_and_credit(child: Child, year: int, clock: Clock, report: RolloverReport, facts: _Facts,
                       nominals: dict[int, Nominal], rows: list[dict[str, Any]]) -> bool:
    """The rollover's first two rules for one certificate, its old year settled already:
    1. the old free remainder expires; 2. the new nominal is credited (if the municipality
    has one and the child is still under 18 on 1 January). Adds the ledger rows to `rows`
    (the unique indexes refuse a second expiry or credit of a year); whether the certificate
    holds the new year's money, so that its continuing enrollments are renewed."""
    certificate = child.certificate
    assert certificate is not None
    report.certificates += 1
    if facts.old_available > 0 and certificate.unit is not None:
        rows.append(_entry(certificate, LedgerKind.EXPIRE, facts.old_available, certificate.unit, year - 1, clock))
        report.expired += 1
    if facts.credited:
        return True
    nominal = nominals.get(child.municipality_id)
    if nominal is None or certificate.valid_until < dt.date(year, 1, 1):
        return False
    certificate.unit = nominal.unit
    rows.append(_entry(certificate, LedgerKind.CREDIT, nominal.amount, nominal.unit, year, clock))
    report.credited += 1
    return True


def _entry(certificate: Certificate, kind: LedgerKind, amount: int, unit: Unit, year: int,
           clock: Clock) -> dict[str, Any]:
    return {"certificate_id": certificate.id, "kind": kind, "amount": amount, "unit": unit, "year": year,
            "month": None, "enrollment_id": None, "created_at": clock.now()}


async def _roll(session: AsyncSession, children: Sequence[Child], year: int, clock: Clock,
                report: RolloverReport, facts: dict[int, _Facts], nominals: dict[int, Nominal],
                continuing: set[int]) -> None:
    """Roll funded certificates whose old year is settled: expire and credit (one insert for
    all), then 3. reserve the continuing enrollments first, recording each shortfall as a
    co-payment. Every step is idempotent."""
    rows: list[dict[str, Any]] = []
    funded_this_year = [child for child in children
                        if _expire_and_credit(child, year, clock, report,
                                              facts.get(child.certificate.id, _Facts()), nominals, rows)]
    if rows:
        await session.execute(insert(LedgerEntry), rows)
    for child in funded_this_year:
        if child.id in continuing:
            await _renew_continuing(session, child, child.certificate, year, clock, report)


async def _renew_continuing(session: AsyncSession, child: Child, certificate: Certificate, year: int,
                            clock: Clock, report: RolloverReport) -> None:
    stmt = (select(Enrollment).join(Program, Enrollment.program_id == Program.id)
            .where(Enrollment.child_id == child.id, *_renewable(year))
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


async def roll_certificates(session: AsyncSession, year: int, certificate_ids: Sequence[int], clock: Clock,
                            report: RolloverReport) -> None:
    """One batch of the year rollover (core/calendar_jobs.py runs them): the children locked,
    the old year's reservations settled, then each funded certificate rolled (_roll), what
    the rules need read for the whole batch at once."""
    children = await lock_certificates(session, certificate_ids)
    report.settled += await _settle_through(session, year - 1, 12, clock, certificate_ids=certificate_ids)
    funded = [child for child in children
              if child.certificate is not None and child.certificate.status is CertificateStatus.FUNDED]
    if not funded:
        return
    facts = await _year_facts(session, [child.certificate.id for child in funded], year)
    nominals = await _nominals(session, [child.municipality_id for child in funded], year)
    continuing = await _continuing(session, [child.id for child in funded], year)
    await _roll(session, funded, year, clock, report, facts, nominals, continuing)
    await session.flush()


def check_year_started(year: int, clock: Clock) -> None:
    if year > clock.today().year:
        raise DomainError("year_not_started", year=year)
