"""Operator statistics: counts only, never a name or a SNILS."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.models import (
    Certificate,
    CertificateStatus,
    Child,
    Enrollment,
    EnrollmentStatus,
    Parent,
    Subscription,
)


@dataclass
class Stats:
    parents: int = 0                 # not forgotten
    consented: int = 0
    unreachable: int = 0             # blocked the bot: alerts paused
    forgotten: int = 0
    children: int = 0                # with personal data still held
    certificates: dict[CertificateStatus, int] = field(default_factory=dict)
    enrollments_active: int = 0
    enrollments_cancelled: int = 0
    subscriptions: int = 0
    alerts: dict[str, int] = field(default_factory=dict)  # outbox status → rows

    @property
    def certificates_total(self) -> int:
        return sum(self.certificates.values())


async def _count(session: AsyncSession, stmt) -> int:  # noqa: ANN001
    return int((await session.execute(stmt)).scalar_one())


async def collect(session: AsyncSession) -> Stats:
    count = select(func.count())
    stats = Stats()
    stats.parents = await _count(session, count.select_from(Parent).where(Parent.forgotten_at.is_(None)))
    stats.consented = await _count(session, count.select_from(Parent).where(
        Parent.forgotten_at.is_(None), Parent.consent_at.is_not(None)))
    stats.unreachable = await _count(session, count.select_from(Parent).where(
        Parent.forgotten_at.is_(None), Parent.unreachable_at.is_not(None)))
    stats.forgotten = await _count(session, count.select_from(Parent).where(Parent.forgotten_at.is_not(None)))
    stats.children = await _count(session, count.select_from(Child).where(Child.forgotten_at.is_(None)))
    by_status = dict((await session.execute(
        select(Certificate.status, func.count()).group_by(Certificate.status))).all())
    stats.certificates = {status: int(by_status.get(status, 0)) for status in CertificateStatus}
    by_enrollment = dict((await session.execute(
        select(Enrollment.status, func.count()).group_by(Enrollment.status))).all())
    stats.enrollments_active = int(by_enrollment.get(EnrollmentStatus.ACTIVE, 0))
    stats.enrollments_cancelled = int(by_enrollment.get(EnrollmentStatus.CANCELLED, 0))
    stats.subscriptions = await _count(session, count.select_from(Subscription))
    stats.alerts = await outbox.counts(session)
    return stats
