"""One family across messengers (core/family.py): a one-time code lives ten minutes; five
wrong codes pause linking for an hour; joining merges the joining account's data into the
family; unlinking leaves with nothing; alerts go once per family, to the chosen account."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.jobs import screens
from core import family, outbox, reachability
from core.children import list_children
from core.models import LinkState, Parent, Subscription
from core.municipalities import register
from core.parents import forget_parent, get_parent
from core.subscriptions import create_subscription, list_subscriptions
from tests import factories


async def account(db, clock, platform: str, external_id: str = "1") -> Parent:
    async with db.write() as session:
        return await factories.parent(session, clock, external_id, platform=platform)


async def code_of(db, clock, who: Parent) -> str:
    async with db.write() as session:
        code, until = await family.issue_code(session, await session.get(Parent, who.id), clock)
        assert until == clock.now() + dt.timedelta(minutes=10)
        return code


async def type_code(db, clock, who: Parent, code: str) -> family.JoinResult:
    async with db.write() as session:
        return await family.join(session, await session.get(Parent, who.id), code, clock)


async def children_names(db, who: Parent) -> list[str]:
    async with db.read() as session:
        return [c.full_name for c in await list_children(session, await session.get(Parent, who.id))]


async def add_child(db, clock, who: Parent, name: str) -> None:
    async with db.write() as session:
        await factories.child(session, await session.get(Parent, who.id), clock, name=name)


async def test_a_code_joins_two_accounts_to_one_set_of_children(any_db, clock):
    db = any_db
    tg, vk = await account(db, clock, "telegram"), await account(db, clock, "vk")
    await add_child(db, clock, tg, "Иванова Мария Петровна")
    code = await code_of(db, clock, tg)
    assert len(code) == 6 and code.isdigit()
    async with db.read() as session:   # stored as a keyed hash, never the digits
        state = await session.get(LinkState, tg.id)
        assert state.code_hash != code and code not in state.code_hash
    result = await type_code(db, clock, vk, code)
    assert result.outcome == family.JOINED and result.other.id == tg.id
    assert await children_names(db, vk) == ["Иванова Мария Петровна"]
    # A child added in either account is the family's.
    await add_child(db, clock, vk, "Иванов Пётр Петрович")
    assert await children_names(db, tg) == ["Иванова Мария Петровна", "Иванов Пётр Петрович"]
    # The code worked once.
    third = await account(db, clock, "telegram", "3")
    assert (await type_code(db, clock, third, code)).outcome == family.WRONG


async def test_the_joining_accounts_children_and_subscriptions_move_into_the_family(db, clock):
    tg, vk = await account(db, clock, "telegram"), await account(db, clock, "vk")
    await add_child(db, clock, tg, "Иванова Мария Петровна")
    await add_child(db, clock, vk, "Петров Олег Ильич")
    async with db.write() as session:
        town = await register(session, factories.TOWN)
        await create_subscription(session, await session.get(Parent, vk.id), municipality_id=town.id,
                                  categories=[], age=None, certificate_only=False, clock=clock)
    assert (await type_code(db, clock, vk, await code_of(db, clock, tg))).outcome == family.JOINED
    assert sorted(await children_names(db, tg)) == ["Иванова Мария Петровна", "Петров Олег Ильич"]
    async with db.read() as session:
        assert len(await list_subscriptions(session, await session.get(Parent, tg.id))) == 1
        # Consent stays on each account.
        assert (await session.get(Parent, vk.id)).consent_at is not None


async def test_more_than_ten_subscriptions_together_are_refused_and_nothing_moves(db, clock):
    tg, vk = await account(db, clock, "telegram"), await account(db, clock, "vk")
    async with db.write() as session:
        town = await register(session, factories.TOWN)
        for who, count in ((tg, 6), (vk, 5)):
            for age in range(5, 5 + count):
                await create_subscription(session, await session.get(Parent, who.id), municipality_id=town.id,
                                          categories=[], age=age, certificate_only=False, clock=clock)
    result = await type_code(db, clock, vk, await code_of(db, clock, tg))
    assert result.outcome == family.TOO_MANY_SUBSCRIPTIONS
    async with db.read() as session:
        assert (await session.get(Parent, vk.id)).family_id is None
        owners = (await session.execute(select(Subscription.parent_id))).scalars().all()
        assert sorted(owners).count(vk.id) == 5


async def test_an_expired_code_a_wrong_one_ones_own_and_the_same_familys_are_refused(db, clock):
    tg, vk = await account(db, clock, "telegram"), await account(db, clock, "vk")
    code = await code_of(db, clock, tg)
    assert (await type_code(db, clock, tg, code)).outcome == family.OWN
    assert (await type_code(db, clock, vk, "12ab")).outcome == family.FORMAT
    wrong = "000000" if code != "000000" else "111111"
    result = await type_code(db, clock, vk, wrong)
    assert (result.outcome, result.tries_left) == (family.WRONG, 4)
    clock.advance(minutes=10, seconds=1)
    result = await type_code(db, clock, vk, code)
    assert (result.outcome, result.tries_left) == (family.EXPIRED, 3)
    async with db.read() as session:
        assert (await session.get(Parent, vk.id)).family_id is None
    # A fresh code works; the same family's next code says so and changes nothing.
    assert (await type_code(db, clock, vk, await code_of(db, clock, tg))).outcome == family.JOINED
    assert (await type_code(db, clock, vk, await code_of(db, clock, tg))).outcome == family.SAME_FAMILY
    # A new code replaces the old one: one live code per account.
    first = await code_of(db, clock, tg)
    await code_of(db, clock, tg)
    other = await account(db, clock, "telegram", "9")
    assert (await type_code(db, clock, other, first)).outcome in (family.WRONG, family.JOINED)


async def test_five_wrong_codes_pause_linking_for_an_hour(db, clock):
    tg, vk = await account(db, clock, "telegram"), await account(db, clock, "vk")
    code = await code_of(db, clock, tg)
    wrong = [c for c in ("000001", "000002", "000003", "000004", "000005", "000006") if c != code][:5]
    for n, typed in enumerate(wrong, 1):
        result = await type_code(db, clock, vk, typed)
        assert result.outcome == (family.PAUSED if n == 5 else family.WRONG)
    assert result.paused_until == clock.now() + dt.timedelta(hours=1)
    # Even the right code waits out the pause…
    assert (await type_code(db, clock, vk, code)).outcome == family.PAUSED
    clock.advance(minutes=59)
    assert (await type_code(db, clock, vk, await code_of(db, clock, tg))).outcome == family.PAUSED
    # …and works after it; another account was never paused.
    clock.advance(minutes=1, seconds=1)
    assert (await type_code(db, clock, vk, await code_of(db, clock, tg))).outcome == family.JOINED


async def test_unlinking_leaves_with_nothing_and_the_family_keeps_its_data(any_db, clock):
    db = any_db
    tg, vk = await account(db, clock, "telegram"), await account(db, clock, "vk")
    await add_child(db, clock, tg, "Иванова Мария Петровна")
    await type_code(db, clock, vk, await code_of(db, clock, tg))
    # The owner of the family's rows leaves: the rows pass to the account that stays.
    async with db.write() as session:
        await family.leave(session, await session.get(Parent, tg.id))
    assert await children_names(db, tg) == []
    assert await children_names(db, vk) == ["Иванова Мария Петровна"]
    async with db.read() as session:
        assert not await family.is_linked(session, await session.get(Parent, vk.id))
        assert not await family.is_linked(session, await session.get(Parent, tg.id))


async def test_a_member_leaving_a_family_of_three_leaves_the_others_linked(any_db, clock):
    db = any_db
    tg, vk, other = (await account(db, clock, "telegram"), await account(db, clock, "vk"),
                     await account(db, clock, "telegram", "2"))
    await add_child(db, clock, vk, "Петров Олег Ильич")
    await type_code(db, clock, vk, await code_of(db, clock, tg))
    await type_code(db, clock, other, await code_of(db, clock, vk))
    async with db.write() as session:
        await family.send_alerts_here(session, await session.get(Parent, vk.id))
        assert [a.id for a in await family.members(session, await session.get(Parent, other.id))] \
            == [tg.id, vk.id, other.id]
    async with db.write() as session:
        await family.leave(session, await session.get(Parent, tg.id))   # the owner leaves
    async with db.read() as session:
        left = await family.members(session, await session.get(Parent, other.id))
        assert [a.id for a in left] == [vk.id, other.id]
        assert (await family.alerts_account(session, await session.get(Parent, other.id))).id == vk.id
    assert await children_names(db, other) == ["Петров Олег Ильич"]
    assert await children_names(db, tg) == []


async def test_forget_from_a_linked_account_erases_only_that_account(db, clock):
    tg, vk = await account(db, clock, "telegram"), await account(db, clock, "vk")
    await add_child(db, clock, tg, "Иванова Мария Петровна")
    await type_code(db, clock, vk, await code_of(db, clock, tg))
    async with db.write() as session:
        await forget_parent(session, await session.get(Parent, tg.id), clock)
    assert await children_names(db, vk) == ["Иванова Мария Петровна"]
    async with db.read() as session:
        assert await get_parent(session, "telegram", "1") is None
        assert await session.get(LinkState, tg.id) is None


async def linked_with_a_subscription(db, clock) -> tuple[Parent, Parent]:
    """A Telegram account subscribed to the town's new programs, then linked with a VK one."""
    tg, vk = await account(db, clock, "telegram"), await account(db, clock, "vk")
    async with db.write() as session:
        town = await register(session, factories.TOWN)
        await create_subscription(session, await session.get(Parent, tg.id), municipality_id=town.id,
                                  categories=[], age=None, certificate_only=False, clock=clock)
    await type_code(db, clock, vk, await code_of(db, clock, tg))
    return tg, vk


async def _program_alerts(db, clock) -> list[outbox.Outbox]:
    async with db.write() as session:
        await outbox.fan_out(session, clock)
    async with db.read() as session:
        return list((await session.execute(select(outbox.Outbox).where(outbox.Outbox.kind == outbox.PROGRAM)
                                           .order_by(outbox.Outbox.id))).scalars())


async def test_alerts_go_once_per_family_to_the_chosen_account(any_db, clock):
    db = any_db
    tg, vk = await account(db, clock, "telegram"), await account(db, clock, "vk")
    async with db.write() as session:
        town = await register(session, factories.TOWN)
        for who in (tg, vk):   # each account subscribed before linking: the family has both
            await create_subscription(session, await session.get(Parent, who.id), municipality_id=town.id,
                                      categories=[], age=None, certificate_only=False, clock=clock)
    await type_code(db, clock, vk, await code_of(db, clock, tg))
    clock.advance(minutes=1)
    async with db.write() as session:
        await factories.program(session, clock)
    rows = await _program_alerts(db, clock)
    assert [(row.parent_id, row.platform) for row in rows] == [(tg.id, "telegram")]
    # «Уведомления сюда» in VK: the next alert goes there, still once.
    async with db.write() as session:
        await family.send_alerts_here(session, await session.get(Parent, vk.id))
    clock.advance(minutes=1)   # the first program is looked at again (outbox.OVERLAP): not resent to VK
    async with db.write() as session:
        await factories.program(session, clock)
    rows = await _program_alerts(db, clock)
    # The first alert, not sent yet, went along to VK too: still once.
    assert [(row.parent_id, row.platform) for row in rows] == [(vk.id, "vk"), (vk.id, "vk")]
    assert len({row.ref_id for row in rows}) == 2
    async with db.read() as session:
        assert (await family.alerts_account(session, await session.get(Parent, tg.id))).id == vk.id


async def test_after_unlinking_nothing_about_the_familys_children_reaches_the_account_that_left(any_db, clock):
    db = any_db
    tg, vk = await linked_with_a_subscription(db, clock)
    async with db.write() as session:
        await family.send_alerts_here(session, await session.get(Parent, vk.id))
    clock.advance(minutes=1)
    async with db.write() as session:
        await factories.program(session, clock)
    [queued] = await _program_alerts(db, clock)
    assert (queued.parent_id, queued.platform) == (vk.id, "vk")
    stale = outbox.Unit(parent_id=vk.id, platform="vk", user_id="1", kind=outbox.PROGRAM,
                        row_ids=(queued.id,), refs=(queued.ref_id,), subscription_ids=(queued.subscription_id,))
    async with db.write() as session:
        await family.leave(session, await session.get(Parent, vk.id))
    async with db.read() as session:
        pending = (await session.execute(select(outbox.Outbox.parent_id, outbox.Outbox.platform)
                                         .where(outbox.Outbox.status == outbox.PENDING))).all()
        assert pending == [(tg.id, "telegram")]   # the family's alert waits for the family
        # A message already picked up for VK is built to nothing: not sent there.
        assert await screens.build(session, stale, clock.today()) is None
    # Later alerts go to the family only.
    clock.advance(minutes=20)
    async with db.write() as session:
        await factories.program(session, clock)
    assert {row.parent_id for row in await _program_alerts(db, clock)} == {tg.id}


async def test_when_the_alerts_account_blocks_the_bot_the_familys_alerts_go_to_a_reachable_one(any_db, clock):
    db = any_db
    tg, vk = await linked_with_a_subscription(db, clock)
    clock.advance(minutes=1)
    async with db.write() as session:
        await factories.program(session, clock)
    [queued] = await _program_alerts(db, clock)
    assert queued.parent_id == tg.id
    # Telegram refuses (the parent blocked the bot there): the family is not left in silence.
    async with db.write() as session:
        await reachability.mark_unreachable(session, "telegram", tg.external_id, clock)
    async with db.read() as session:
        assert (await family.alerts_account(session, await session.get(Parent, tg.id))).id == vk.id
    [moved] = await _program_alerts(db, clock)
    assert (moved.parent_id, moved.platform) == (vk.id, "vk")     # the waiting alert went along
    # An account that does not get the alerts blocking the bot changes nothing.
    async with db.write() as session:
        await reachability.mark_reachable(session, "telegram", tg.external_id)
        await reachability.mark_unreachable(session, "telegram", tg.external_id, clock)
    async with db.read() as session:
        assert (await family.alerts_account(session, await session.get(Parent, tg.id))).id == vk.id
