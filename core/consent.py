"""Consent to personal-data processing as a versioned document (152-ФЗ ст. 9).

The text and its version live with the chat texts (bot/dialogs/consent_document.py);
the domain records who agreed to which version, when and in which messenger, and
answers whether a parent's agreement is to the version in force.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import DomainError
from core.models import Consent, Parent

MAX_VERSION = 16


@dataclass(frozen=True)
class ConsentStanding:
    """Where a messenger account stands against the document in force."""
    current: bool        # agreed to this very version
    outdated: bool       # agreed to an earlier version only: to be asked again


def standing(parent: Parent | None, version: str) -> ConsentStanding:
    # As core.parents.has_consent (imported there: parents withdraws consents on /forget).
    if parent is None or parent.consent_at is None or parent.forgotten_at is not None:
        return ConsentStanding(current=False, outdated=False)
    assert parent is not None
    agreed = parent.consent_version == version
    return ConsentStanding(current=agreed, outdated=not agreed)


async def record_consent(session: AsyncSession, parent: Parent, *, version: str, platform: str,
                         clock: Clock) -> Consent:
    """The parent agrees to `version` of the document now, in `platform`."""
    if not version or len(version) > MAX_VERSION or parent.forgotten_at is not None:
        raise DomainError("consent_invalid")
    now = clock.now()
    consent = Consent(parent_id=parent.id, version=version, platform=platform, given_at=now)
    session.add(consent)
    if parent.consent_at is None:
        parent.consent_at = now
    parent.consent_version = version
    parent.unreachable_at = None
    await session.flush()
    return consent


async def history(session: AsyncSession, parent: Parent) -> list[Consent]:
    """Every agreement of the parent, oldest first."""
    found = await session.execute(
        select(Consent).where(Consent.parent_id == parent.id).order_by(Consent.given_at, Consent.id))
    return list(found.scalars())


async def latest(session: AsyncSession, parent: Parent) -> Consent | None:
    found = await session.execute(
        select(Consent).where(Consent.parent_id == parent.id, Consent.withdrawn_at.is_(None))
        .order_by(Consent.given_at.desc(), Consent.id.desc()).limit(1))
    return found.scalar_one_or_none()


async def withdraw_all(session: AsyncSession, parent: Parent, now: dt.datetime) -> None:
    """/forget: the agreements stay as the record of lawful processing, marked withdrawn."""
    await session.execute(update(Consent).where(Consent.parent_id == parent.id, Consent.withdrawn_at.is_(None))
                          .values(withdrawn_at=now))
