"""What is stored about a parent (152-ФЗ ст. 14, /mydata) and what /forget will do.

Both read only the asking parent's own rows: every query starts from the parent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import consent, enrollment, family, parents, reviews, subscriptions
from core.children import list_children
from core.clock import Clock
from core.models import Child, Consent, Enrollment, Parent, Review, Subscription, WaitlistEntry, WaitlistStatus

OPEN_WAITING = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)


@dataclass
class StoredData:
    parent: Parent
    consents: list[Consent]
    children: list[Child]
    enrollments: list[Enrollment]
    waiting: list[WaitlistEntry]
    subscriptions: list[Subscription]
    reviews: list[Review] = field(default_factory=list)
    # The family's other accounts (/link), which share the children and everything below them,
    # and the account the family's alerts go to.
    linked: list[Parent] = field(default_factory=list)
    alerts_to: Parent | None = None


async def open_waiting(session: AsyncSession, parent: Parent) -> list[WaitlistEntry]:
    return list((await session.execute(
        select(WaitlistEntry).join(Child, WaitlistEntry.child_id == Child.id)
        .where(Child.parent_id == parent.owner_id, Child.forgotten_at.is_(None),
               WaitlistEntry.status.in_(OPEN_WAITING))
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id))).scalars().unique())


async def stored_about(session: AsyncSession, parent: Parent) -> StoredData:
    """Everything kept about the parent and their (not forgotten) children."""
    parents.require_consent(parent)
    return StoredData(
        parent=parent,
        consents=await consent.history(session, parent),
        children=await list_children(session, parent),
        enrollments=await enrollment.list_enrollments(session, parent),
        waiting=await open_waiting(session, parent),
        subscriptions=await subscriptions.list_subscriptions(session, parent),
        reviews=await reviews.of_parent(session, parent),
        linked=[account for account in await family.members(session, parent) if account.id != parent.id],
        alerts_to=await family.alerts_account(session, parent),
    )


@dataclass
class ForgetPlan:
    """What /forget will do, shown before the parent confirms."""
    cancellations: list[enrollment.CancelQuote] = field(default_factory=list)
    waiting: list[WaitlistEntry] = field(default_factory=list)
    subscriptions: int = 0
    children: list[Child] = field(default_factory=list)
    comments: int = 0    # review comments to erase (the ratings stay, anonymous)
    # A linked account (/link): the platforms of the family's other accounts, which keep
    # the family's data; this account alone is erased.
    family_keeps: list[str] = field(default_factory=list)


async def forget_plan(session: AsyncSession, parent: Parent, clock: Clock) -> ForgetPlan:
    parents.require_consent(parent)
    others = [account.platform for account in await family.members(session, parent) if account.id != parent.id]
    if others:   # the family's children, and their reviews, stay with the other accounts
        return ForgetPlan(family_keeps=others)
    quotes = [await enrollment.cancel_quote(session, parent, enrollment_id, clock)
              for enrollment_id in await parents.active_enrollment_ids(session, parent)]
    return ForgetPlan(cancellations=quotes, waiting=await open_waiting(session, parent),
                      subscriptions=len(await subscriptions.list_subscriptions(session, parent)),
                      children=await list_children(session, parent),
                      comments=sum(1 for review in await reviews.of_parent(session, parent)
                                   if review.comment_enc is not None))
