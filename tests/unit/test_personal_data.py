"""152-ФЗ in the domain, on SQLite and PostgreSQL: consent agreements recorded per version;
forgetting a parent cancels their active enrollments (usual refund, seat freed) before the
erase; what is stored is read from the asking parent's rows only."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from core import consent, personal_data
from core import waitlist
from core.enrollment import enroll, join_waitlist
from core.errors import DomainError
from core.models import Consent, Enrollment, EnrollmentStatus, LedgerEntry, LedgerKind, WaitlistEntry, WaitlistStatus
from core.parents import ensure_parent, forget_parent
from tests import factories as f


async def test_each_agreement_is_recorded_with_version_time_and_platform(any_db, clock):
    async with any_db.write() as s:
        parent = await ensure_parent(s, "telegram", "42")
        await consent.record_consent(s, parent, version="v1", platform="telegram", clock=clock)
        assert consent.standing(parent, "v1").current and not consent.standing(parent, "v2").current
        assert consent.standing(parent, "v2").outdated
        clock.advance(days=1)
        await consent.record_consent(s, parent, version="v2", platform="vk", clock=clock)
        with pytest.raises(DomainError):
            await consent.record_consent(s, parent, version="", platform="vk", clock=clock)
    async with any_db.read() as s:
        rows = [(c.version, c.platform, c.given_at) for c in (await s.execute(
            select(Consent).order_by(Consent.id))).scalars()]
    assert rows == [("v1", "telegram", clock.now() - dt.timedelta(days=1)), ("v2", "vk", clock.now())]


async def test_forgetting_cancels_active_enrollments_with_the_usual_refund_and_frees_the_seat(any_db, clock):
    async with any_db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        parent = await f.parent(s, clock)
        await consent.record_consent(s, parent, version="v1", platform="test", clock=clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=3000, seats=1)
        await enroll(s, parent, child.id, program.id, clock)
        other = await f.parent(s, clock)
        other_child = await f.child(s, other, clock, name="Петров Пётр Ильич")
        await join_waitlist(s, other, other_child.id, program.id, clock)
        program_id, other_child_id = program.id, other_child.id
    clock.advance(days=2)
    async with any_db.write() as s:
        parent = await s.get(type(parent), parent.id)
        plan = await personal_data.forget_plan(s, parent, clock)
        assert [q.refund for q in plan.cancellations] == [3000_00]   # December; November is under way
        assert (await s.execute(select(Enrollment.status))).scalar_one() is EnrollmentStatus.ACTIVE
        await forget_parent(s, parent, clock)
    async with any_db.read() as s:
        enrollment = (await s.execute(select(Enrollment))).scalar_one()
        refunds = (await s.execute(select(LedgerEntry.month, LedgerEntry.amount)
                                   .where(LedgerEntry.kind == LedgerKind.REFUND))).all()
        program = await s.get(type(enrollment.program), program_id)
        free_for_others = await waitlist.seats_left(s, program, clock)
        free = await waitlist.seats_left(s, program, clock, for_child=other_child_id)
        waiting = (await s.execute(select(WaitlistEntry.status)
                                   .where(WaitlistEntry.child_id == other_child_id))).scalar_one()
        withdrawn = (await s.execute(select(Consent.withdrawn_at).where(Consent.parent_id == parent.id))).all()
    assert enrollment.status is EnrollmentStatus.CANCELLED
    assert [tuple(r) for r in refunds] == [(12, 3000_00)]
    # The freed seat is held for the first in line: theirs, nobody else's.
    assert free == 1 and free_for_others == 0 and waiting is WaitlistStatus.OFFERED
    assert [w for (w,) in withdrawn] == [clock.now()]   # the agreement kept, marked withdrawn


async def test_what_is_stored_is_only_the_asking_parents(any_db, clock):
    async with any_db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        first = await f.parent(s, clock)
        child = await f.child(s, first, clock, name="Иванова Мария Петровна")
        program = await f.program(s, clock)
        await enroll(s, first, child.id, program.id, clock)
        second = await f.parent(s, clock)
        mine = await personal_data.stored_about(s, second)
        theirs = await personal_data.stored_about(s, first)
    assert (mine.children, mine.enrollments, mine.waiting, mine.subscriptions) == ([], [], [], [])
    assert [c.full_name for c in theirs.children] == ["Иванова Мария Петровна"] and len(theirs.enrollments) == 1
