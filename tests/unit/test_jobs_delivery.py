"""SPEC §1 alerts, delivery: at the platforms' limits, 429/flood waited out, a blocked
parent paused, transient failures retried without losing the row, a crash repeats at
most the one message in flight. Time is a counter here (injected clock and sleep)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.delivery import Blocked, DeliveryError, RetryLater, TransientError
from bot.jobs.delivery import SCREEN_MAX_AGE, Deliverer
from bot.jobs.pacing import TELEGRAM, Pacer
from core import outbox
from core.models import Parent
from tests.unit.test_outbox import a_parent, fan_out, publish, rows, subscribe
from tests.measure import max_in_window


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakeSender:
    """Records each send with the fake time; `script[user]` lists what to raise, in turn."""

    def __init__(self, platform: str, time: FakeTime) -> None:
        self.platform = platform
        self.time = time
        self.sent: list[tuple[str, float, object]] = []
        self.attempts: list[tuple[str, float]] = []
        self.script: dict[str, list[BaseException]] = {}

    async def send(self, user_id: str, screen) -> None:
        self.attempts.append((user_id, self.time.now))
        self.time.now += 0.004  # a send takes a little time
        queue = self.script.get(user_id)
        if queue:
            raise queue.pop(0)
        self.sent.append((user_id, self.time.now, screen))


def deliverer(db, clock, time: FakeTime, **senders) -> Deliverer:
    return Deliverer(db, clock, senders, monotonic=time.clock, sleep=time.sleep)


async def many_parents(db, clock, n: int, platform: str = "telegram") -> list[Parent]:
    parents = [await a_parent(db, clock, str(1000 + i), platform=platform) for i in range(n)]
    for parent in parents:
        await subscribe(db, clock, parent)
    clock.advance(minutes=1)
    await publish(db, clock)
    await fan_out(db, clock)
    return parents



# --- the pacer ---------------------------------------------------------------

async def test_the_pacer_keeps_telegram_under_25_a_second_overall_and_1_a_second_per_chat():
    time = FakeTime()
    pacer = Pacer(**TELEGRAM, clock=time.clock, sleep=time.sleep)
    stamps: dict[str, list[float]] = {}
    for n in range(200):
        chat = str(n % 40)
        await pacer.wait(chat)
        stamps.setdefault(chat, []).append(time.now)
        time.now += 0.001
    every = [s for chat in stamps.values() for s in chat]
    assert max_in_window(every, 1.0) <= 25
    for chat_stamps in stamps.values():
        assert all(b - a >= 1.0 for a, b in zip(chat_stamps, chat_stamps[1:]))
    # … and not slower than it must be: 200 sends at 25 a second take 8 s.
    assert time.now - 1000.0 < 8.2


async def test_the_pacer_spreads_sends_out_and_catches_up_after_a_late_one():
    time = FakeTime()
    pacer = Pacer(**TELEGRAM, clock=time.clock, sleep=time.sleep)
    stamps = []
    for n in range(250):
        await pacer.wait(str(n))
        stamps.append(time.now)
        time.now += 0.3 if n == 100 else 0.001   # one slow batch in the middle
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert min(gaps) >= 1.0 / 25 / 2 - 1e-9          # no burst of the second's sends at once
    assert max_in_window(stamps, 1.0) <= 25
    assert stamps[-1] - stamps[0] < 250 / 25 + 0.05   # the slow batch cost no sends


async def test_the_pacer_holds_everything_while_paused():
    time = FakeTime()
    pacer = Pacer(rate=20, per=1.0, clock=time.clock, sleep=time.sleep)
    await pacer.wait("a")
    pacer.pause(3)
    waited = await pacer.wait("b")
    assert waited == pytest.approx(3.0)


def test_the_pacer_refuses_nonsense_limits():
    with pytest.raises(ValueError):
        Pacer(rate=0)


# --- the worker ----------------------------------------------------------------

async def test_every_alert_is_sent_once_within_the_limits(db, clock):
    time = FakeTime()
    parents = await many_parents(db, clock, 60)
    telegram = FakeSender("telegram", time)
    report = await deliverer(db, clock, time, telegram=telegram).run()
    assert report.sent == 60
    assert sorted(user for user, _, _ in telegram.sent) == sorted(p.external_id for p in parents)
    assert max_in_window([at for _, at in telegram.attempts], 1.0) <= 25
    assert {r.status for r in await rows(db)} == {outbox.SENT}
    again = await deliverer(db, clock, time, telegram=telegram).run()
    assert again.sent == 0 and len(telegram.sent) == 60


async def test_retry_after_is_waited_out_and_the_same_message_sent_once(db, clock):
    time = FakeTime()
    parents = await many_parents(db, clock, 3)
    telegram = FakeSender("telegram", time)
    first = parents[0].external_id
    telegram.script[first] = [RetryLater(3), RetryLater(3)]
    report = await deliverer(db, clock, time, telegram=telegram).run()
    assert report.sent == 3 and report.throttled == 2
    assert [u for u, _, _ in telegram.sent].count(first) == 1
    tries = [at for user, at in telegram.attempts if user == first]
    assert tries[1] - tries[0] >= 3 and tries[2] - tries[1] >= 3  # waited out, twice


async def test_a_blocked_parent_is_paused_marked_failed_and_never_retried(db, clock):
    time = FakeTime()
    parents = await many_parents(db, clock, 3)
    telegram = FakeSender("telegram", time)
    blocked = parents[1]
    telegram.script[blocked.external_id] = [Blocked("403")]
    report = await deliverer(db, clock, time, telegram=telegram).run()
    assert (report.sent, report.blocked, report.failed) == (2, 1, 1)
    async with db.read() as session:
        assert (await session.get(Parent, blocked.id)).unreachable_at is not None
        assert (await outbox.counts(session))[outbox.FAILED] == 1
    # New programs skip the paused parent, and nothing is ever sent to them again.
    clock.advance(minutes=1)
    await publish(db, clock)
    await fan_out(db, clock)
    await deliverer(db, clock, time, telegram=telegram).run()
    assert [u for u, _, _ in telegram.sent].count(blocked.external_id) == 0
    assert len([a for a in telegram.attempts if a[0] == blocked.external_id]) == 1


async def test_a_transient_error_backs_off_and_retries_until_it_gives_up(db, clock):
    time = FakeTime()
    [parent] = await many_parents(db, clock, 1)
    telegram = FakeSender("telegram", time)
    telegram.script[parent.external_id] = [TransientError("502")] * outbox.MAX_ATTEMPTS
    run = deliverer(db, clock, time, telegram=telegram)
    waits = []
    for attempt in range(1, outbox.MAX_ATTEMPTS):
        report = await run.run()
        assert report.retried == 1 and report.sent == 0
        [row] = await rows(db)
        assert row.status == outbox.PENDING and row.attempts == attempt
        waits.append((row.next_attempt_at - clock.now()).total_seconds())
        assert (await run.run()).retried == 0       # not due yet: nothing tried
        clock.set(row.next_attempt_at)
    assert waits == [outbox.backoff_seconds(n) for n in range(1, outbox.MAX_ATTEMPTS)]
    assert waits == sorted(waits) and max(waits) <= outbox.BACKOFF_MAX_SECONDS
    report = await run.run()
    assert report.failed == 1
    [row] = await rows(db)
    assert row.status == outbox.FAILED and row.attempts == outbox.MAX_ATTEMPTS


async def test_a_transient_error_then_success_delivers_once(db, clock):
    time = FakeTime()
    [parent] = await many_parents(db, clock, 1)
    telegram = FakeSender("telegram", time)
    telegram.script[parent.external_id] = [TransientError("timeout")]
    run = deliverer(db, clock, time, telegram=telegram)
    await run.run()
    clock.advance(seconds=outbox.backoff_seconds(1))
    assert (await run.run()).sent == 1
    assert len(telegram.sent) == 1


async def test_a_refused_message_fails_at_once(db, clock):
    time = FakeTime()
    [parent] = await many_parents(db, clock, 1)
    telegram = FakeSender("telegram", time)
    telegram.script[parent.external_id] = [DeliveryError("400 bad request")]
    report = await deliverer(db, clock, time, telegram=telegram).run()
    assert report.failed == 1
    [row] = await rows(db)
    assert row.status == outbox.FAILED and row.attempts == 1


class Crash(BaseException):
    """The process dies (SIGKILL) — nothing after it runs."""


async def test_a_crash_repeats_at_most_the_message_in_flight(db, clock):
    time = FakeTime()
    parents = await many_parents(db, clock, 10)
    telegram = FakeSender("telegram", time)

    class CrashingSender(FakeSender):
        async def send(self, user_id, screen):
            await super().send(user_id, screen)
            if len(self.sent) == 4:
                raise Crash()   # delivered, then died before recording it

    crashing = CrashingSender("telegram", time)
    with pytest.raises(Crash):
        await deliverer(db, clock, time, telegram=crashing).run()
    assert len(crashing.sent) == 4
    report = await deliverer(db, clock, time, telegram=telegram).run()
    assert report.sent == 7                              # 6 never sent + the one in flight
    delivered = [u for u, _, _ in crashing.sent + telegram.sent]
    assert sorted(set(delivered)) == sorted(p.external_id for p in parents)
    assert len(delivered) - len(set(delivered)) == 1


async def test_a_screen_whose_turn_comes_late_is_built_again_before_it_is_sent(db, clock):
    """Screens are built SCREEN_BATCH at a time; one older than SCREEN_MAX_AGE when its turn
    comes (a slow pace, a platform's pause) is built again: what went moot meanwhile is dropped,
    not sent."""
    from core.models import Subscription
    from core.subscriptions import delete_subscription

    time = FakeTime()
    parents = await many_parents(db, clock, 3)
    gone: list[str] = []

    class SlowSender(FakeSender):
        async def send(self, user_id, screen):
            await super().send(user_id, screen)
            if len(self.sent) == 1:
                time.now += 2 * SCREEN_MAX_AGE          # a slow send …
                victim = next(p for p in parents if p.external_id != user_id)
                async with db.write() as session:      # … and meanwhile a parent unsubscribes
                    sub = (await session.execute(select(Subscription).where(
                        Subscription.parent_id == victim.id))).scalar_one()
                    await delete_subscription(session, await session.get(Parent, victim.id), sub.id)
                gone.append(victim.external_id)

    telegram = SlowSender("telegram", time)
    report = await deliverer(db, clock, time, telegram=telegram).run()
    assert (report.sent, report.dropped) == (2, 1)
    assert gone and gone[0] not in [user for user, _, _ in telegram.sent]
    assert sorted(r.status for r in await rows(db)) == [outbox.DROPPED, outbox.SENT, outbox.SENT]


async def test_rows_wait_for_a_platform_without_a_sender(db, clock):
    time = FakeTime()
    await many_parents(db, clock, 2, platform="vk")
    telegram = FakeSender("telegram", time)
    report = await deliverer(db, clock, time, telegram=telegram).run()
    assert report.sent == 0
    assert {r.status for r in await rows(db)} == {outbox.PENDING}
    vk = FakeSender("vk", time)
    assert (await deliverer(db, clock, time, vk=vk).run()).sent == 2
    assert max_in_window([at for _, at in vk.attempts], 1.0) <= 20


async def test_a_parent_with_several_messages_gets_them_a_second_apart(db, clock):
    from core import enrollment
    from tests import factories

    time = FakeTime()
    [parent] = await many_parents(db, clock, 1)
    async with db.write() as session:
        await factories.nominal(session)
        me = await session.get(Parent, parent.id)
        child = await factories.child(session, me, clock)
        other = await factories.child(session, me, clock, name="Петрова Анна Ивановна")
        full = await factories.program(session, clock, seats=1)
        taken = await enrollment.enroll(session, me, child.id, full.id, clock)
        await enrollment.join_waitlist(session, me, other.id, full.id, clock)
        await enrollment.cancel(session, me, taken.enrollment.id, clock)
        assert await outbox.enqueue_waitlist_offers(session, clock) == 1
        assert await outbox.enqueue_waitlist_offers(session, clock) == 0
    telegram = FakeSender("telegram", time)
    report = await deliverer(db, clock, time, telegram=telegram).run()
    assert report.sent == 2
    (_, first, digest), (_, second, notice) = telegram.sent
    assert second - first >= 1.0
    assert "Анна" in notice.text + digest.text
    assert any(b.action == f"card:{full.id}" for b in notice.buttons + digest.buttons)
