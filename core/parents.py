"""Parents: a messenger account, consent to personal-data processing, forgetting."""
from __future__ import annotations

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import consent, family
from core.clock import Clock
from core.db import mark_erased
from core.errors import DomainError
from core.models import (
    Child,
    DialogState,
    Enrollment,
    EnrollmentStatus,
    Parent,
    Review,
    Subscription,
    WaitlistEntry,
    WaitlistStatus,
)


# Built once: every update of every dialog looks its parent up, and building a statement
# (and its cache key) costs more than running it.
_PARENT_BY_ACCOUNT = select(Parent).where(Parent.platform == bindparam("platform"),
                                          Parent.external_id == bindparam("external_id"))


async def get_parent(session: AsyncSession, platform: str, external_id: str) -> Parent | None:
    found = await session.execute(_PARENT_BY_ACCOUNT, {"platform": platform, "external_id": str(external_id)})
    return found.scalar_one_or_none()


async def ensure_parent(session: AsyncSession, platform: str, external_id: str) -> Parent:
    parent = await get_parent(session, platform, external_id)
    if parent is None:
        parent = Parent(platform=platform, external_id=str(external_id))
        session.add(parent)
        await session.flush()
    return parent


def has_consent(parent: Parent | None) -> bool:
    return parent is not None and parent.consent_at is not None and parent.forgotten_at is None


def require_consent(parent: Parent | None) -> Parent:
    if not has_consent(parent):
        raise DomainError("consent_required")
    assert parent is not None
    return parent


async def give_consent(session: AsyncSession, parent: Parent, clock: Clock) -> None:
    if parent.consent_at is None:
        parent.consent_at = clock.now()
    parent.unreachable_at = None
    await session.flush()


async def forget_parent(session: AsyncSession, parent: Parent, clock: Clock) -> None:
    """Delete the parent's personal data (SPEC /forget).

    Children lose name, birth date and SNILS (their encrypted values; SQLite zeroes them
    in its files, see `mark_erased`) but keep the SNILS's keyed hash; review comments go
    (their ratings stay, anonymous); subscriptions and open
    places on waiting lists go; active enrollments are cancelled first, each with the usual
    refund, its seat freed for the waiting list; the dialog state goes. Certificates, enrollments and
    ledger rows stay, anonymised: money records are never deleted. The parent
    row is detached from the messenger account, so a later /start begins afresh.

    An account linked to others (/link) first leaves its family: the family's children and
    subscriptions stay with the other accounts, and only this account is erased.
    """
    await family.forget_links(session, parent)
    now = clock.now()
    child_ids = select(Child.id).where(Child.parent_id == parent.id).scalar_subquery()
    await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.child_id.in_(child_ids),
               WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]))
        .values(status=WaitlistStatus.WITHDRAWN)
    )
    # After the waiting places are withdrawn (a freed seat must not be offered to a child
    # being forgotten), before the erase (cancelling needs the child and the consent).
    await _cancel_active_enrollments(session, parent, clock)
    await consent.withdraw_all(session, parent, now)
    await session.execute(
        update(Child).where(Child.parent_id == parent.id)
        # The SNILS's hash stays: the same child, added again, finds the same certificate.
        .values(full_name_enc=None, birth_date_enc=None, snils_enc=None, forgotten_at=now)
    )
    # A review's rating stays, an anonymous figure on the card; its comment is the parent's
    # free text and may name people: it goes with the rest of their personal data.
    await session.execute(update(Review).where(Review.child_id.in_(child_ids)).values(comment_enc=None))
    for subscription in (await session.execute(
            select(Subscription).where(Subscription.parent_id == parent.id))).scalars():
        await session.delete(subscription)
    await session.execute(delete(DialogState).where(
        DialogState.platform == parent.platform, DialogState.user_id == parent.external_id))
    parent.external_id = f"forgotten:{parent.id}"
    parent.consent_at = None
    parent.consent_version = None
    parent.forgotten_at = now
    await session.flush()
    mark_erased(session)


async def active_enrollment_ids(session: AsyncSession, parent: Parent) -> list[int]:
    """The parent's active enrollments (of children not forgotten), oldest first."""
    return list((await session.execute(
        select(Enrollment.id).join(Child, Enrollment.child_id == Child.id)
        .where(Child.parent_id == parent.owner_id, Child.forgotten_at.is_(None),
               Enrollment.status == EnrollmentStatus.ACTIVE)
        .order_by(Enrollment.enrolled_at, Enrollment.id))).scalars())


async def _cancel_active_enrollments(session: AsyncSession, parent: Parent, clock: Clock) -> None:
    # Imported here: core.enrollment checks consent through this module.
    from core import enrollment

    for enrollment_id in await active_enrollment_ids(session, parent):
        await enrollment.cancel(session, parent, enrollment_id, clock)
