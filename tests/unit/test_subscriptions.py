"""SPEC §1 New-program alerts: subscriptions with filters, and which new
programs reach which parent."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from core.errors import DomainError, NotFound
from core.importer import import_rows
from core.models import Category, Parent, Subscription, SubscriptionCategory
from core.municipalities import register
from core.parents import ensure_parent, forget_parent, give_consent
from core.subscriptions import (
    create_subscription,
    delete_subscription,
    list_subscriptions,
    matches_by_parent,
    new_program_matches,
)

TOWN = "г. Пятигорск"
OTHER_TOWN = "г. Абакан"


async def make_parent(db, clock, external_id: str, consent: bool = True) -> Parent:
    async with db.write() as session:
        parent = await ensure_parent(session, "test", external_id)
        if consent:
            await give_consent(session, parent, clock)
        await register(session, TOWN)
        await register(session, OTHER_TOWN)
        return parent


async def town(db, name: str = TOWN) -> int:
    async with db.write() as session:
        return (await register(session, name)).id


async def subscribe(db, clock, parent: Parent, *, municipality: str = TOWN, categories=(), age=None,
                    certificate_only=False) -> Subscription:
    async with db.write() as session:
        return await create_subscription(
            session, parent, municipality_id=await town(db, municipality), categories=list(categories),
            age=age, certificate_only=certificate_only, clock=clock)


async def publish(db, clock, external_id: str, **overrides: object) -> None:
    """A program first published now (the clock's moment)."""
    row = {
        "external_id": external_id, "title": f"Программа {external_id}", "provider": "ЦДТ",
        "provider_kind": "municipal", "municipality": TOWN, "category": "technical",
        "age_min": "7", "age_max": "12", "price_per_month": "2500", "hours_per_month": "8",
        "start_date": "2026-09-01", "end_date": "2027-05-31", "address": "", "schedule": "",
        "seats": "10", "funding": "certificate", "description": "",
    }
    row.update({key: str(value) for key, value in overrides.items()})
    await import_rows(db, [row], clock)


async def program_ids(db) -> dict[str, int]:
    from core.models import Program
    async with db.read() as session:
        return dict((await session.execute(select(Program.external_id, Program.id))).all())


async def matches(db, after: dt.datetime, until: dt.datetime) -> dict[int, list[str]]:
    """parent_id → external ids of the new programs for them."""
    names = {v: k for k, v in (await program_ids(db)).items()}
    async with db.read() as session:
        found = await matches_by_parent(session, after, until)
    return {parent_id: [names[p] for p in programs] for parent_id, programs in found}


@pytest.fixture
def window(clock):
    """The alert window: from the subscription moment to two days later."""
    start = clock.now()
    return start - dt.timedelta(hours=1), start + dt.timedelta(days=2)


# --- managing subscriptions ---------------------------------------------------------

async def test_a_parent_subscribes_with_filters_and_sees_the_subscription(any_db, clock):
    parent = await make_parent(any_db, clock, "1")
    made = await subscribe(any_db, clock, parent, categories=[Category.SPORT, Category.ART], age=9,
                           certificate_only=True)
    async with any_db.read() as session:
        [listed] = await list_subscriptions(session, parent)
    assert listed.id == made.id and listed.municipality.name == TOWN
    assert {c.category for c in listed.categories} == {Category.SPORT, Category.ART}
    assert (listed.age, listed.certificate_only, listed.created_at) == (9, True, clock.now())


async def test_subscribing_needs_consent(any_db, clock):
    parent = await make_parent(any_db, clock, "1", consent=False)
    with pytest.raises(DomainError) as refusal:
        await subscribe(any_db, clock, parent)
    assert refusal.value.reason == "consent_required"


@pytest.mark.parametrize("age", [4, 18])
async def test_the_childs_age_must_be_between_5_and_17(any_db, clock, age):
    parent = await make_parent(any_db, clock, "1")
    with pytest.raises(DomainError) as refusal:
        await subscribe(any_db, clock, parent, age=age)
    assert refusal.value.reason == "age_out_of_range" and refusal.value.details["age"] == age


async def test_an_unknown_municipality_or_a_repeated_category_is_refused(any_db, clock):
    parent = await make_parent(any_db, clock, "1")
    async with any_db.write() as session:
        with pytest.raises(NotFound) as refusal:
            await create_subscription(session, parent, municipality_id=999_999, categories=[], age=None,
                                      certificate_only=False, clock=clock)
    assert refusal.value.reason == "municipality_not_found"
    with pytest.raises(DomainError) as refusal:
        await subscribe(any_db, clock, parent, categories=[Category.ART, Category.ART])
    assert refusal.value.reason == "categories_repeated"
    with pytest.raises(DomainError) as refusal:
        await subscribe(any_db, clock, parent, categories=["спорт"])
    assert refusal.value.reason == "category_invalid"
    async with any_db.read() as session:
        assert await list_subscriptions(session, parent) == []


async def test_a_parent_may_have_at_most_ten_subscriptions(any_db, clock):
    parent = await make_parent(any_db, clock, "1")
    for age in range(5, 15):
        await subscribe(any_db, clock, parent, age=age)
    with pytest.raises(DomainError) as refusal:
        await subscribe(any_db, clock, parent, age=15)
    assert refusal.value.reason == "too_many_subscriptions"


async def test_a_parent_deletes_their_own_subscription_with_its_categories(any_db, clock):
    parent = await make_parent(any_db, clock, "1")
    made = await subscribe(any_db, clock, parent, categories=[Category.SPORT])
    async with any_db.write() as session:
        await delete_subscription(session, parent, made.id)
    async with any_db.read() as session:
        assert await list_subscriptions(session, parent) == []
        left = (await session.execute(select(func.count()).select_from(SubscriptionCategory))).scalar_one()
    assert left == 0


async def test_another_parent_cannot_delete_my_subscription(any_db, clock):
    mine = await make_parent(any_db, clock, "1")
    stranger = await make_parent(any_db, clock, "2")
    made = await subscribe(any_db, clock, mine)
    async with any_db.write() as session:
        with pytest.raises(NotFound) as refusal:
            await delete_subscription(session, stranger, made.id)
    assert refusal.value.reason == "subscription_not_found"
    async with any_db.read() as session:
        assert [s.id for s in await list_subscriptions(session, mine)] == [made.id]


# --- which new programs reach whom -------------------------------------------------

async def test_only_programs_published_after_the_subscription_are_new(any_db, clock, window):
    parent = await make_parent(any_db, clock, "1")
    await publish(any_db, clock, "before")
    clock.advance(minutes=1)
    await subscribe(any_db, clock, parent)
    clock.advance(minutes=1)
    await publish(any_db, clock, "after")
    assert await matches(any_db, *window) == {parent.id: ["after"]}


async def test_only_programs_published_inside_the_window_match(any_db, clock):
    parent = await make_parent(any_db, clock, "1")
    await subscribe(any_db, clock, parent)
    clock.advance(minutes=1)
    await publish(any_db, clock, "first")
    edge = clock.now()
    clock.advance(minutes=1)
    await publish(any_db, clock, "second")
    assert await matches(any_db, edge - dt.timedelta(hours=1), edge) == {parent.id: ["first"]}
    assert await matches(any_db, edge, clock.now()) == {parent.id: ["second"]}


async def test_an_update_of_an_old_program_is_not_new(any_db, clock, window):
    parent = await make_parent(any_db, clock, "1")
    await publish(any_db, clock, "old")
    clock.advance(minutes=1)
    await subscribe(any_db, clock, parent)
    clock.advance(minutes=1)
    await publish(any_db, clock, "old", title="Новое название")
    assert await matches(any_db, *window) == {}


async def test_matching_by_municipality(any_db, clock, window):
    here = await make_parent(any_db, clock, "1")
    there = await make_parent(any_db, clock, "2")
    await subscribe(any_db, clock, here)
    await subscribe(any_db, clock, there, municipality=OTHER_TOWN)
    clock.advance(minutes=1)
    await publish(any_db, clock, "in-town")
    await publish(any_db, clock, "in-other", municipality=OTHER_TOWN)
    assert await matches(any_db, *window) == {here.id: ["in-town"], there.id: ["in-other"]}


async def test_matching_by_category_where_none_means_all(any_db, clock, window):
    sporty = await make_parent(any_db, clock, "1")
    anything = await make_parent(any_db, clock, "2")
    await subscribe(any_db, clock, sporty, categories=[Category.SPORT, Category.TOURISM])
    await subscribe(any_db, clock, anything)
    clock.advance(minutes=1)
    await publish(any_db, clock, "football", category="sport")
    await publish(any_db, clock, "robots", category="technical")
    found = await matches(any_db, *window)
    assert found[sporty.id] == ["football"]
    assert sorted(found[anything.id]) == ["football", "robots"]


async def test_matching_by_age(any_db, clock, window):
    parent = await make_parent(any_db, clock, "1")
    await subscribe(any_db, clock, parent, age=12)
    clock.advance(minutes=1)
    await publish(any_db, clock, "up-to-12", age_min=7, age_max=12)
    await publish(any_db, clock, "from-12", age_min=12, age_max=17)
    await publish(any_db, clock, "little", age_min=5, age_max=7)
    assert sorted((await matches(any_db, *window))[parent.id]) == ["from-12", "up-to-12"]


async def test_certificate_only_subscriptions_skip_municipal_and_paid_programs(any_db, clock, window):
    parent = await make_parent(any_db, clock, "1")
    await subscribe(any_db, clock, parent, certificate_only=True)
    clock.advance(minutes=1)
    await publish(any_db, clock, "cert", funding="certificate")
    await publish(any_db, clock, "free", funding="municipal")
    await publish(any_db, clock, "paid", funding="paid")
    assert await matches(any_db, *window) == {parent.id: ["cert"]}


async def test_a_forgotten_or_unreachable_parent_gets_nothing(any_db, clock, window):
    blocked = await make_parent(any_db, clock, "1")
    gone = await make_parent(any_db, clock, "2")
    forgot = await make_parent(any_db, clock, "3")
    staying = await make_parent(any_db, clock, "4")
    for parent in (blocked, gone, forgot, staying):
        await subscribe(any_db, clock, parent)
    async with any_db.write() as session:
        (await session.get(Parent, blocked.id)).unreachable_at = clock.now()
        (await session.get(Parent, gone.id)).forgotten_at = clock.now()
        await forget_parent(session, await session.get(Parent, forgot.id), clock)
    clock.advance(minutes=1)
    await publish(any_db, clock, "new")
    assert await matches(any_db, *window) == {staying.id: ["new"]}


async def test_a_program_matching_two_subscriptions_of_a_parent_is_listed_once(any_db, clock, window):
    parent = await make_parent(any_db, clock, "1")
    await subscribe(any_db, clock, parent)
    await subscribe(any_db, clock, parent, categories=[Category.TECHNICAL])
    clock.advance(minutes=1)
    await publish(any_db, clock, "robots")
    await publish(any_db, clock, "chess", category="sport")
    ids = await program_ids(any_db)
    assert await matches(any_db, *window) == {parent.id: sorted(["robots", "chess"], key=ids.get)}


async def test_the_matcher_feeds_an_insert_from_select(any_db, clock, window):
    parent = await make_parent(any_db, clock, "1")
    made = await subscribe(any_db, clock, parent)
    clock.advance(minutes=1)
    await publish(any_db, clock, "new")
    outbox = Table("test_outbox", MetaData(), Column("id", Integer, primary_key=True),
                   Column("subscription_id", Integer), Column("parent_id", Integer), Column("program_id", Integer))
    async with any_db.engine.begin() as conn:
        await conn.run_sync(outbox.metadata.create_all)
    async with any_db.write() as session:
        await session.execute(insert(outbox).from_select(
            ["subscription_id", "parent_id", "program_id"], new_program_matches(*window)))
    async with any_db.read() as session:
        rows = (await session.execute(
            select(outbox.c.subscription_id, outbox.c.parent_id, outbox.c.program_id))).all()
    assert [tuple(r) for r in rows] == [(made.id, parent.id, (await program_ids(any_db))["new"])]
