"""Children: who may hold a certificate (ages 5 to the day before 18), their data, and
what of it a parent may still correct or delete."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, exists, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import municipalities, pd
from core.clock import Clock
from core.db import lock, mark_erased
from core.errors import DomainError, NotFound
from core.models import (
    Child,
    Enrollment,
    EnrollmentStatus,
    LedgerEntry,
    Parent,
    WaitlistEntry,
    WaitlistStatus,
)
from core.parents import require_consent
from core.snils import checksum_applies, normalize_snils

MIN_AGE = 5
MAX_AGE = 17  # the certificate ends the day before the 18th birthday
_NAME_PART = re.compile(r"^[A-Za-zА-Яа-яЁё]+(?:[-'’][A-Za-zА-Яа-яЁё]+)*\.?$")
_DATE = re.compile(r"^\s*(\d{1,2})[.\-/ ](\d{1,2})[.\-/ ](\d{4})\s*$")
_BY_SNILS_HASH = select(Child.id, Child.parent_id, Child.forgotten_at).where(Child.snils_hash == bindparam("hash"))


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Full years on `day` (a child born on 29 February ages on 1 March in other years)."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def eighteenth_birthday(birth_date: dt.date) -> dt.date:
    try:
        return birth_date.replace(year=birth_date.year + 18)
    except ValueError:  # 29 February
        return dt.date(birth_date.year + 18, 3, 1)


def certificate_valid_until(birth_date: dt.date) -> dt.date:
    return eighteenth_birthday(birth_date) - dt.timedelta(days=1)


def validate_full_name(raw: str) -> str:
    """ФИО: two to four words of letters (hyphens allowed), 5–150 characters."""
    name = " ".join((raw or "").split())
    parts = name.split(" ")
    if not (5 <= len(name) <= 150) or not (2 <= len(parts) <= 4) \
            or not all(_NAME_PART.match(part) for part in parts):
        raise DomainError("name_invalid")
    return " ".join(part[:1].upper() + part[1:] for part in parts)


def parse_birth_date(raw: str, clock: Clock) -> dt.date:
    """ДД.ММ.ГГГГ (also D.M.YYYY, with dashes, slashes or spaces)."""
    match = _DATE.match(raw or "")
    if not match:
        raise DomainError("date_format")
    day, month, year = (int(group) for group in match.groups())
    try:
        birth_date = dt.date(year, month, day)
    except ValueError:
        raise DomainError("date_invalid", text=(raw or "")[:20]) from None
    if birth_date > clock.today():
        raise DomainError("date_in_future")
    if birth_date.year < 1900:
        raise DomainError("date_invalid", text=(raw or "")[:20])
    return birth_date


def check_age(birth_date: dt.date, clock: Clock, day: dt.date | None = None) -> int:
    age = age_on(birth_date, day or clock.today())
    if not MIN_AGE <= age <= MAX_AGE:
        raise DomainError("age_out_of_range", age=age, min=MIN_AGE, max=MAX_AGE)
    return age


async def snils_status(session: AsyncSession, parent: Parent | None, snils: str) -> str:
    """Whether this SNILS may be added by `parent`: "new", or "returning" (a forgotten child,
    who comes back with the certificate and balance they had). Refused (right after it is
    typed, saying nothing about the child) while another parent, or this one, has the child."""
    parent = require_consent(parent)
    found = (await session.execute(_BY_SNILS_HASH, {"hash": pd.snils_hash(normalize_snils(snils))})).first()
    if found is None:
        return "new"
    if found.forgotten_at is None:
        raise DomainError("snils_already_added" if found.parent_id == parent.owner_id else "snils_taken")
    return "returning"


async def register_child(session: AsyncSession, parent: Parent | None, *, full_name: str,
                         birth_date: dt.date, snils: str, municipality_id: int, clock: Clock) -> Child:
    """Register a child; validates everything before writing anything.

    A SNILS seen before belongs to a forgotten child (anyone else's is refused): that row
    comes back to this parent with the data typed now, and with its certificate, its
    balance and its history, so one child never holds a second certificate or credit.
    """
    parent = require_consent(parent)
    name = validate_full_name(full_name)
    check_age(birth_date, clock)
    digits = normalize_snils(snils)
    municipality = await municipalities.get(session, municipality_id)
    # Locked on PostgreSQL: two parents typing a forgotten child's SNILS at once take turns.
    found = (await session.execute(lock(_BY_SNILS_HASH), {"hash": pd.snils_hash(digits)})).first()
    if found is not None and found.forgotten_at is None:
        raise DomainError("snils_already_added" if found.parent_id == parent.owner_id else "snils_taken")
    if found is not None:
        child = await session.get(Child, found.id)
        assert child is not None
        child.parent_id = parent.owner_id
        child.forgotten_at = None
    else:
        child = Child(parent_id=parent.owner_id, certificate=None)
        session.add(child)
    child.full_name = name
    child.birth_date = birth_date
    child.snils = digits
    # The registry confirms a SNILS whose checksum verifies; the old exempt numbers need a
    # visit to an organisation.
    child.snils_confirmed = checksum_applies(digits)
    child.municipality_id = municipality.id
    child.municipality = municipality
    child.created_at = clock.now()   # when this data was collected
    await session.flush()
    return child


# --- the add-child dialog's answers, kept sealed in the dialog state between questions ---
_DRAFT = "draft.child"


def seal_draft(value: str) -> str:
    return pd.ring().encrypt(_DRAFT, value)


def open_draft(token: object) -> str:
    """An answer sealed by seal_draft; a value that does not open (an older state, a key
    removed since) means the parent starts the form again."""
    try:
        return pd.ring().decrypt(_DRAFT, str(token))
    except pd.KeyProblem:
        raise DomainError("child_draft_lost") from None


async def list_children(session: AsyncSession, parent: Parent | None) -> list[Child]:
    if parent is None:
        return []
    stmt = (select(Child).where(Child.parent_id == parent.owner_id, Child.forgotten_at.is_(None))
            .order_by(Child.id))
    return list((await session.execute(stmt)).scalars())


async def get_child(session: AsyncSession, parent: Parent | None, child_id: int) -> Child:
    """The parent's own child; anybody else's is "not found" (never shown, never touched)."""
    child = await session.get(Child, child_id)
    if parent is None or child is None or child.parent_id != parent.owner_id or child.forgotten_at is not None:
        raise NotFound("child", child_id=child_id)
    return child


# --- correcting a child (/children → a child) ---------------------------------------------
OPEN_WAITING = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)


@dataclass(frozen=True)
class Ties:
    """What already hangs on a child, and so what may still be corrected."""
    active_enrollments: int
    enrollments: int          # of any status: each is a record of the certificate's use
    open_waiting: int
    has_certificate: bool
    has_money: bool           # the certificate has ledger rows: a municipality's nominal paid

    def data_lock(self) -> str | None:
        """Why the municipality and the birth date are fixed now (None: they may change).
        The municipality decides whose nominal pays, the birth date the age checks and the
        certificate's end, so both stay as they were when a program accepted the child."""
        if self.has_money:        # for good: said first, so no advice to cancel misleads
            return "child_certificate_funded"
        if self.active_enrollments:
            return "child_enrolled"
        if self.open_waiting:
            return "child_waiting"
        return None

    def delete_lock(self) -> str | None:
        """Why the child cannot be deleted: one certificate per child, ever, and money records stay."""
        if self.has_certificate:
            return "child_has_certificate"
        if self.enrollments:
            return "child_has_enrollments"
        if self.open_waiting:
            return "child_waiting_delete"
        return None


async def ties(session: AsyncSession, child: Child) -> Ties:
    def counted(*where: Any) -> Any:
        return select(func.count()).where(*where).scalar_subquery()

    certificate = child.certificate
    money = (exists().where(LedgerEntry.certificate_id == certificate.id) if certificate is not None
             else false())
    row = (await session.execute(select(
        counted(Enrollment.child_id == child.id, Enrollment.status == EnrollmentStatus.ACTIVE),
        counted(Enrollment.child_id == child.id),
        counted(WaitlistEntry.child_id == child.id, WaitlistEntry.status.in_(OPEN_WAITING)),
        money))).one()
    return Ties(active_enrollments=int(row[0]), enrollments=int(row[1]), open_waiting=int(row[2]),
                has_certificate=certificate is not None, has_money=bool(row[3]))


async def _own_locked(session: AsyncSession, parent: Parent | None, child_id: int) -> Child:
    """The parent's own child (anyone else's is "not found", nothing locked for strangers),
    then its row lock, so an enrollment committed meanwhile is seen by the checks."""
    # Imported here: core.certificates reads this module's age rules.
    from core.certificates import lock_child

    await get_child(session, require_consent(parent), child_id)
    return await lock_child(session, child_id)


async def require_data_editable(session: AsyncSession, parent: Parent | None, child_id: int) -> Child:
    """Refused with the reason while the municipality and birth date are fixed."""
    child = await get_child(session, require_consent(parent), child_id)
    reason = (await ties(session, child)).data_lock()
    if reason:
        raise DomainError(reason)
    return child


async def rename_child(session: AsyncSession, parent: Parent | None, child_id: int, full_name: str) -> Child:
    """A typo in the name is fixed at any time: the SNILS, not the name, is the child's identity."""
    child = await get_child(session, require_consent(parent), child_id)
    child.full_name = validate_full_name(full_name)
    await session.flush()
    mark_erased(session)   # the replaced value is personal data too: no older copy in the files
    return child


async def change_birth_date(session: AsyncSession, parent: Parent | None, child_id: int,
                            birth_date: dt.date, clock: Clock) -> Child:
    child = await _own_locked(session, parent, child_id)
    reason = (await ties(session, child)).data_lock()
    if reason:
        raise DomainError(reason)
    check_age(birth_date, clock)
    child.birth_date = birth_date
    if child.certificate is not None:   # issued (учёт) with no money yet: it ends on the new date
        child.certificate.valid_until = certificate_valid_until(birth_date)
    await session.flush()
    mark_erased(session)
    return child


async def change_municipality(session: AsyncSession, parent: Parent | None, child_id: int,
                              municipality_id: int) -> Child:
    child = await _own_locked(session, parent, child_id)
    municipality = await municipalities.get(session, municipality_id)
    reason = (await ties(session, child)).data_lock()
    if reason:
        raise DomainError(reason)
    child.municipality_id = municipality.id
    child.municipality = municipality
    await session.flush()
    return child


async def delete_child(session: AsyncSession, parent: Parent | None, child_id: int) -> None:
    """Delete a child added by mistake: only one with no certificate and no enrollment of
    any status, so no money record and no certificate refers to it (otherwise /forget).
    The row goes, with its closed waiting places; on SQLite the freed pages are zeroed
    (secure_delete) and the log checkpointed, as after /forget."""
    child = await _own_locked(session, parent, child_id)
    reason = (await ties(session, child)).delete_lock()
    if reason:
        raise DomainError(reason)
    await session.execute(delete(WaitlistEntry).where(WaitlistEntry.child_id == child.id))
    await session.delete(child)
    await session.flush()
    mark_erased(session)
