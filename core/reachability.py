"""Whether a messenger still lets the bot write to a parent, by the platform's own id.

A platform says so in two ways: an error when the bot writes (Telegram 403,
VK 901, MAX 403 `chat.denied`) or an event (VK message_deny, MAX bot_stopped).
Alerts to an unreachable parent pause (core/outbox.py) until they write again. An account
of a family linked across messengers (core/family.py) that stops being reachable while it
gets the family's alerts passes them on to a reachable account of the family: the parents
chose a messenger, not silence.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.models import Parent


async def mark_unreachable(session: AsyncSession, platform: str, external_id: str, clock: Clock) -> None:
    await _unreachable(session, (Parent.platform == platform) & (Parent.external_id == external_id), clock)


async def mark_unreachable_by_id(session: AsyncSession, parent_id: int, clock: Clock) -> None:
    """The parent blocked the bot (an alert's send was refused): pause what goes to them."""
    await _unreachable(session, Parent.id == parent_id, clock)


async def _unreachable(session: AsyncSession, which: Any, clock: Clock) -> None:
    from core import family   # it queues through the outbox, which must not import this

    marked = (await session.execute(
        update(Parent).where(which, Parent.unreachable_at.is_(None))
        .values(unreachable_at=clock.now()).returning(Parent.id)
        .execution_options(synchronize_session=False))).scalars().all()
    for parent_id in marked:
        parent = await session.get(Parent, parent_id, populate_existing=True)
        if parent is not None:
            await family.alerts_elsewhere(session, parent)


async def mark_reachable(session: AsyncSession, platform: str, external_id: str) -> None:
    await session.execute(
        update(Parent)
        .where(Parent.platform == platform, Parent.external_id == external_id, Parent.unreachable_at.is_not(None))
        .values(unreachable_at=None).execution_options(synchronize_session=False))
