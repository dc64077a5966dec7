"""The waiting list of a full program, and the seat held for the first in line (SPEC §1).

A seat is taken by an active enrollment or by a live hold: when a seat frees,
the first WAITING child gets it held for `HOLD` (status OFFERED, `hold_until`);
nobody else sees it free meanwhile, while for the holder it counts as their own.
«Не нужно», leaving the line, or a hold running out (`expire_holds`, a job)
passes the seat to the next in line. Every change of who holds a seat runs
under the program's row lock, as enrollment and cancellation do, so a seat is
never held twice nor held and taken at once.

Joining the line lives in core.enrollment (`join_waitlist`): only a child who
could enroll but for the seat may join, and that is the enrollment's check.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, literal_column, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import DomainError, NotFound
from core.models import Child, Enrollment, EnrollmentStatus, Parent, Program, WaitlistEntry, WaitlistStatus
from core.parents import require_consent

HOLD = dt.timedelta(hours=24)
OPEN = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)
EXPIRY_BATCH = 300   # holds passed on per transaction by the job


# 'offered' written out, not bound: a planner uses the partial index ix_waitlist_holds
# only for a condition it can see (SQLite always, PostgreSQL in a generic plan).
_HELD = WaitlistEntry.__table__.c.status == literal_column("'offered'")


def _live_hold(now: dt.datetime):  # type: ignore[no-untyped-def]
    return and_(_HELD, WaitlistEntry.hold_until > now)


def _run_out(now: dt.datetime):  # type: ignore[no-untyped-def]
    return and_(_HELD, WaitlistEntry.hold_until <= now)


def hold_is_live(entry: WaitlistEntry, now: dt.datetime) -> bool:
    return entry.status is WaitlistStatus.OFFERED and entry.hold_until is not None and entry.hold_until > now


# --- seats ----------------------------------------------------------------------

async def seats_left(session: AsyncSession, program: Program, clock: Clock, *,
                     for_child: int | None = None) -> int:
    """Seats − active enrollments − live holds (but `for_child`'s own hold: that seat is theirs)."""
    now = clock.now()
    active = (select(func.count()).select_from(Enrollment)
              .where(Enrollment.program_id == program.id, Enrollment.status == EnrollmentStatus.ACTIVE))
    held = select(func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.program_id == program.id, _live_hold(now))
    if for_child is not None:
        held = held.where(WaitlistEntry.child_id != for_child)
    taken = (await session.execute(select(active.scalar_subquery() + held.scalar_subquery()))).scalar_one()
    return max(program.seats - int(taken), 0)


async def full_programs(session: AsyncSession, programs: Sequence[Program], clock: Clock) -> set[int]:
    """The ids among `programs` with no seat free for a newcomer, in one query."""
    ids = [program.id for program in programs]
    if not ids:
        return set()
    now = clock.now()
    taken = union_all(
        select(Enrollment.program_id.label("program_id")).where(
            Enrollment.program_id.in_(ids), Enrollment.status == EnrollmentStatus.ACTIVE),
        select(WaitlistEntry.program_id.label("program_id")).where(
            WaitlistEntry.program_id.in_(ids), _live_hold(now)),
    ).subquery()
    counts = dict((await session.execute(
        select(taken.c.program_id, func.count()).group_by(taken.c.program_id))).all())
    return {program.id for program in programs if program.seats - int(counts.get(program.id, 0)) <= 0}


async def _lock_program(session: AsyncSession, program_id: int) -> Program:
    stmt = (select(Program).where(Program.id == program_id).with_for_update(of=Program)
            .execution_options(populate_existing=True))
    program = (await session.execute(stmt)).scalar_one_or_none()
    if program is None:
        raise NotFound("program", program_id=program_id)
    return program


async def offer_free_seats(session: AsyncSession, program: Program, clock: Clock) -> list[WaitlistEntry]:
    """Hold each free seat for the next WAITING child (first come, first served).
    The caller holds the program's row lock."""
    free = await seats_left(session, program, clock)
    if free <= 0:
        return []
    now = clock.now()
    firsts = list((await session.execute(select(WaitlistEntry).where(
        WaitlistEntry.program_id == program.id, WaitlistEntry.status == WaitlistStatus.WAITING)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id).limit(free))).scalars())
    for entry in firsts:
        entry.status = WaitlistStatus.OFFERED
        entry.offered_at = now
        entry.hold_until = now + HOLD
        entry.notified_at = None   # the outbox tells them (core.outbox.enqueue_waitlist_offers)
    await session.flush()
    return firsts


# --- a parent's places ------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    entry: WaitlistEntry
    position: int | None     # in the queue; None while a seat is held for the child


async def position(session: AsyncSession, entry: WaitlistEntry) -> int:
    """1 for the first WAITING child of the program (the order seats are offered in)."""
    ahead = (await session.execute(select(func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.program_id == entry.program_id, WaitlistEntry.status == WaitlistStatus.WAITING,
        or_(WaitlistEntry.created_at < entry.created_at,
            and_(WaitlistEntry.created_at == entry.created_at, WaitlistEntry.id < entry.id))))).scalar_one()
    return int(ahead) + 1


async def places(session: AsyncSession, parent: Parent | None) -> list[Place]:
    """The parent's open places on waiting lists, oldest first."""
    if parent is None:
        return []
    entries = (await session.execute(
        select(WaitlistEntry).join(Child, Child.id == WaitlistEntry.child_id)
        .where(Child.parent_id == parent.owner_id, Child.forgotten_at.is_(None), WaitlistEntry.status.in_(OPEN))
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id))).scalars().all()
    return [Place(entry, None if entry.status is WaitlistStatus.OFFERED else await position(session, entry))
            for entry in entries]


async def holds_of(session: AsyncSession, parent: Parent | None, program_id: int,
                   clock: Clock) -> list[WaitlistEntry]:
    """The parent's children's live holds on one program."""
    if parent is None:
        return []
    return list((await session.execute(
        select(WaitlistEntry).join(Child, Child.id == WaitlistEntry.child_id)
        .where(Child.parent_id == parent.owner_id, Child.forgotten_at.is_(None),
               WaitlistEntry.program_id == program_id, _live_hold(clock.now()))
        .order_by(WaitlistEntry.id))).scalars())


async def get_place(session: AsyncSession, parent: Parent | None, entry_id: int) -> WaitlistEntry:
    """The parent's own waiting-list entry; anybody else's is "not found"."""
    entry = await session.get(WaitlistEntry, entry_id)
    if parent is None or entry is None or entry.child.parent_id != parent.owner_id \
            or entry.child.forgotten_at is not None:
        raise NotFound("waitlist_entry", entry_id=entry_id)
    return entry


async def _own_entry_locked(session: AsyncSession, parent: Parent | None,
                            entry_id: int) -> tuple[WaitlistEntry, Program]:
    """Ownership first (nothing locked for strangers), then the program's lock, then the entry afresh."""
    parent = require_consent(parent)
    entry = await get_place(session, parent, entry_id)
    program = await _lock_program(session, entry.program_id)
    await session.refresh(entry)
    return entry, program


# --- a parent's answers --------------------------------------------------------------

async def leave(session: AsyncSession, parent: Parent | None, entry_id: int, clock: Clock) -> WaitlistEntry:
    """«Покинуть очередь»: the place goes; a seat held for the child passes to the next in line."""
    entry, program = await _own_entry_locked(session, parent, entry_id)
    if entry.status not in OPEN:
        raise DomainError("not_waiting")
    was_holding = entry.status is WaitlistStatus.OFFERED
    entry.status = WaitlistStatus.WITHDRAWN
    await session.flush()
    if was_holding:
        await offer_free_seats(session, program, clock)
    return entry


async def decline(session: AsyncSession, parent: Parent | None, entry_id: int, clock: Clock) -> WaitlistEntry:
    """«Не нужно» on a held seat: the next in line gets the same offer."""
    entry, program = await _own_entry_locked(session, parent, entry_id)
    if entry.status is WaitlistStatus.DECLINED:
        raise DomainError("hold_declined")
    if entry.status is WaitlistStatus.ENROLLED:
        raise DomainError("already_enrolled")
    if entry.status is WaitlistStatus.WITHDRAWN:
        raise DomainError("not_waiting")
    if not hold_is_live(entry, clock.now()):
        raise DomainError("hold_expired")
    entry.status = WaitlistStatus.DECLINED
    await session.flush()
    await offer_free_seats(session, program, clock)
    return entry


# --- the job ---------------------------------------------------------------------------

@dataclass
class HoldReport:
    expired: int = 0   # holds run out and passed on
    offered: int = 0   # seats newly held for the next in line

    def add(self, other: "HoldReport") -> None:
        self.expired += other.expired
        self.offered += other.offered


async def expire_holds(session: AsyncSession, clock: Clock, limit: int = EXPIRY_BATCH) -> HoldReport:
    """Pass up to `limit` run-out holds to the next in line. Locks each program before its
    entries (the order enrollment takes), so a parent enrolling at the last second either
    wins (the entry is ENROLLED, skipped here) or waits for this to finish."""
    now = clock.now()
    due = (await session.execute(select(WaitlistEntry.id, WaitlistEntry.program_id).where(_run_out(now))
                                 .order_by(WaitlistEntry.hold_until, WaitlistEntry.id).limit(limit))).all()
    by_program: dict[int, list[int]] = defaultdict(list)
    for entry_id, program_id in due:
        by_program[program_id].append(entry_id)
    report = HoldReport()
    for program_id in sorted(by_program):
        program = await _lock_program(session, program_id)
        result = await session.execute(
            update(WaitlistEntry).where(WaitlistEntry.id.in_(by_program[program_id]), _run_out(now))
            .values(status=WaitlistStatus.EXPIRED).execution_options(synchronize_session=False))
        report.expired += max(result.rowcount or 0, 0)
        report.offered += len(await offer_free_seats(session, program, clock))
    return report


async def offer_waiting(session: AsyncSession, clock: Clock, limit: int = EXPIRY_BATCH) -> int:
    """Hold the free seats of programs with a waiting line (seats added by an import, a place
    freed by /forget): up to `limit` programs; how many seats were held."""
    now = clock.now()
    active = (select(func.count()).select_from(Enrollment)
              .where(Enrollment.program_id == Program.id, Enrollment.status == EnrollmentStatus.ACTIVE)
              .correlate(Program).scalar_subquery())
    held = (select(func.count()).select_from(WaitlistEntry)
            .where(WaitlistEntry.program_id == Program.id, _live_hold(now)).correlate(Program).scalar_subquery())
    waiting = select(WaitlistEntry.program_id).where(WaitlistEntry.status == WaitlistStatus.WAITING)
    ids = (await session.execute(select(Program.id).where(Program.id.in_(waiting), Program.seats > active + held,
                                                         Program.end_date >= clock.today())
                                 .order_by(Program.id).limit(limit))).scalars().all()
    offered = 0
    for program_id in ids:
        offered += len(await offer_free_seats(session, await _lock_program(session, program_id), clock))
    return offered
