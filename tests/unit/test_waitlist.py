"""SPEC §1 Enrollment: a full program offers a waiting list; a freed seat is held for
the first in line for 24 hours, then passes to the next (core/waitlist.py)."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import event, func, select

from bot.jobs import tasks
from core import outbox, waitlist
from core.enrollment import cancel, enroll, join_waitlist, quote
from core.errors import DomainError
from core.models import Enrollment, EnrollmentStatus, Parent, Program, WaitlistEntry, WaitlistStatus
from tests import factories as f

HOLD = dt.timedelta(hours=24)


async def full_program_with_line(db, clock, *, waiting: int = 2, seats: int = 1):
    """A program of `seats` seats, all taken, and `waiting` children in line (in that order).
    Returns (program id, [(parent id, child id, enrollment id)] of the seat holders,
    [(parent id, child id, entry id)] of the line)."""
    async with db.write() as s:
        await f.nominal(s, 2026)
        program = await f.program(s, clock, seats=seats)
        taken, line = [], []
        for _ in range(seats):
            p = await f.parent(s, clock)
            c = await f.child(s, p, clock)
            taken.append((p.id, c.id, (await enroll(s, p, c.id, program.id, clock)).enrollment.id))
        for _ in range(waiting):
            p = await f.parent(s, clock)
            c = await f.child(s, p, clock)
            line.append((p.id, c.id, (await join_waitlist(s, p, c.id, program.id, clock)).id))
        return program.id, taken, line


async def entry(db, entry_id) -> WaitlistEntry:
    async with db.read() as s:
        return await s.get(WaitlistEntry, entry_id)


async def parent(s, parent_id) -> Parent:
    return await s.get(Parent, parent_id)


async def free_up(db, clock, taken) -> None:
    parent_id, _, enrollment_id = taken
    async with db.write() as s:
        await cancel(s, await parent(s, parent_id), enrollment_id, clock)


async def table(db) -> list[tuple]:
    """Every waiting-list row and enrollment (a refusal leaves them as they were)."""
    async with db.read() as s:
        entries = (await s.execute(select(WaitlistEntry.id, WaitlistEntry.status, WaitlistEntry.hold_until)
                                   .order_by(WaitlistEntry.id))).all()
        enrollments = (await s.execute(select(Enrollment.id, Enrollment.status).order_by(Enrollment.id))).all()
    return [tuple(row) for row in entries + enrollments]


async def test_freed_seat_is_held_for_first_in_line_for_24_hours(any_db, clock):
    db = any_db
    program_id, taken, [(pb, cb, first), (pc, cc, second)] = await full_program_with_line(db, clock)
    await free_up(db, clock, taken[0])
    held, behind = await entry(db, first), await entry(db, second)
    assert held.status is WaitlistStatus.OFFERED and held.hold_until == clock.now() + HOLD
    assert behind.status is WaitlistStatus.WAITING and behind.hold_until is None
    # The hold counts as the holder's seat: they can enroll, through the usual quote.
    clock.advance(hours=23, minutes=59)
    async with db.write() as s:
        assert (await quote(s, await parent(s, pb), cb, program_id, clock)).cost > 0
        result = await enroll(s, await parent(s, pb), cb, program_id, clock)
    assert result.enrollment.status is EnrollmentStatus.ACTIVE
    assert (await entry(db, first)).status is WaitlistStatus.ENROLLED
    assert (await entry(db, second)).status is WaitlistStatus.WAITING


async def test_others_see_no_free_seat_while_held(any_db, clock):
    db = any_db
    program_id, taken, [(pb, cb, first), (pc, cc, second)] = await full_program_with_line(db, clock)
    await free_up(db, clock, taken[0])
    async with db.write() as s:
        stranger = await f.parent(s, clock)
        child = await f.child(s, stranger, clock)
        program = await s.get(Program, program_id)
        assert await waitlist.seats_left(s, program, clock) == 0
        assert await waitlist.seats_left(s, program, clock, for_child=cb) == 1
        assert await waitlist.full_programs(s, [program], clock) == {program_id}
        for who, child_id in ((stranger, child.id), (await parent(s, pc), cc)):
            with pytest.raises(DomainError) as refusal:
                await enroll(s, who, child_id, program_id, clock)
            assert refusal.value.reason == "no_seats"
        # …and the stranger is offered the waiting list instead: behind the others.
        late = await join_waitlist(s, stranger, child.id, program_id, clock)
        assert await waitlist.position(s, late) == 2
    # Once the hold has run out, the seat is free again (until the job passes it on).
    clock.advance(hours=24)
    async with db.read() as s:
        program = await s.get(Program, program_id)
        assert await waitlist.seats_left(s, program, clock) == 1
        assert await waitlist.full_programs(s, [program], clock) == set()


async def test_expired_hold_passes_to_next_in_line(any_db, clock):
    db = any_db
    program_id, taken, [(pb, cb, first), (pc, cc, second)] = await full_program_with_line(db, clock)
    await free_up(db, clock, taken[0])
    clock.advance(hours=23, minutes=59)
    assert (await tasks.run_expire_holds(db, clock)).expired == 0
    assert (await entry(db, first)).status is WaitlistStatus.OFFERED
    clock.advance(minutes=2)
    report = await tasks.run_expire_holds(db, clock)
    assert (report.expired, report.offered) == (1, 1)
    assert (await entry(db, first)).status is WaitlistStatus.EXPIRED
    nxt = await entry(db, second)
    assert nxt.status is WaitlistStatus.OFFERED and nxt.hold_until == clock.now() + HOLD
    # The one who let it run out cannot take it now; the next in line can.
    async with db.write() as s:
        with pytest.raises(DomainError) as refusal:
            await enroll(s, await parent(s, pb), cb, program_id, clock)
        assert refusal.value.reason == "no_seats"
        await enroll(s, await parent(s, pc), cc, program_id, clock)
    # Running the job again changes nothing.
    before = await table(db)
    assert (await tasks.run_expire_holds(db, clock)).expired == 0
    assert await table(db) == before


async def test_the_expiry_job_works_in_batches_and_queues_each_offer_once(db, clock):
    programs = [await full_program_with_line(db, clock, waiting=2) for _ in range(7)]
    async with db.write() as s:   # the line's parents use a messenger: they can be written to
        for _, _, line in programs:
            for parent_id, _, _ in line:
                (await parent(s, parent_id)).platform = "telegram"
    for _, taken, _ in programs:
        await free_up(db, clock, taken[0])
    clock.advance(hours=25)
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2]) if args[2].lstrip().upper().startswith("BEGIN") else None  # noqa: E731
    event.listen(db.engine.sync_engine, "before_cursor_execute", listen)
    try:
        report = await tasks.run_expire_holds(db, clock, batch=3)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", listen)
    assert (report.expired, report.offered) == (7, 7)
    assert len(statements) >= 3   # 3 + 3 + 1 holds: a transaction each (and the sweep)
    for _, _, (first, second) in programs:
        assert (await entry(db, first[2])).status is WaitlistStatus.EXPIRED
        assert (await entry(db, second[2])).status is WaitlistStatus.OFFERED
    async with db.read() as s:
        rows = (await s.execute(select(outbox.Outbox.ref_id).where(outbox.Outbox.kind == outbox.WAITLIST))).scalars()
        # Only the live holds are announced (the run-out ones were never told here).
        assert sorted(rows) == sorted(second[2] for *_, (_, second) in programs)


async def test_declining_a_hold_passes_it_on_and_a_second_press_writes_nothing(any_db, clock):
    db = any_db
    program_id, taken, [(pb, cb, first), (pc, cc, second)] = await full_program_with_line(db, clock)
    await free_up(db, clock, taken[0])
    async with db.write() as s:
        await waitlist.decline(s, await parent(s, pb), first, clock)
    assert (await entry(db, first)).status is WaitlistStatus.DECLINED
    assert (await entry(db, second)).status is WaitlistStatus.OFFERED
    before = await table(db)
    with pytest.raises(DomainError) as again:
        async with db.write() as s:
            await waitlist.decline(s, await parent(s, pb), first, clock)
    assert again.value.reason == "hold_declined"
    assert await table(db) == before


async def test_a_press_on_an_expired_hold_is_refused_and_writes_nothing(any_db, clock):
    db = any_db
    program_id, taken, [(pb, cb, first), _] = await full_program_with_line(db, clock)
    await free_up(db, clock, taken[0])
    clock.advance(hours=24, seconds=1)
    before = await table(db)
    with pytest.raises(DomainError) as late:     # run out, the job not yet there
        async with db.write() as s:
            await waitlist.decline(s, await parent(s, pb), first, clock)
    assert late.value.reason == "hold_expired"
    await tasks.run_expire_holds(db, clock)
    before = await table(db)
    with pytest.raises(DomainError) as later:    # passed on by the job
        async with db.write() as s:
            await waitlist.decline(s, await parent(s, pb), first, clock)
    assert later.value.reason == "hold_expired"
    assert await table(db) == before


async def test_leaving_the_waiting_list(any_db, clock):
    db = any_db
    program_id, taken, [(pb, cb, first), (pc, cc, second), (pd, cd, third)] = \
        await full_program_with_line(db, clock, waiting=3)
    async with db.write() as s:
        places = await waitlist.places(s, await parent(s, pd))
        assert [(p.entry.id, p.position) for p in places] == [(third, 3)]
        await waitlist.leave(s, await parent(s, pc), second, clock)
        assert [p.position for p in await waitlist.places(s, await parent(s, pd))] == [2]
        assert await waitlist.places(s, await parent(s, pc)) == []
    assert (await entry(db, second)).status is WaitlistStatus.WITHDRAWN
    before = await table(db)
    for who, entry_id, reason in ((pc, second, "not_waiting"),              # twice
                                  (pc, third, "waitlist_entry_not_found"),  # another parent's
                                  (pc, 10 ** 9, "waitlist_entry_not_found")):
        with pytest.raises(DomainError) as refusal:
            async with db.write() as s:
                await waitlist.leave(s, await parent(s, who), entry_id, clock)
        assert refusal.value.reason == reason
    with pytest.raises(DomainError) as forged:
        async with db.write() as s:
            await waitlist.decline(s, await parent(s, pc), first, clock)
    assert forged.value.reason == "waitlist_entry_not_found"
    assert await table(db) == before
    # Leaving with a seat held passes the seat to the next in line.
    await free_up(db, clock, taken[0])
    async with db.write() as s:
        await waitlist.leave(s, await parent(s, pb), first, clock)
    assert (await entry(db, third)).status is WaitlistStatus.OFFERED


async def test_a_full_page_of_programs_is_marked_in_one_query(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        programs = [await f.program(s, clock, seats=1) for _ in range(5)]
        p = await f.parent(s, clock)
        for program in programs[:2]:
            c = await f.child(s, p, clock)
            await enroll(s, p, c.id, program.id, clock)
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    async with db.read() as s:
        event.listen(db.engine.sync_engine, "before_cursor_execute", listen)
        try:
            full = await waitlist.full_programs(s, programs, clock)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", listen)
    assert full == {programs[0].id, programs[1].id}
    assert len([sql for sql in statements if "SELECT" in sql.upper()]) == 1


async def test_a_hold_and_its_expiry_never_give_one_seat_twice(any_db, clock):
    """The holder enrolling in the hold's last moment and the expiry job at once: one of
    them wins, and the seats taken (enrollments + live holds) never exceed the seats."""
    db = any_db
    program_id, taken, [(pb, cb, first), (pc, cc, second)] = await full_program_with_line(db, clock)
    await free_up(db, clock, taken[0])
    clock.advance(hours=24)          # the hold's deadline: run out for the job

    async def holder() -> str:
        try:
            async with db.write() as s:
                await enroll(s, await parent(s, pb), cb, program_id, clock)
            return "enrolled"
        except DomainError as refusal:
            return refusal.reason

    outcome, _ = await asyncio.gather(holder(), tasks.run_expire_holds(db, clock))
    async with db.read() as s:
        active = (await s.execute(select(func.count()).select_from(Enrollment).where(
            Enrollment.program_id == program_id, Enrollment.status == EnrollmentStatus.ACTIVE))).scalar_one()
        holds = (await s.execute(select(func.count()).select_from(WaitlistEntry).where(
            WaitlistEntry.program_id == program_id, WaitlistEntry.status == WaitlistStatus.OFFERED))).scalar_one()
    assert active + holds == 1
    if outcome == "enrolled":
        assert (await entry(db, first)).status is WaitlistStatus.ENROLLED
        assert (await entry(db, second)).status is WaitlistStatus.WAITING
    else:
        assert outcome == "no_seats"
        assert (await entry(db, second)).status is WaitlistStatus.OFFERED


async def test_a_seat_freed_without_a_cancellation_goes_to_the_line_at_the_next_run(db, clock):
    """A holder who erases their data (/forget), or seats added by an import: the job holds
    the free seat for the next in line, as a cancellation would."""
    from core.parents import forget_parent

    program_id, taken, [(pb, cb, first), (pc, cc, second), (pd, cd, third)] = \
        await full_program_with_line(db, clock, waiting=3)
    await free_up(db, clock, taken[0])
    async with db.write() as s:
        await forget_parent(s, await parent(s, pb), clock)
    assert (await entry(db, first)).status is WaitlistStatus.WITHDRAWN
    assert (await tasks.run_expire_holds(db, clock)).offered == 1
    assert (await entry(db, second)).status is WaitlistStatus.OFFERED
    async with db.write() as s:
        (await s.get(Program, program_id)).seats += 1
    assert (await tasks.run_expire_holds(db, clock)).offered == 1
    assert (await entry(db, third)).status is WaitlistStatus.OFFERED
    assert (await tasks.run_expire_holds(db, clock)).offered == 0


def test_every_waiting_list_refusal_has_its_own_sentence():
    from bot.dialogs import texts

    for reason in ("waitlist_entry_not_found", "not_waiting", "hold_declined", "hold_expired"):
        text = texts.refusal(DomainError(reason))
        assert text != texts.REFUSAL_FALLBACK and "{" not in text and text.endswith("."), reason


async def test_a_place_offered_before_the_holds_existed_is_held_24_hours_from_its_offer(tmp_path):
    """Migration 0009 gives a seat already offered the deadline it would have had."""
    import sqlite3

    from bot.migrate import upgrade
    from core.db import Database

    path = tmp_path / "old.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url, "0006")
    with sqlite3.connect(path) as conn:   # foreign keys off: the entries alone are enough here
        conn.executemany(
            "INSERT INTO waitlist_entries (id, program_id, child_id, status, created_at, offered_at) "
            "VALUES (?, 1, ?, ?, '2026-11-20 09:00:00.000000', ?)",
            [(1, 1, "offered", "2026-11-21 09:30:00.000000"), (2, 2, "waiting", None)])
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        async with db.read() as s:
            offered, waiting = (await s.execute(select(WaitlistEntry).order_by(WaitlistEntry.id))).scalars().all()
    finally:
        await db.dispose()
    assert offered.hold_until == dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone.utc)
    assert waiting.hold_until is None
