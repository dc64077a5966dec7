"""Parents: a messenger account, consent to personal-data processing, forgetting."""
from __future__ import annotations

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.db import mark_erased
from core.errors import DomainError
from core.models import Child, DialogState, Parent, Subscription, WaitlistEntry, WaitlistStatus


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
    in its files, see `mark_erased`) but keep the SNILS's keyed hash; subscriptions and open places on
    waiting lists go; the dialog state goes. Certificates, enrollments and
    ledger rows stay, anonymised: money records are never deleted. The parent
    row is detached from the messenger account, so a later /start begins afresh.
    """
    now = clock.now()
    child_ids = select(Child.id).where(Child.parent_id == parent.id).scalar_subquery()
    await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.child_id.in_(child_ids),
               WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]))
        .values(status=WaitlistStatus.WITHDRAWN)
    )
    await session.execute(
        update(Child).where(Child.parent_id == parent.id)
        # The SNILS's hash stays: the same child, added again, finds the same certificate.
        .values(full_name_enc=None, birth_date_enc=None, snils_enc=None, forgotten_at=now)
    )
    for subscription in (await session.execute(
            select(Subscription).where(Subscription.parent_id == parent.id))).scalars():
        await session.delete(subscription)
    await session.execute(delete(DialogState).where(
        DialogState.platform == parent.platform, DialogState.user_id == parent.external_id))
    parent.external_id = f"forgotten:{parent.id}"
    parent.consent_at = None
    parent.forgotten_at = now
    await session.flush()
    mark_erased(session)
