"""Parents, children and subscriptions in bulk (fixed seed), written straight to the tables."""
from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import insert, select

from bench import data
from bot.dialogs.consent_document import CONSENT_VERSION
from core import pd
from core.models import Category, Child, Municipality, Parent, Subscription, SubscriptionCategory
from core.snils import control_number

CHUNK = 5000


def snils(n: int) -> str:
    first = f"{200_000_000 + n:09d}"
    return first + f"{control_number(first):02d}"


def sealed_child(full_name: str, birth_date: dt.date, snils_digits: str) -> dict[str, Any]:
    """A child's personal columns as the model stores them (encrypted, with the SNILS's hash)."""
    return {"full_name_enc": pd.seal("children.full_name", full_name),
            "birth_date_enc": pd.seal_date("children.birth_date", birth_date),
            "snils_enc": pd.seal("children.snils", snils_digits), "snils_hash": pd.snils_hash(snils_digits)}


def child_name(n: int) -> str:
    return f"Бенчев{'а' if n % 2 else ''} Ребёнок {n}"


async def town_ids(session: Any) -> list[int]:
    return list((await session.execute(
        select(Municipality.id).where(Municipality.name.in_(data.TOWNS)).order_by(Municipality.id))).scalars())


async def add_parents(db: Any, clock: Any, count: int, *, platform: str = "telegram", first_user: int = 10_000_000,
                      children: bool = True, subscriptions: bool = False) -> list[int]:
    """`count` consenting parents (platform user ids first_user…), each with one child aged 6–15
    and, if asked, one subscription in the child's town. Returns the platform user ids."""
    rng = random.Random(data.SEED + first_user)
    now = clock.now()
    async with db.read() as session:
        towns = await town_ids(session)
    users = list(range(first_user, first_user + count))
    for start in range(0, count, CHUNK):
        block = users[start:start + CHUNK]
        async with db.write() as session:
            await session.execute(insert(Parent), [
                {"platform": platform, "external_id": str(u), "consent_at": now, "consent_version": CONSENT_VERSION,
                 "created_at": now} for u in block])
            ids = dict((await session.execute(select(Parent.external_id, Parent.id).where(
                Parent.platform == platform, Parent.external_id.in_([str(u) for u in block])))).all())
            if children:
                await session.execute(insert(Child), [{
                    "parent_id": ids[str(u)], **sealed_child(
                        child_name(u), dt.date(now.year - rng.randint(6, 15), rng.randint(1, 12), rng.randint(1, 28)),
                        snils(u)),
                    "snils_confirmed": True,
                    "municipality_id": towns[u % len(towns)], "created_at": now} for u in block])
            if subscriptions:
                await session.execute(insert(Subscription), [{
                    "parent_id": ids[str(u)], "municipality_id": towns[u % len(towns)],
                    "age": rng.choice([None, rng.randint(6, 15)]), "certificate_only": rng.random() < 0.3,
                    "created_at": now} for u in block])
                subs = (await session.execute(select(Subscription.id).where(
                    Subscription.parent_id.in_(list(ids.values()))))).scalars().all()
                cats = [{"subscription_id": s, "category": rng.choice(list(Category))}
                        for s in subs if rng.random() < 0.5]
                if cats:
                    await session.execute(insert(SubscriptionCategory), cats)
    return users


async def child_ages(db: Any, clock: Any, users: list[int], platform: str = "telegram") -> dict[int, int]:
    """Each parent's child's age today (add_parents gives every parent one child)."""
    from core.children import age_on

    today = clock.today()
    async with db.read() as session:
        found = (await session.execute(
            select(Parent.external_id, Child).join(Child, Child.parent_id == Parent.id)
            .where(Parent.platform == platform))).all()
    wanted = {str(u) for u in users}
    return {int(user): age_on(kid.birth_date, today) for user, kid in found if user in wanted}


async def fund_certificates(db: Any, clock: Any, users: list[int], platform: str = "telegram") -> None:
    """Give these parents' children a funded rubles certificate with this year's nominal credited,
    straight in the tables (the chart benchmark draws their years)."""
    from core.children import certificate_valid_until
    from core.models import Certificate, CertificateStatus, LedgerEntry, LedgerKind, Unit

    now = clock.now()
    year = clock.today().year
    async with db.write() as session:
        # Whole rows: the birth date is stored encrypted and read through the model.
        found = [(kid.id, kid.birth_date) for kid in (await session.execute(
            select(Child).join(Parent, Child.parent_id == Parent.id)
            .where(Parent.platform == platform, Parent.external_id.in_([str(u) for u in users])))).scalars()]
        await session.execute(insert(Certificate), [{
            "child_id": child_id, "number": f"{9_000_000_000 + child_id}", "status": CertificateStatus.FUNDED,
            "unit": Unit.RUB, "issued_at": now, "valid_until": certificate_valid_until(born)}
            for child_id, born in found])
        certificates = (await session.execute(select(Certificate.id).where(
            Certificate.child_id.in_([child_id for child_id, _ in found])))).scalars().all()
        # Credits only: a reservation belongs to an enrollment (the ledger's unique index
        # allows one row without one per kind and year); the drawing's cost is the same.
        await session.execute(insert(LedgerEntry), [{
            "certificate_id": certificate_id, "kind": LedgerKind.CREDIT, "amount": 1_000_000 + 10_000 * n,
            "unit": Unit.RUB, "year": year, "month": None, "created_at": now}
            for n, certificate_id in enumerate(certificates)])
