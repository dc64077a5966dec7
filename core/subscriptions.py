"""New-program alerts (SPEC §1): a parent's subscriptions, and which new
programs match whom, computed by the database in one statement.

A program is new for a subscription when it was first published after the
subscription was made (Program.published_at is set once, at creation).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from core import municipalities
from core.clock import Clock
from core.errors import DomainError, NotFound
from core.models import Category, Funding, Parent, Program, Subscription, SubscriptionCategory

MAX_SUBSCRIPTIONS = 10
AGE_MIN, AGE_MAX = 5, 17


def alerts_recipient():  # noqa: ANN201 - an aliased Parent
    """The account that gets a family's alerts, as a second `parents` in a query: joined on
    `coalesce(owner.alerts_to_id, owner.id)` from the family's owning row."""
    return aliased(Parent, name="recipient")


async def create_subscription(session: AsyncSession, parent: Parent, *, municipality_id: int,
                              categories: list[Category], age: int | None,
                              certificate_only: bool, clock: Clock) -> Subscription:
    if parent.consent_at is None or parent.forgotten_at is not None:
        raise DomainError("consent_required")
    await municipalities.get(session, municipality_id)
    if age is not None and not AGE_MIN <= age <= AGE_MAX:
        raise DomainError("age_out_of_range", age=age, min=AGE_MIN, max=AGE_MAX)
    try:
        chosen = [Category(category) for category in categories]
    except ValueError:
        raise DomainError("category_invalid") from None
    if len(set(chosen)) != len(chosen):
        raise DomainError("categories_repeated")
    count = (await session.execute(
        select(func.count()).select_from(Subscription).where(Subscription.parent_id == parent.owner_id))).scalar_one()
    if count >= MAX_SUBSCRIPTIONS:
        raise DomainError("too_many_subscriptions", limit=MAX_SUBSCRIPTIONS)
    subscription = Subscription(
        parent_id=parent.owner_id, municipality_id=municipality_id, age=age,
        certificate_only=bool(certificate_only), created_at=clock.now(),
        categories=[SubscriptionCategory(category=category) for category in chosen])
    session.add(subscription)
    await session.flush()
    await session.refresh(subscription, ["municipality", "categories"])
    return subscription


async def list_subscriptions(session: AsyncSession, parent: Parent) -> list[Subscription]:
    return list((await session.execute(
        select(Subscription).where(Subscription.parent_id == parent.owner_id)
        .order_by(Subscription.created_at, Subscription.id))).scalars())


async def get_subscription(session: AsyncSession, parent: Parent, subscription_id: int) -> Subscription:
    """The parent's own subscription; another parent's is "not found"."""
    found = (await session.execute(
        select(Subscription).where(Subscription.id == subscription_id,
                                   Subscription.parent_id == parent.owner_id))).scalar_one_or_none()
    if found is None:
        raise NotFound("subscription", subscription_id=subscription_id)
    return found


async def delete_subscription(session: AsyncSession, parent: Parent, subscription_id: int) -> None:
    subscription = await get_subscription(session, parent, subscription_id)
    await session.delete(subscription)
    await session.flush()


def new_program_matches(published_after: dt.datetime, published_until: dt.datetime) -> Select:
    """Rows (subscription_id, parent_id, program_id): programs first published
    in (published_after, published_until] that are new for a subscription and
    pass its filters, for parents still reachable. `parent_id` is the account that gets
    the alerts of the subscription's family (core/family.py): one per family.

    Plain columns, no ORDER BY, so `insert(Outbox).from_select([...], this)`
    works. Aware datetimes are compared in UTC on every backend (UTCDateTime).
    """
    has_categories = exists().where(SubscriptionCategory.subscription_id == Subscription.id)
    category_chosen = exists().where(SubscriptionCategory.subscription_id == Subscription.id,
                                     SubscriptionCategory.category == Program.category)
    recipient = alerts_recipient()
    return (
        select(Subscription.id.label("subscription_id"),
               recipient.id.label("parent_id"),
               Program.id.label("program_id"))
        .select_from(Subscription)
        .join(Parent, Parent.id == Subscription.parent_id)
        .join(recipient, recipient.id == func.coalesce(Parent.alerts_to_id, Parent.id))
        .join(Program, and_(Program.municipality_id == Subscription.municipality_id,
                            Program.published_at > Subscription.created_at))
        .where(
            Program.published_at > published_after,
            Program.published_at <= published_until,
            Parent.forgotten_at.is_(None),
            recipient.forgotten_at.is_(None),
            recipient.unreachable_at.is_(None),
            or_(~has_categories, category_chosen),
            or_(Subscription.age.is_(None),
                and_(Program.age_min <= Subscription.age, Program.age_max >= Subscription.age)),
            or_(Subscription.certificate_only == false(), Program.funding == Funding.CERTIFICATE),
        )
    )


async def matches_by_parent(session: AsyncSession, published_after: dt.datetime,
                            published_until: dt.datetime) -> list[tuple[int, list[int]]]:
    """parent_id → the new programs for them (each once, even when several of
    the parent's subscriptions match it), by parent then program id."""
    matches = new_program_matches(published_after, published_until).subquery()
    rows = await session.execute(
        select(matches.c.parent_id, matches.c.program_id).distinct()
        .order_by(matches.c.parent_id, matches.c.program_id))
    result: list[tuple[int, list[int]]] = []
    for parent_id, program_id in rows:
        if not result or result[-1][0] != parent_id:
            result.append((parent_id, []))
        result[-1][1].append(program_id)
    return result
