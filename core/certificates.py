"""Certificates and their ledger (SPEC §1 "Children and certificates", "Money").

Every change of a balance is an appended `LedgerEntry`; balances are sums.
Per certificate year Y:
    available = credit − reserve + refund − expire
    reserved  = reserve − settle − refund
    spent     = settle
so credit = available + reserved + spent + expired always holds. Callers that
write must hold the child's lock (`lock_child`) first, so a balance read and
the reservation based on it cannot interleave with another writer.
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core import municipalities
from core.children import certificate_valid_until
from core.clock import Clock
from core.errors import DomainError, NotFound
from core.models import (
    Certificate,
    CertificateStatus,
    Child,
    LedgerEntry,
    LedgerKind,
    Nominal,
    Unit,
)

NUMBER_DIGITS = 10


@dataclass(frozen=True)
class Balance:
    """One certificate year, in the certificate's unit (kopecks or hours)."""
    year: int | None
    unit: Unit | None
    credited: int = 0
    available: int = 0
    reserved: int = 0
    spent: int = 0
    expired: int = 0


@dataclass(frozen=True)
class MonthPlan:
    month: int
    reserved: int   # planned for this month (reserved, or already settled)
    settled: bool   # the month is paid out (spent)


@dataclass(frozen=True)
class YearPlan:
    year: int
    unit: Unit | None
    months: list[MonthPlan]
    reserved_total: int
    free: int


# --- nominals -------------------------------------------------------------

async def set_nominal(session: AsyncSession, municipality_name: str, year: int,
                      amount: int, unit: Unit) -> Nominal:
    """The nominal of a registered municipality for a calendar year (kopecks or
    hours); an unknown name is refused, never registered (`municipality_unknown`)."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise DomainError("amount_invalid", amount=amount)
    if not 2000 <= year <= 2100:
        raise DomainError("year_invalid", year=year)
    municipality = await municipalities.find(session, municipality_name)
    nominal = await get_nominal(session, municipality.id, year)
    if nominal is None:
        nominal = Nominal(municipality_id=municipality.id, year=year, amount=amount, unit=unit)
        session.add(nominal)
    else:
        nominal.amount, nominal.unit = amount, unit
    await session.flush()
    await session.refresh(nominal, ["municipality"])
    return nominal


async def get_nominal(session: AsyncSession, municipality_id: int, year: int) -> Nominal | None:
    stmt = select(Nominal).where(Nominal.municipality_id == municipality_id, Nominal.year == year)
    return (await session.execute(stmt)).scalar_one_or_none()


async def nominal_units(session: AsyncSession, municipality_ids: Iterable[int], year: int) -> dict[int, Unit]:
    """The unit (rubles or hours) of each municipality's nominal for `year`, in one query;
    a municipality with no nominal that year is absent."""
    ids = sorted(set(municipality_ids))
    if not ids:
        return {}
    rows = await session.execute(select(Nominal.municipality_id, Nominal.unit).where(
        Nominal.municipality_id.in_(ids), Nominal.year == year))
    return {muni: Unit(unit) for muni, unit in rows.all()}


# --- certificates ---------------------------------------------------------

def certificate_status(child: Child) -> CertificateStatus | None:
    """The child's certificate status; None while no certificate was issued."""
    return child.certificate.status if child.certificate is not None else None


async def lock_child(session: AsyncSession, child_id: int) -> Child:
    """Take the child's row lock (PostgreSQL; SQLite already holds the write
    lock) and reload it with its certificate as committed by others. The
    certificate is read by a statement of its own, after the lock: the one that
    waited for the lock sees, on PostgreSQL, only the locked row anew, not the
    rows joined to it (a certificate issued meanwhile would look missing)."""
    stmt = (select(Child).where(Child.id == child_id).with_for_update(of=Child)
            .execution_options(populate_existing=True))
    child = (await session.execute(stmt)).scalar_one_or_none()
    if child is None:
        raise NotFound("child", child_id=child_id)
    certificate = (await session.execute(
        select(Certificate).where(Certificate.child_id == child_id)
        .execution_options(populate_existing=True))).scalar_one_or_none()
    child.certificate = certificate
    return child


async def _new_number(session: AsyncSession) -> str:
    for _ in range(50):
        number = str(secrets.randbelow(9 * 10 ** (NUMBER_DIGITS - 1)) + 10 ** (NUMBER_DIGITS - 1))
        taken = (await session.execute(select(Certificate.id).where(Certificate.number == number))).first()
        if taken is None:
            return number
    raise RuntimeError("could not draw a free certificate number")  # pragma: no cover


async def issue_certificate(session: AsyncSession, child: Child, status: CertificateStatus,
                            clock: Clock) -> Certificate:
    """Issue the child's one certificate (caller holds the child's lock)."""
    if child.certificate is not None:
        raise DomainError("certificate_exists")
    assert child.birth_date is not None
    certificate = Certificate(child_id=child.id, number=await _new_number(session), status=status,
                              issued_at=clock.now(), valid_until=certificate_valid_until(child.birth_date))
    session.add(certificate)
    await session.flush()
    child.certificate = certificate
    return certificate


# --- the ledger -----------------------------------------------------------

def append(session: AsyncSession, certificate: Certificate, kind: LedgerKind, amount: int, *,
           unit: Unit, year: int, clock: Clock, month: int | None = None,
           enrollment_id: int | None = None) -> LedgerEntry | None:
    """Append one ledger row; a zero amount writes nothing."""
    if amount < 0:
        raise ValueError("ledger amounts are positive; the kind gives the sign")
    if amount == 0:
        return None
    entry = LedgerEntry(certificate_id=certificate.id, kind=kind, amount=amount, unit=unit, year=year,
                        month=month, enrollment_id=enrollment_id, created_at=clock.now())
    session.add(entry)
    return entry


async def _sums(session: AsyncSession, certificate_id: int, year: int) -> dict[LedgerKind, int]:
    stmt = (select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.amount), 0))
            .where(LedgerEntry.certificate_id == certificate_id, LedgerEntry.year == year)
            .group_by(LedgerEntry.kind))
    return {kind: int(total) for kind, total in (await session.execute(stmt)).all()}


async def latest_year(session: AsyncSession, certificate_id: int) -> int | None:
    stmt = select(func.max(LedgerEntry.year)).where(LedgerEntry.certificate_id == certificate_id,
                                                    LedgerEntry.kind == LedgerKind.CREDIT)
    return (await session.execute(stmt)).scalar()


async def balance(session: AsyncSession, certificate: Certificate, year: int | None = None) -> Balance:
    """The balance of one certificate year (default: the latest credited year)."""
    await session.flush()
    if year is None:
        year = await latest_year(session, certificate.id)
        if year is None:
            return Balance(year=None, unit=certificate.unit)
    sums = await _sums(session, certificate.id, year)
    credit, reserve = sums.get(LedgerKind.CREDIT, 0), sums.get(LedgerKind.RESERVE, 0)
    settle, refund = sums.get(LedgerKind.SETTLE, 0), sums.get(LedgerKind.REFUND, 0)
    expire = sums.get(LedgerKind.EXPIRE, 0)
    return Balance(year=year, unit=certificate.unit, credited=credit,
                   available=credit - reserve + refund - expire,
                   reserved=reserve - settle - refund, spent=settle, expired=expire)


async def has_credit(session: AsyncSession, certificate_id: int, year: int) -> bool:
    stmt = select(exists().where(LedgerEntry.certificate_id == certificate_id,
                                 LedgerEntry.kind == LedgerKind.CREDIT, LedgerEntry.year == year))
    return bool((await session.execute(stmt)).scalar())


async def year_plan(session: AsyncSession, certificate: Certificate, year: int) -> YearPlan:
    """Month by month: what is planned (reserved or spent) and the free remainder."""
    await session.flush()
    entry = LedgerEntry
    stmt = (select(entry.month, entry.kind, func.sum(entry.amount))
            .where(entry.certificate_id == certificate.id, entry.year == year, entry.month.is_not(None),
                   entry.kind.in_([LedgerKind.RESERVE, LedgerKind.REFUND, LedgerKind.SETTLE]))
            .group_by(entry.month, entry.kind))
    per_month: dict[int, dict[LedgerKind, int]] = {}
    for month, kind, total in (await session.execute(stmt)).all():
        per_month.setdefault(month, {})[kind] = int(total)
    months = []
    for month in range(1, 13):
        sums = per_month.get(month, {})
        planned = sums.get(LedgerKind.RESERVE, 0) - sums.get(LedgerKind.REFUND, 0)
        months.append(MonthPlan(month=month, reserved=planned, settled=sums.get(LedgerKind.SETTLE, 0) > 0))
    current = await balance(session, certificate, year)
    return YearPlan(year=year, unit=certificate.unit, months=months,
                    reserved_total=sum(m.reserved for m in months), free=current.available)


async def open_reservations(session: AsyncSession, enrollment_id: int) -> list[tuple[int, int, int]]:
    """(year, month, amount) still reserved — neither settled nor refunded — for an enrollment.

    A month may have several RESERVE rows (freed money topped it up, core/copay.py):
    its amount is their sum, and one SETTLE or REFUND closes all of them."""
    # The outer row is aliased so the correlated subquery compares against it.
    outer = aliased(LedgerEntry)
    closed = exists().where(and_(
        LedgerEntry.enrollment_id == outer.enrollment_id, LedgerEntry.year == outer.year,
        LedgerEntry.month == outer.month,
        LedgerEntry.kind.in_([LedgerKind.SETTLE, LedgerKind.REFUND])))
    stmt = (select(outer.year, outer.month, func.sum(outer.amount))
            .where(outer.enrollment_id == enrollment_id, outer.kind == LedgerKind.RESERVE, ~closed)
            .group_by(outer.year, outer.month)
            .order_by(outer.year, outer.month))
    return [(year, month, int(amount)) for year, month, amount in (await session.execute(stmt)).all()]
