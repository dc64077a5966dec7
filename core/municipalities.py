"""Municipalities: named once, referred to by id (short enough for a button)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import DomainError, NotFound
from core.models import Municipality


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 200:
        raise DomainError("municipality_invalid", name=name[:50])
    return cleaned


async def get_or_create(session: AsyncSession, name: str) -> Municipality:
    cleaned = clean_name(name)
    found = (await session.execute(select(Municipality).where(Municipality.name == cleaned))).scalar_one_or_none()
    if found is None:
        found = Municipality(name=cleaned)
        session.add(found)
        await session.flush()
    return found


async def get(session: AsyncSession, municipality_id: int) -> Municipality:
    found = await session.get(Municipality, municipality_id)
    if found is None:
        raise NotFound("municipality", municipality_id=municipality_id)
    return found


async def list_all(session: AsyncSession) -> list[Municipality]:
    return list((await session.execute(select(Municipality).order_by(Municipality.name))).scalars())
