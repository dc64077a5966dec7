"""Whether a messenger still lets the bot write to a parent, by the platform's own id.

A platform says so in two ways: an error when the bot writes (Telegram 403,
VK 901, MAX 403 `chat.denied`) or an event (VK message_deny, MAX bot_stopped).
Alerts to an unreachable parent pause (core/outbox.py) until they write again.
"""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.models import Parent


async def mark_unreachable(session: AsyncSession, platform: str, external_id: str, clock: Clock) -> None:
    await session.execute(
        update(Parent)
        .where(Parent.platform == platform, Parent.external_id == external_id, Parent.unreachable_at.is_(None))
        .values(unreachable_at=clock.now()).execution_options(synchronize_session=False))


async def mark_reachable(session: AsyncSession, platform: str, external_id: str) -> None:
    await session.execute(
        update(Parent)
        .where(Parent.platform == platform, Parent.external_id == external_id, Parent.unreachable_at.is_not(None))
        .values(unreachable_at=None).execution_options(synchronize_session=False))
