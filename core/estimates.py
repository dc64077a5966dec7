"""The later years of a continuing program, estimated before they come (SPEC §1
Enrollment: the parent sees each later year's cost and estimated share).

Next year's nominal is not known yet, so a later year is estimated at this
year's nominal of the child's municipality. On 1 January continuing
enrollments are reserved first, oldest first (core/settlement.py), so an
enrollment's estimated share is what the nominal leaves after the child's
older continuing enrollments took their cost of that year.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.certificates import balance, get_nominal
from core.costing import YearEstimate, estimate_year, later_years, payable_months, price_per_month
from core.errors import DomainError
from core.models import Child, Enrollment, EnrollmentStatus, Funding, Program, Unit


async def this_years_nominal(session: AsyncSession, child: Child, year: int, unit: Unit) -> int:
    """This year's nominal of the child's municipality in `unit`; else what the
    certificate was credited this year (a nominal since changed or removed)."""
    nominal = await get_nominal(session, child.municipality_id, year)
    if nominal is not None and nominal.unit is unit:
        return nominal.amount
    if child.certificate is not None and child.certificate.unit is unit:
        return (await balance(session, child.certificate, year)).credited
    return 0


async def _earlier_enrollments(session: AsyncSession, child: Child, first_year: int,
                               before: Enrollment | None) -> list[Enrollment]:
    """The child's active certificate-funded enrollments continuing past `first_year`
    that renew ahead of `before` (all of them for an enrollment not made yet)."""
    stmt = (select(Enrollment).join(Program, Enrollment.program_id == Program.id)
            .where(Enrollment.child_id == child.id, Enrollment.status == EnrollmentStatus.ACTIVE,
                   Program.funding == Funding.CERTIFICATE, Program.end_date >= dt.date(first_year + 1, 1, 1))
            .order_by(Enrollment.enrolled_at, Enrollment.id))
    found = list((await session.execute(stmt)).scalars().all())
    if before is None:
        return found
    ahead = []
    for enrollment in found:
        if enrollment.id == before.id:
            break
        ahead.append(enrollment)
    return ahead


async def estimate_later_years(session: AsyncSession, child: Child, program: Program, year: int, unit: Unit,
                               before: Enrollment | None = None, nominal: int | None = None) -> list[YearEstimate]:
    """Each year after `year` in which `program` is taught: its cost and the share
    the certificate would cover at this year's nominal (see the module docstring;
    `nominal` when the caller has read it already)."""
    years = later_years(program, year)
    if not years or program.funding is not Funding.CERTIFICATE:
        return []
    try:
        price = price_per_month(program, unit)
    except DomainError:
        return []
    if nominal is None:
        nominal = await this_years_nominal(session, child, year, unit)
    # A child without a certificate has never enrolled (every enrollment issues one).
    earlier = await _earlier_enrollments(session, child, year, before) if child.certificate is not None else []
    estimates = []
    for later in years:
        left = nominal
        for enrollment in earlier:
            try:
                other = price_per_month(enrollment.program, unit)
            except DomainError:
                continue  # not payable in this unit: the parent pays the provider
            left -= min(max(left, 0), other * len(payable_months(enrollment.program, later)))
        estimates.append(estimate_year(program, later, price, max(left, 0)))
    return estimates


async def enrollment_later_years(session: AsyncSession, enrollment: Enrollment,
                                 year: int) -> tuple[Unit | None, list[YearEstimate]]:
    """An active enrollment's years after `year`, estimated as its preview did:
    only the child's enrollments older than this one renew ahead of it."""
    certificate = enrollment.child.certificate
    if enrollment.status is not EnrollmentStatus.ACTIVE or certificate is None or certificate.unit is None:
        return None, []
    estimates = await estimate_later_years(session, enrollment.child, enrollment.program, year,
                                           certificate.unit, before=enrollment)
    return certificate.unit, estimates
