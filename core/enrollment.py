"""Enrollment, the waiting list, and cancellation with refund (SPEC §1).

`quote` shows the breakdown without writing; `enroll` re-checks everything
under the locks (program row, then child row) and writes the enrollment,
the certificate if the child has none, the credit and the reservations in
one transaction. `cancel` refunds the months after the current one (all of
them on the day of enrollment) and holds the freed seat for the first in line
(core/waitlist.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.certificates import (
    Balance,
    append,
    balance,
    get_nominal,
    has_credit,
    issue_certificate,
    lock_child,
    open_reservations,
)
from core.children import age_on, get_child, list_children
from core.clock import Clock
from core.copay import Coverage, cover_copayments, plan_coverage
from core.costing import YearEstimate, allocate, payable_months, price_per_month, taught_after
from core.errors import DomainError, NotFound
from core.estimates import estimate_later_years
from core.models import (
    Certificate,
    CertificateStatus,
    Charge,
    Child,
    Enrollment,
    EnrollmentStatus,
    Funding,
    LedgerKind,
    Parent,
    Program,
    Unit,
    WaitlistEntry,
    WaitlistStatus,
)
from core.parents import require_consent
from core.settlement import roll_certificate
from core import waitlist

SEPTEMBER = 9


@dataclass(frozen=True)
class BudgetWarning:
    """An enrollment in January–May leaves September–December short."""
    needed_from_september: int  # what the child's programs still need for Sep–Dec
    left_after: int             # free balance after this enrollment


@dataclass(frozen=True)
class Quote:
    child: Child
    program: Program
    year: int
    unit: Unit | None
    months: list[int]
    cost: int
    covered: int
    copay: int
    balance_before: int
    balance_after: int
    issues_certificate: bool
    status_after: CertificateStatus | None
    budget_warning: BudgetWarning | None
    per_month: list[tuple[int, int]]
    credits_nominal: int = 0    # a nominal credited by this enrollment (new certificate or new year)
    # Each later year of a continuing program, estimated at this year's nominal.
    later_years: tuple[YearEstimate, ...] = ()


@dataclass(frozen=True)
class EnrollResult:
    enrollment: Enrollment
    quote: Quote
    certificate: Certificate
    certificate_issued: bool
    balance: Balance | None


@dataclass(frozen=True)
class CancelQuote:
    enrollment: Enrollment
    refund: int
    unit: Unit | None
    balance_before: int
    balance_after: int
    refunds: list[tuple[int, int, int]]  # (year, month, amount)
    covers: tuple[Coverage, ...] = ()    # co-payments the freed money will cover (core/copay.py)


@dataclass(frozen=True)
class CancelResult:
    enrollment: Enrollment
    refund: int
    unit: Unit | None
    balance: Balance | None
    offered: WaitlistEntry | None
    covered: tuple[Coverage, ...] = ()   # co-payments the freed money covered (core/copay.py)


# --- reading --------------------------------------------------------------

async def _program(session: AsyncSession, program_id: int, *, locked: bool) -> Program:
    stmt = select(Program).where(Program.id == program_id).execution_options(populate_existing=True)
    if locked:
        stmt = stmt.with_for_update(of=Program)
    program = (await session.execute(stmt)).scalar_one_or_none()
    if program is None:
        raise NotFound("program", program_id=program_id)
    return program


async def _active_enrollment(session: AsyncSession, child_id: int, program_id: int) -> Enrollment | None:
    stmt = select(Enrollment).where(Enrollment.child_id == child_id, Enrollment.program_id == program_id,
                                    Enrollment.status == EnrollmentStatus.ACTIVE)
    return (await session.execute(stmt)).scalars().first()


async def _check_child_and_program(session: AsyncSession, child: Child, program: Program, clock: Clock) -> None:
    """The preconditions of SPEC §1 that do not involve money, in the order a parent would fix them."""
    today = clock.today()
    if program.funding is Funding.PAID:
        raise DomainError("paid_program", provider=program.provider)
    if program.end_date < today:
        raise DomainError("program_finished", end_date=program.end_date)
    assert child.birth_date is not None
    age = age_on(child.birth_date, today)
    if age >= 18:
        raise DomainError("certificate_expired", age=age)
    if not program.age_min <= age <= program.age_max:
        raise DomainError("age_out_of_range", age=age, min=program.age_min, max=program.age_max)
    if not child.snils_confirmed:
        raise DomainError("snils_not_confirmed")
    if await _active_enrollment(session, child.id, program.id) is not None:
        raise DomainError("already_enrolled")
    # A seat held for this child (the waiting list's offer) is theirs; one held for another is not free.
    if await waitlist.seats_left(session, program, clock, for_child=child.id) <= 0:
        raise DomainError("no_seats")


async def _september_need(session: AsyncSession, child: Child, year: int, unit: Unit,
                          new_program: Program, new_allocation_months: dict[int, int]) -> int:
    """What the child's programs still lack for September–December of `year`."""
    enrollments = (await session.execute(select(Enrollment).join(Program).where(
        Enrollment.child_id == child.id, Enrollment.status == EnrollmentStatus.ACTIVE,
        Program.funding == Funding.CERTIFICATE))).scalars().all()
    lacking = 0
    for enrollment in enrollments:
        try:
            price = price_per_month(enrollment.program, unit)
        except DomainError:
            continue
        reserved = {(y, m): a for y, m, a in await open_reservations(session, enrollment.id)}
        for month in payable_months(enrollment.program, year, SEPTEMBER):
            lacking += max(price - reserved.get((year, month), 0), 0)
    try:
        price = price_per_month(new_program, unit)
    except DomainError:
        return lacking
    for month in payable_months(new_program, year, SEPTEMBER):
        lacking += max(price - new_allocation_months.get(month, 0), 0)
    return lacking


def _price_in(program: Program, child: Child, unit: Unit) -> int:
    """The program's monthly price in the unit of the child's certificate. A certificate pays
    for programs of any municipality of the region (seed 004: «любой сертификат может
    использоваться … по любой программе, включенной в общерегиональный навигатор»), but
    always in its own unit: the certificate's unit is its municipality's nominal, not the
    program's (a Пятигорск child's rubles pay an Абакан program's ruble price). A program
    with no price in that unit cannot be paid; the refusal names both municipalities."""
    try:
        return price_per_month(program, unit)
    except DomainError:
        raise DomainError("price_missing", unit=unit.value, program_municipality=program.municipality.name,
                          child_municipality=child.municipality.name,
                          elsewhere=program.municipality_id != child.municipality_id) from None


async def certificate_unit(session: AsyncSession, child: Child, year: int) -> Unit | None:
    """The unit a certificate-funded program would cost the child in `year`: the certificate's
    once credited for the year, else the nominal's of the child's municipality; None while
    neither is known."""
    certificate = child.certificate
    if certificate is not None and certificate.unit is not None and await has_credit(session, certificate.id, year):
        return certificate.unit
    nominal = await get_nominal(session, child.municipality_id, year)
    return nominal.unit if nominal is not None else None


async def _quote(session: AsyncSession, child: Child, program: Program, clock: Clock) -> Quote:
    today = clock.today()
    year = today.year
    await _check_child_and_program(session, child, program, clock)
    if not payable_months(program, year, today.month) and not taught_after(program, year):
        raise DomainError("no_months_left", end_date=program.end_date)  # its last study month is past
    certificate = child.certificate
    issues = certificate is None

    if program.funding is Funding.MUNICIPAL:
        status_after = certificate.status if certificate is not None else CertificateStatus.REGISTERED
        if status_after is CertificateStatus.UNCONFIRMED:
            status_after = CertificateStatus.REGISTERED
        before = (await balance(session, certificate, year)).available if certificate is not None else 0
        return Quote(child=child, program=program, year=year, unit=certificate.unit if certificate else None,
                     months=payable_months(program, year, today.month), cost=0, covered=0, copay=0,
                     balance_before=before, balance_after=before, issues_certificate=issues,
                     status_after=status_after, budget_warning=None, per_month=[])

    # A certificate-funded program: the year's nominal must exist (or be credited already).
    credited = certificate is not None and await has_credit(session, certificate.id, year)
    credits_nominal = 0
    if credited:
        assert certificate is not None and certificate.unit is not None
        unit = certificate.unit
        before = (await balance(session, certificate, year)).available
    else:
        nominal = await get_nominal(session, child.municipality_id, year)
        if nominal is None:
            raise DomainError("nominal_not_set", municipality=child.municipality.name, year=year)
        unit = nominal.unit
        credits_nominal = nominal.amount
        before = credits_nominal
    price = _price_in(program, child, unit)
    months = payable_months(program, year, today.month)
    allocation = allocate(months, price, before)
    after = before - allocation.covered
    warning = None
    if today.month < SEPTEMBER - 3:  # January–May
        need = await _september_need(session, child, year, unit, program, dict(allocation.per_month))
        if need > after:
            warning = BudgetWarning(needed_from_september=need, left_after=after)
    later = await estimate_later_years(session, child, program, year, unit, nominal=credits_nominal or None)
    return Quote(child=child, program=program, year=year, unit=unit, months=months, cost=allocation.cost,
                 covered=allocation.covered, copay=allocation.copay, balance_before=before,
                 balance_after=after, issues_certificate=issues, status_after=CertificateStatus.FUNDED,
                 budget_warning=warning, per_month=allocation.per_month, credits_nominal=credits_nominal,
                 later_years=tuple(later))


async def quote(session: AsyncSession, parent: Parent | None, child_id: int, program_id: int,
                clock: Clock) -> Quote:
    """The breakdown a parent sees before confirming; writes nothing."""
    parent = require_consent(parent)
    child = await get_child(session, parent, child_id)
    program = await _program(session, program_id, locked=False)
    return await _quote(session, child, program, clock)


async def eligibility(session: AsyncSession, parent: Parent | None, program_id: int,
                      clock: Clock) -> list[tuple[Child, DomainError | None]]:
    """Each of the parent's children, with the reason they cannot enroll (or None)."""
    parent = require_consent(parent)
    program = await _program(session, program_id, locked=False)
    result: list[tuple[Child, DomainError | None]] = []
    for child in await list_children(session, parent):
        try:
            await _quote(session, child, program, clock)
            result.append((child, None))
        except DomainError as refusal:
            result.append((child, refusal))
    return result


# --- writing --------------------------------------------------------------

async def enroll(session: AsyncSession, parent: Parent | None, child_id: int, program_id: int,
                 clock: Clock) -> EnrollResult:
    parent = require_consent(parent)
    await get_child(session, parent, child_id)            # ownership first: nothing locked for strangers
    program = await _program(session, program_id, locked=True)
    child = await lock_child(session, child_id)
    year = clock.today().year
    if program.funding is Funding.CERTIFICATE and child.certificate is not None \
            and not await has_credit(session, child.certificate.id, year):
        # A certificate from an earlier year: roll it into this year first, so
        # its continuing enrollments keep their priority over this new one.
        await roll_certificate(session, child, year, clock)
    q = await _quote(session, child, program, clock)

    certificate = child.certificate
    issued = certificate is None
    if certificate is None:
        certificate = await issue_certificate(session, child, q.status_after or CertificateStatus.REGISTERED, clock)
    elif q.status_after is not None and _rank(q.status_after) > _rank(certificate.status):
        certificate.status = q.status_after
    if q.credits_nominal:
        assert q.unit is not None
        certificate.unit = q.unit
        append(session, certificate, LedgerKind.CREDIT, q.credits_nominal, unit=q.unit, year=year, clock=clock)

    enrollment = Enrollment(child_id=child.id, program_id=program.id, status=EnrollmentStatus.ACTIVE,
                            enrolled_at=clock.now())
    session.add(enrollment)
    await session.flush()
    if program.funding is Funding.CERTIFICATE:
        assert q.unit is not None
        for month, amount in q.per_month:
            append(session, certificate, LedgerKind.RESERVE, amount, unit=q.unit, year=year, month=month,
                   enrollment_id=enrollment.id, clock=clock)
        session.add(Charge(enrollment_id=enrollment.id, year=year, unit=q.unit, months=len(q.months),
                           cost=q.cost, covered=q.covered, copay=q.copay, created_at=clock.now()))
    waiting = (await session.execute(select(WaitlistEntry).where(
        WaitlistEntry.child_id == child.id, WaitlistEntry.program_id == program.id,
        WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED])))).scalars().all()
    for entry in waiting:
        entry.status = WaitlistStatus.ENROLLED
    await session.flush()
    after = await balance(session, certificate, year) if certificate.unit is not None else None
    return EnrollResult(enrollment=enrollment, quote=q, certificate=certificate, certificate_issued=issued,
                        balance=after)


_RANKS = {CertificateStatus.UNCONFIRMED: 0, CertificateStatus.REGISTERED: 1, CertificateStatus.FUNDED: 2}


def _rank(status: CertificateStatus) -> int:
    return _RANKS[status]


async def join_waitlist(session: AsyncSession, parent: Parent | None, child_id: int, program_id: int,
                        clock: Clock) -> WaitlistEntry:
    """A full program's waiting list: only when the child could enroll but for the seat."""
    parent = require_consent(parent)
    await get_child(session, parent, child_id)
    program = await _program(session, program_id, locked=True)
    child = await lock_child(session, child_id)
    try:
        await _quote(session, child, program, clock)
    except DomainError as refusal:
        if refusal.reason != "no_seats":
            raise
    else:
        raise DomainError("seats_available")
    existing = (await session.execute(select(WaitlistEntry).where(
        WaitlistEntry.child_id == child.id, WaitlistEntry.program_id == program.id,
        WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED])))).scalars().first()
    if existing is not None:
        raise DomainError("already_waiting")
    entry = WaitlistEntry(program_id=program.id, child_id=child.id, status=WaitlistStatus.WAITING,
                          created_at=clock.now())
    session.add(entry)
    await session.flush()
    return entry


async def list_enrollments(session: AsyncSession, parent: Parent | None) -> list[Enrollment]:
    if parent is None:
        return []
    stmt = (select(Enrollment).join(Child, Enrollment.child_id == Child.id)
            .where(Child.parent_id == parent.owner_id, Child.forgotten_at.is_(None))
            .order_by((Enrollment.status == EnrollmentStatus.ACTIVE).desc(), Enrollment.enrolled_at.desc(),
                      Enrollment.id.desc()))
    return list((await session.execute(stmt)).scalars().unique())


async def get_enrollment(session: AsyncSession, parent: Parent | None, enrollment_id: int) -> Enrollment:
    """The parent's own enrollment; anybody else's is "not found"."""
    enrollment = await session.get(Enrollment, enrollment_id)
    if parent is None or enrollment is None or enrollment.child.parent_id != parent.owner_id \
            or enrollment.child.forgotten_at is not None:
        raise NotFound("enrollment", enrollment_id=enrollment_id)
    return enrollment


async def charges_for(session: AsyncSession, enrollment: Enrollment) -> list[Charge]:
    stmt = select(Charge).where(Charge.enrollment_id == enrollment.id).order_by(Charge.year)
    return list((await session.execute(stmt)).scalars())


def _refundable(reservations: list[tuple[int, int, int]], enrollment: Enrollment,
                clock: Clock) -> list[tuple[int, int, int]]:
    """Months after the current one; everything on the day of enrollment."""
    today = clock.today()
    if enrollment.enrolled_at.astimezone(clock.tz).date() == today:
        return reservations
    current = (today.year, today.month)
    return [(year, month, amount) for year, month, amount in reservations if (year, month) > current]


async def cancel_quote(session: AsyncSession, parent: Parent | None, enrollment_id: int,
                       clock: Clock) -> CancelQuote:
    parent = require_consent(parent)
    enrollment = await get_enrollment(session, parent, enrollment_id)
    if enrollment.status is not EnrollmentStatus.ACTIVE:
        raise DomainError("not_active")
    refunds = _refundable(await open_reservations(session, enrollment.id), enrollment, clock)
    refund = sum(amount for _, _, amount in refunds)
    certificate = enrollment.child.certificate
    before = (await balance(session, certificate, clock.today().year)).available if certificate else 0
    # Only this year's refunds return to this year's available money.
    this_year = sum(amount for year, _, amount in refunds if year == clock.today().year)
    covers = await plan_coverage(session, certificate, clock.today().year, clock, free=before + this_year,
                                 excluding=enrollment.id) if certificate else []
    after = before + this_year - sum(c.covered for c in covers)
    return CancelQuote(enrollment=enrollment, refund=refund, unit=certificate.unit if certificate else None,
                       balance_before=before, balance_after=after, refunds=refunds, covers=tuple(covers))


async def cancel(session: AsyncSession, parent: Parent | None, enrollment_id: int, clock: Clock) -> CancelResult:
    parent = require_consent(parent)
    enrollment = await get_enrollment(session, parent, enrollment_id)
    program = await _program(session, enrollment.program_id, locked=True)
    child = await lock_child(session, enrollment.child_id)
    await session.refresh(enrollment)
    if enrollment.status is not EnrollmentStatus.ACTIVE:
        raise DomainError("not_active")
    certificate = child.certificate
    refunds = _refundable(await open_reservations(session, enrollment.id), enrollment, clock)
    for year, month, amount in refunds:
        assert certificate is not None and certificate.unit is not None
        append(session, certificate, LedgerKind.REFUND, amount, unit=certificate.unit, year=year, month=month,
               enrollment_id=enrollment.id, clock=clock)
    enrollment.status = EnrollmentStatus.CANCELLED
    enrollment.cancelled_at = clock.now()
    await session.flush()
    covered = await cover_copayments(session, certificate, clock.today().year, clock) if certificate else []
    offered = next(iter(await waitlist.offer_free_seats(session, program, clock)), None)
    after = None
    if certificate is not None and certificate.unit is not None:
        after = await balance(session, certificate, clock.today().year)
    return CancelResult(enrollment=enrollment, refund=sum(a for _, _, a in refunds),
                        unit=certificate.unit if certificate else None, balance=after, offered=offered,
                        covered=tuple(covered))
