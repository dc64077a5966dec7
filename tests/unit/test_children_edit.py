"""core.children: what may be corrected about a child, and when a child may be deleted."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from core import children, municipalities, waitlist
from core.enrollment import cancel, enroll, join_waitlist
from core.errors import DomainError
from core.models import Certificate, Child, Funding, Parent, WaitlistEntry
from tests import factories as f


async def _reason(coro) -> str:
    with pytest.raises(DomainError) as refused:
        await coro
    return refused.value.reason


async def test_a_waiting_place_fixes_the_birth_date_and_blocks_deleting(any_db, clock):
    async with any_db.write() as s:
        await f.nominal(s, 2026)
        a, b = await f.parent(s, clock), await f.parent(s, clock)
        ca, cb = await f.child(s, a, clock), await f.child(s, b, clock)
        program = await f.program(s, clock, seats=1)
        await enroll(s, a, ca.id, program.id, clock)
        entry = await join_waitlist(s, b, cb.id, program.id, clock)
        b_id, cb_id, entry_id = b.id, cb.id, entry.id
    async with any_db.write() as s:
        b = await s.get(Parent, b_id)
        assert await _reason(children.change_birth_date(s, b, cb_id, dt.date(2014, 1, 1), clock)) == "child_waiting"
        assert await _reason(children.delete_child(s, b, cb_id)) == "child_waiting_delete"
    async with any_db.write() as s:
        b = await s.get(Parent, b_id)
        await waitlist.leave(s, b, entry_id, clock)
    async with any_db.write() as s:      # the closed waiting place goes with the child
        b = await s.get(Parent, b_id)
        await children.delete_child(s, b, cb_id)
    async with any_db.read() as s:
        assert await s.get(Child, cb_id) is None
        assert (await s.execute(select(func.count()).select_from(WaitlistEntry)
                                .where(WaitlistEntry.child_id == cb_id))).scalar() == 0


async def test_a_registered_certificate_with_no_money_follows_a_corrected_birth_date(db, clock):
    async with db.write() as s:
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock, birth_date=dt.date(2015, 3, 10))
        free = await f.program(s, clock, funding=Funding.MUNICIPAL, price_rub=None)
        result = await enroll(s, parent, child.id, free.id, clock)
        await cancel(s, parent, result.enrollment.id, clock)
        await children.change_birth_date(s, parent, child.id, dt.date(2014, 6, 1), clock)
        certificate = (await s.execute(select(Certificate))).scalar_one()
        assert certificate.valid_until == dt.date(2032, 5, 31)
        # A certificate is the child's for good: deleting now points to /forget.
        assert await _reason(children.delete_child(s, parent, child.id)) == "child_has_certificate"


async def test_refusals_write_nothing_and_strangers_find_nothing(db, clock):
    async with db.write() as s:
        owner, stranger = await f.parent(s, clock), await f.parent(s, clock)
        child = await f.child(s, owner, clock, name="Иванов Пётр Сергеевич")
        other = await municipalities.register(s, "Другой город")
        for attempt in (children.rename_child(s, stranger, child.id, "Сидоров Иван Иванович"),
                        children.change_birth_date(s, stranger, child.id, dt.date(2014, 1, 1), clock),
                        children.change_municipality(s, stranger, child.id, other.id),
                        children.delete_child(s, stranger, child.id)):
            assert await _reason(attempt) == "child_not_found"
        assert await _reason(children.rename_child(s, owner, child.id, "X")) == "name_invalid"
        assert await _reason(children.change_birth_date(s, owner, child.id, dt.date(2022, 1, 1), clock)) \
            == "age_out_of_range"
        assert await _reason(children.change_municipality(s, owner, child.id, 999_999)) == "municipality_not_found"
        await s.refresh(child)
        assert (child.full_name, child.birth_date, child.municipality.name) == (
            "Иванов Пётр Сергеевич", dt.date(2015, 3, 10), f.TOWN)
