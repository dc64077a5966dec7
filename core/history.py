"""«Движение средств»: a certificate's ledger read back, newest first, a page at a time.

The ledger is append-only, so a page once seen only moves down as new rows arrive;
each row comes with the title of the program it paid for (if any), which is all a
parent needs to recognise it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import DomainError, NotFound
from core.models import Certificate, Child, Enrollment, LedgerEntry, LedgerKind, Parent, Program, Unit

PAGE_SIZE = 10


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    kind: LedgerKind
    amount: int            # kopecks or hours, in `unit`
    unit: Unit
    year: int              # the certificate year the row belongs to
    month: int | None      # the month a reservation pays for
    created_at: dt.datetime
    program_title: str | None


@dataclass(frozen=True)
class HistoryPage:
    entries: list[HistoryEntry]
    total: int
    page: int
    pages: int

    @property
    def has_prev(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page + 1 < self.pages


async def own_certificate(session: AsyncSession, parent: Parent | None, certificate_id: int) -> Certificate:
    """The parent's own child's certificate; anybody else's is "not found"."""
    certificate = await session.get(Certificate, certificate_id)
    if parent is None or certificate is None:
        raise NotFound("certificate", certificate_id=certificate_id)
    child = await session.get(Child, certificate.child_id)
    if child is None or child.parent_id != parent.owner_id or child.forgotten_at is not None:
        raise NotFound("certificate", certificate_id=certificate_id)
    return certificate


async def history_page(session: AsyncSession, certificate: Certificate, page: int = 0,
                       page_size: int = PAGE_SIZE) -> HistoryPage:
    """One page of the certificate's ledger, newest first. A page past the last one is
    refused (`history_page_invalid`): a button can only name a page that exists, since
    the ledger never shrinks."""
    await session.flush()
    total = int((await session.execute(
        select(func.count()).select_from(LedgerEntry)
        .where(LedgerEntry.certificate_id == certificate.id))).scalar_one())
    pages = max(1, -(-total // page_size))
    if not 0 <= page < pages:
        raise DomainError("history_page_invalid", page=page)
    stmt = (select(LedgerEntry, Program.title)
            .outerjoin(Enrollment, Enrollment.id == LedgerEntry.enrollment_id)
            .outerjoin(Program, Program.id == Enrollment.program_id)
            .where(LedgerEntry.certificate_id == certificate.id)
            # Rows of one unit of work share a timestamp: the id keeps their order.
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
            .offset(page * page_size).limit(page_size))
    entries = [HistoryEntry(id=row.id, kind=row.kind, amount=row.amount, unit=row.unit, year=row.year,
                            month=row.month, created_at=row.created_at, program_title=title)
               for row, title in (await session.execute(stmt)).all()]
    return HistoryPage(entries=entries, total=total, page=page, pages=pages)
