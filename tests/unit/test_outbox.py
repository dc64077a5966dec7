"""SPEC §1 New-program alerts, the outbox: each matching new program reaches each
subscriber once (unique key + watermark), several arrive as one digest."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.jobs import screens
from bot.dialogs import texts as job_texts
from core import outbox, reachability
from core.models import Category, Parent, Program, Subscription
from core.municipalities import register
from core.parents import ensure_parent, forget_parent, give_consent
from core.subscriptions import create_subscription, delete_subscription
from tests import factories

TOWN = factories.TOWN
OTHER = "г. Абакан"


async def a_parent(db, clock, external_id: str, platform: str = "telegram") -> Parent:
    async with db.write() as session:
        parent = await ensure_parent(session, platform, external_id)
        await give_consent(session, parent, clock)
        return parent


async def subscribe(db, clock, parent: Parent, town: str = TOWN, categories=(), age=None,
                    certificate_only=False) -> Subscription:
    async with db.write() as session:
        muni = await register(session, town)
        return await create_subscription(session, parent, municipality_id=muni.id, categories=list(categories),
                                         age=age, certificate_only=certificate_only, clock=clock)


async def publish(db, clock, **kw) -> Program:
    async with db.write() as session:
        return await factories.program(session, clock, **kw)


async def fan_out(db, clock) -> int:
    async with db.write() as session:
        return (await outbox.fan_out(session, clock)).queued


async def rows(db) -> list[outbox.Outbox]:
    async with db.read() as session:
        return list((await session.execute(select(outbox.Outbox).order_by(outbox.Outbox.id))).scalars())


async def units(db, clock, platforms=("telegram", "vk")) -> list[outbox.Unit]:
    async with db.read() as session:
        return await outbox.due_units(session, list(platforms), clock)


async def test_each_new_matching_program_is_queued_once_per_parent(any_db, clock):
    db = any_db
    anna = await a_parent(db, clock, "1")
    boris = await a_parent(db, clock, "2", platform="vk")
    await subscribe(db, clock, anna, categories=[Category.TECHNICAL])
    await subscribe(db, clock, boris, town=OTHER)
    clock.advance(minutes=1)
    robots = await publish(db, clock, category=Category.TECHNICAL)
    await publish(db, clock, category=Category.ART)                 # not anna's category
    hiking = await publish(db, clock, town=OTHER, category=Category.TOURISM)

    assert await fan_out(db, clock) == 2
    queued = {(r.parent_id, r.platform, r.ref_id, r.kind, r.status) for r in await rows(db)}
    assert queued == {(anna.id, "telegram", robots.id, outbox.PROGRAM, outbox.PENDING),
                      (boris.id, "vk", hiking.id, outbox.PROGRAM, outbox.PENDING)}
    # Running again (or a minute later) queues nothing new: the unique key and the watermark.
    assert await fan_out(db, clock) == 0
    clock.advance(minutes=1)
    assert await fan_out(db, clock) == 0
    assert len(await rows(db)) == 2
    async with db.read() as session:
        assert await outbox.watermark(session) == clock.now()


async def test_the_unique_key_refuses_a_second_row_for_the_same_alert(any_db, clock):
    db = any_db
    anna = await a_parent(db, clock, "1")
    async with db.write() as session:
        session.add(outbox.Outbox(kind=outbox.PROGRAM, parent_id=anna.id, platform="telegram", ref_id=7,
                                  status=outbox.PENDING, attempts=0, created_at=clock.now()))
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            session.add(outbox.Outbox(kind=outbox.PROGRAM, parent_id=anna.id, platform="telegram", ref_id=7,
                                      status=outbox.PENDING, attempts=0, created_at=clock.now()))
    assert len(await rows(db)) == 1


async def test_two_subscriptions_matching_one_program_give_one_row(any_db, clock):
    db = any_db
    anna = await a_parent(db, clock, "1")
    await subscribe(db, clock, anna)
    await subscribe(db, clock, anna, categories=[Category.TECHNICAL])
    clock.advance(minutes=1)
    await publish(db, clock, category=Category.TECHNICAL)
    assert await fan_out(db, clock) == 1


async def test_a_program_imported_twice_is_alerted_once(db, clock):
    from core.importer import import_rows

    anna = await a_parent(db, clock, "1")
    await subscribe(db, clock, anna)
    clock.advance(minutes=1)
    row = {"external_id": "X-1", "title": "Шахматы", "provider": "ЦДТ", "provider_kind": "municipal",
           "municipality": TOWN, "category": "social", "age_min": "7", "age_max": "12",
           "price_per_month": "2500", "hours_per_month": "", "start_date": "2026-09-01",
           "end_date": "2027-05-31", "address": "", "schedule": "", "seats": "10", "funding": "certificate",
           "description": ""}
    await import_rows(db, [row], clock)
    assert await fan_out(db, clock) == 1
    clock.advance(minutes=1)
    await import_rows(db, [{**row, "title": "Шахматы для начинающих"}], clock)  # the upsert keeps published_at
    assert await fan_out(db, clock) == 0
    assert len(await rows(db)) == 1


async def test_filters_matching_nothing_and_programs_older_than_the_subscription_queue_nothing(db, clock):
    anna = await a_parent(db, clock, "1")
    await publish(db, clock)                        # published before the subscription
    clock.advance(minutes=1)
    await subscribe(db, clock, anna, categories=[Category.SPORT], age=6, certificate_only=True)
    clock.advance(minutes=1)
    await publish(db, clock, category=Category.SPORT, age_min=10, age_max=14)  # too old for a 6-year-old
    await publish(db, clock, category=Category.SPORT, funding=factories.Funding.PAID)
    assert await fan_out(db, clock) == 0
    assert await units(db, clock) == []


async def test_a_program_committed_late_inside_the_overlap_is_still_fanned_out(db, clock):
    anna = await a_parent(db, clock, "1")
    await subscribe(db, clock, anna)
    clock.advance(minutes=5)
    stamped = clock.now()
    clock.advance(minutes=1)
    assert await fan_out(db, clock) == 0            # the watermark is now past `stamped`
    late = clock.now()
    clock.set(stamped)
    program = await publish(db, clock)              # an import that took its time before committing
    clock.set(late + dt.timedelta(seconds=30))
    assert await fan_out(db, clock) == 1
    assert [r.ref_id for r in await rows(db)] == [program.id]


async def test_forgotten_and_blocked_parents_get_nothing_and_pending_rows_are_dropped(db, clock):
    anna = await a_parent(db, clock, "1")
    boris = await a_parent(db, clock, "2")
    await subscribe(db, clock, anna)
    await subscribe(db, clock, boris)
    clock.advance(minutes=1)
    await publish(db, clock)
    assert await fan_out(db, clock) == 2
    async with db.write() as session:
        await forget_parent(session, await session.get(Parent, anna.id), clock)
        (await session.get(Parent, boris.id)).unreachable_at = clock.now()
    assert await units(db, clock) == []             # nobody to send to
    async with db.write() as session:
        assert await outbox.drop_moot(session, clock) == 1   # anna's: forgotten (her subscription is gone)
    statuses = {r.parent_id: r.status for r in await rows(db)}
    assert statuses == {anna.id: outbox.DROPPED, boris.id: outbox.PENDING}  # boris: paused, not lost
    clock.advance(minutes=1)
    await publish(db, clock)
    assert await fan_out(db, clock) == 0


async def test_unsubscribing_drops_what_was_queued_for_that_subscription(db, clock):
    anna = await a_parent(db, clock, "1")
    sub = await subscribe(db, clock, anna)
    clock.advance(minutes=1)
    await publish(db, clock)
    await fan_out(db, clock)
    async with db.write() as session:
        await delete_subscription(session, await session.get(Parent, anna.id), sub.id)
        assert await outbox.drop_moot(session, clock) == 1
    assert await units(db, clock) == []


async def test_a_parents_new_programs_form_one_digest_of_ten_and_n_more(db, clock):
    anna = await a_parent(db, clock, "1")
    boris = await a_parent(db, clock, "2")
    sub = await subscribe(db, clock, anna)
    await subscribe(db, clock, boris, categories=[Category.ART])
    clock.advance(minutes=1)
    programs = [await publish(db, clock, title=f"Кружок{n}") for n in range(12)]
    art = await publish(db, clock, category=Category.ART, title="Рисунок")
    assert await fan_out(db, clock) == 14            # anna: 13 (no category filter), boris: 1

    found = await units(db, clock)
    assert [(u.parent_id, len(u.row_ids)) for u in found] == [(anna.id, 13), (boris.id, 1)]
    async with db.read() as session:
        screen = await screens.build(session, found[0], clock.today())
        single = await screens.build(session, found[1], clock.today())
    assert screen is not None and single is not None
    assert job_texts.DIGEST_MANY.format(count=13) in screen.text
    assert job_texts.DIGEST_MORE.format(more=3) in screen.text
    listed = [p for p in programs + [art] if p.title in screen.text]
    assert len(listed) == 10
    cards = [b.action for b in screen.buttons if b.action.startswith("card:")]
    assert cards == [f"card:{p.id}" for p in sorted(programs + [art], key=lambda p: p.id)[:10]]
    assert [b.action for b in screen.buttons if b.action.startswith("unsub:")] == [f"unsub:{sub.id}"]
    assert job_texts.BTN_UNSUBSCRIBE in [b.label for b in screen.buttons]
    assert job_texts.DIGEST_ONE in single.text and "Рисунок" in single.text
    assert "и ещё" not in single.text


async def test_a_batch_of_digests_is_built_in_four_queries_whatever_its_size(any_db, clock):
    """The delivery worker builds SCREEN_BATCH screens at a time: the queries must not grow with
    the number of parents (they did: three or four per digest), and each screen is the one a
    unit built alone gets; a deleted program and an unsubscribed parent still come out right."""
    from sqlalchemy import event

    db = any_db
    parents = [await a_parent(db, clock, str(n)) for n in range(12)]
    subs = [await subscribe(db, clock, parent) for parent in parents]
    await subscribe(db, clock, parents[0], town=OTHER)                        # two «Отписаться»
    clock.advance(minutes=1)
    programs = [await publish(db, clock, title=f"Кружок{n}", category=Category.TECHNICAL) for n in range(3)]
    await publish(db, clock, town=OTHER, title="Походы")
    await fan_out(db, clock)
    async with db.write() as session:
        await session.delete(await session.get(Program, programs[1].id))      # gone since the fan-out
        await delete_subscription(session, await session.get(Parent, parents[5].id), subs[5].id)
    found = await units(db, clock)
    assert len(found) == 12

    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.read() as session:
            batch = await screens.build_many(session, found, clock.today())
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 4, statements   # present ids, programs, subscriptions, nominal units

    alone = []
    for unit in found:
        async with db.read() as session:
            alone.append(await screens.build(session, unit, clock.today()))
    assert batch == alone
    by_parent = dict(zip([u.parent_id for u in found], batch))
    assert by_parent[parents[5].id] is None                    # unsubscribed: nothing to send
    first = by_parent[parents[0].id]
    assert job_texts.DIGEST_MANY.format(count=3) in first.text and programs[1].title not in first.text
    assert "Походы" in first.text and "Походы" not in by_parent[parents[1].id].text
    assert len([b for b in first.buttons if b.action.startswith("unsub:")]) == 2


async def test_record_sent_commits_the_units_pending_rows_before_it_returns(any_db, clock):
    """The worker's one write per message (autocommitted on PostgreSQL): visible to the next
    unit of work at once, and a row settled otherwise meanwhile keeps its status."""
    db = any_db
    anna = await a_parent(db, clock, "1")
    await subscribe(db, clock, anna)
    clock.advance(minutes=1)
    for n in range(3):
        await publish(db, clock, title=f"Кружок{n}")
    await fan_out(db, clock)
    [unit] = await units(db, clock)
    async with db.write() as session:
        await outbox.mark_dropped(session, [replace(unit, row_ids=unit.row_ids[:1])], "moot")
    await outbox.record_sent(db, unit, clock)
    assert [(r.status, r.sent_at) for r in await rows(db)] == [
        (outbox.DROPPED, None), (outbox.SENT, clock.now()), (outbox.SENT, clock.now())]
    assert await units(db, clock) == []


async def test_a_huge_import_fans_out_in_one_statement_and_one_digest(db, clock):
    anna = await a_parent(db, clock, "1")
    await subscribe(db, clock, anna)
    clock.advance(minutes=1)
    async with db.write() as session:
        town = await register(session, TOWN)
        now = clock.now()
        session.add_all([Program(external_id=f"BIG-{n}", title=f"Программа {n}", provider="ЦДТ",
                                 provider_kind=factories.ProviderKind.MUNICIPAL, municipality_id=town.id,
                                 category=Category.SCIENCE, age_min=5, age_max=17, price_per_month=100000,
                                 start_date=dt.date(2026, 9, 1), end_date=dt.date(2027, 5, 31), seats=5,
                                 funding=factories.Funding.CERTIFICATE, published_at=now, updated_at=now)
                         for n in range(10_000)])
    assert await fan_out(db, clock) == 10_000
    found = await units(db, clock)
    assert len(found) == 1 and len(found[0].row_ids) == 10_000
    async with db.read() as session:
        screen = await screens.build(session, found[0], clock.today())
    assert job_texts.DIGEST_MORE.format(more=9_990) in screen.text
    async with db.write() as session:
        await outbox.mark_sent(session, found[0], clock)
    async with db.read() as session:
        assert (await outbox.counts(session))[outbox.SENT] == 10_000
        assert (await session.execute(select(func.count()).select_from(outbox.Outbox))).scalar_one() == 10_000



async def test_a_terminal_chat_parent_gets_alerts_queued_like_a_messenger_parent(db, clock):
    """The terminal chat is written to like a messenger: its rows wait until a chat prints them."""
    local = await a_parent(db, clock, "local", platform="console")
    anna = await a_parent(db, clock, "1")
    await subscribe(db, clock, local)
    await subscribe(db, clock, anna)
    clock.advance(minutes=1)
    program = await publish(db, clock)
    assert await fan_out(db, clock) == 2
    assert sorted((r.parent_id, r.platform, r.ref_id) for r in await rows(db)) == [
        (local.id, "console", program.id), (anna.id, "telegram", program.id)]
    assert [u.parent_id for u in await units(db, clock, ["console"])] == [local.id]
    assert [u.parent_id for u in await units(db, clock, ["telegram"])] == [anna.id]


async def _queue(db, clock, parent: Parent, refs) -> None:
    async with db.write() as session:
        for ref in refs:
            session.add(outbox.Outbox(kind=outbox.PROGRAM, parent_id=parent.id, platform=parent.platform,
                                      ref_id=ref, status=outbox.PENDING, attempts=0, created_at=clock.now()))


async def test_the_worker_takes_the_oldest_parents_whole_however_many_rows_wait(any_db, clock):
    """A batch looks at the oldest pending rows only (WINDOW_PER_PARENT per parent wanted),
    yet each parent it takes gets all their due rows in one digest, and parents who cannot be
    written to never hold up the rest however many rows they have waiting."""
    db = any_db
    blocked, anna, boris, vera = [await a_parent(db, clock, str(n)) for n in range(4)]
    async with db.write() as session:
        await reachability.mark_unreachable_by_id(session, blocked.id, clock)
    await _queue(db, clock, blocked, range(100))                 # oldest of all, but blocked
    await _queue(db, clock, anna, range(30))                     # more than one window (2 × 10)
    await _queue(db, clock, boris, range(3))
    await _queue(db, clock, vera, range(2))
    async with db.read() as session:
        first = await outbox.due_units(session, ["telegram"], clock, limit=2)
    assert [(u.parent_id, len(u.row_ids)) for u in first] == [(anna.id, 30)]
    await outbox.record_sent(db, first[0], clock)
    async with db.read() as session:
        second = await outbox.due_units(session, ["telegram"], clock, limit=2)
    assert [(u.parent_id, len(u.row_ids)) for u in second] == [(boris.id, 3), (vera.id, 2)]


async def test_the_workers_statements_find_rows_by_index_not_by_reading_every_pending_row(db):
    """SQLite planned "mark sent" (a digest's ids AND status = pending) through an index on
    status, reading all 60 000 pending rows for each message sent (bench/, benchmark 3)."""
    import re

    def plan(statement) -> str:
        sql = str(statement.compile(dialect=db.engine.dialect))
        sql = re.sub(r"\(__\[POSTCOMPILE_\w+\]\)", "(?, ?, ?)", sql)
        return sql

    async with db.read() as session:
        connection = await session.connection()
        plans = {}
        for name, statement in [("walk", outbox._NEXT_PARENTS), ("rows", outbox._ROWS_OF),
                                ("sent", outbox._MARK_SENT)]:
            sql = plan(statement)
            found = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (None,) * sql.count("?"))
            plans[name] = " | ".join(row[3] for row in found.all())
    assert "SEARCH outbox USING INDEX ix_outbox_pending (platform=?)" in plans["walk"]
    assert "SEARCH outbox USING INDEX ix_outbox_parent_id (parent_id=?)" in plans["rows"]
    assert plans["sent"] == "SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)"
