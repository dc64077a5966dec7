"""The alert outbox: every message the bot owes a parent outside a conversation.

One row per (kind, parent, platform, thing) — a new program, an offered
waiting-list seat, a renewal co-payment, a year-end reminder — under a
UNIQUE key, so fanning out or enqueuing twice never owes a message twice.
The delivery worker (bot/jobs/delivery.py) sends pending rows and marks each
one sent right after its send succeeded: a crash loses nothing and repeats
at most the one message that was in flight.

New programs are fanned out in SQL (INSERT … SELECT … ON CONFLICT DO
NOTHING) from `core.subscriptions.new_program_matches`, over a window that
starts a little before the stored watermark: an import computes its
`published_at` before its transaction commits, and the overlap catches such
late commits while the unique key keeps them from arriving twice.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from core.clock import Clock
from core.db import Database, not_durable
from core.models import (
    Base,
    Certificate,
    CertificateStatus,
    Charge,
    Child,
    Enrollment,
    LedgerEntry,
    LedgerKind,
    Parent,
    Program,
    Subscription,
    UTCDateTime,
    WaitlistEntry,
    WaitlistStatus,
)
from core.subscriptions import alerts_recipient, new_program_matches

# Kinds of alerts (Outbox.kind) and what `ref_id` points at.
PROGRAM = "program"      # Program.id — grouped into one digest per parent
WAITLIST = "waitlist"    # WaitlistEntry.id — a freed seat held for the child
COPAY = "copay"          # Charge.id — a renewal co-payment found at year rollover
YEAR_END = "year_end"    # YYYYMMDD of the reminder — free money expires on 31 December
KINDS = (PROGRAM, WAITLIST, COPAY, YEAR_END)

# Outbox.status
PENDING = "pending"
SENT = "sent"
FAILED = "failed"        # the parent blocked the bot, or retries were used up
DROPPED = "dropped"      # not to be sent any more (parent forgot their data, unsubscribed, moot)
STATUSES = (PENDING, SENT, FAILED, DROPPED)

NEW_PROGRAMS = "new-programs"
# How far before the watermark each fan-out looks again (late-committed imports).
OVERLAP = dt.timedelta(minutes=15)
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
# A TransientError is retried this many times in all, with bounded exponential backoff.
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 300


@not_durable  # a power cut may resend an alert or retry a failed one, never lose one
class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("kind", "parent_id", "platform", "ref_id", name="uq_outbox_alert"),
        # The worker's walk (due_units), in id order per platform; pending rows only, so no
        # planner picks an index on `status` over the primary key (migration 0005).
        Index("ix_outbox_pending", "platform", "id", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    # The subscription that matched (program alerts): its «Отписаться» button. No FK:
    # the subscription may be deleted while the row waits (the row is then dropped).
    subscription_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


# The platforms that can receive a message the bot sends on its own. The terminal chat
# ("console") is one too: its rows wait, like a messenger's, until a chat runs to print them.
MESSENGERS = ("telegram", "vk", "max", "console")


@not_durable  # set back with the rows it queued (the log is a prefix): queued again next time
class AlertWatermark(Base):
    """How far (Program.published_at) new programs have been fanned out."""
    __tablename__ = "alert_watermarks"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime())


def _insert(session: AsyncSession):  # noqa: ANN202 - a dialect's Insert
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(Outbox)
    if name == "sqlite":
        return sqlite.insert(Outbox)
    raise NotImplementedError(f"outbox fan-out needs SQLite or PostgreSQL, not {name}")


async def _insert_from(session: AsyncSession, rows) -> int:  # noqa: ANN001
    """INSERT … SELECT rows (kind, parent_id, platform, ref_id, subscription_id, status,
    attempts, created_at) … ON CONFLICT DO NOTHING; how many rows were new."""
    source = rows.subquery()
    # Only platforms that can be written to unprompted (MESSENGERS). The WHERE is needed
    # anyway: SQLite would otherwise read ON CONFLICT as a join's ON.
    stmt = _insert(session).from_select(
        ["kind", "parent_id", "platform", "ref_id", "subscription_id", "status", "attempts", "created_at"],
        select(*source.c).where(source.c.platform.in_(MESSENGERS))).on_conflict_do_nothing()
    result = await session.execute(stmt)
    return max(result.rowcount or 0, 0)


# --- new programs -----------------------------------------------------------

async def watermark(session: AsyncSession) -> dt.datetime:
    row = await session.get(AlertWatermark, NEW_PROGRAMS)
    return row.until if row is not None else EPOCH


@dataclass
class FanOut:
    since: dt.datetime
    until: dt.datetime
    queued: int


async def fan_out(session: AsyncSession, clock: Clock) -> FanOut:
    """Queue one PROGRAM row per (parent, new matching program), in one statement."""
    previous = await watermark(session)
    until = clock.now().astimezone(dt.timezone.utc)
    if until < previous:  # a clock set back: never move the watermark backwards
        until = previous
    since = max(previous - OVERLAP, EPOCH)
    matches = new_program_matches(since, until).subquery()
    per_parent = (
        select(literal(PROGRAM).label("kind"), matches.c.parent_id, Parent.platform,
               matches.c.program_id.label("ref_id"),
               func.min(matches.c.subscription_id).label("subscription_id"),
               literal(PENDING).label("status"), literal(0).label("attempts"),
               literal(until, UTCDateTime()).label("created_at"))
        .join(Parent, Parent.id == matches.c.parent_id))
    per_parent = (_not_queued_for_the_family(per_parent, matches, previous)
                  .group_by(matches.c.parent_id, Parent.platform, matches.c.program_id))
    queued = await _insert_from(session, per_parent)
    mark = await session.get(AlertWatermark, NEW_PROGRAMS)
    if mark is None:
        session.add(AlertWatermark(name=NEW_PROGRAMS, until=until))
    else:
        mark.until = until
    await session.flush()
    return FanOut(since=since, until=until, queued=queued)


def _not_queued_for_the_family(query: Any, matches: Any, previous: dt.datetime) -> Any:
    """`query` (over `matches`) keeps a program looked at again (published before the last
    watermark, within OVERLAP) only if no account of the subscriber's family got it yet: the
    family may have chosen another account for its alerts since (core/family.py). Newer
    programs skip the check (the unique key does it for one account)."""
    subscription, program, member = aliased(Subscription), aliased(Program), aliased(Parent)
    owner = subscription.parent_id
    queued = (exists().where(Outbox.kind == PROGRAM, Outbox.ref_id == matches.c.program_id,
                             Outbox.parent_id == member.id, or_(member.id == owner, member.family_id == owner)))
    return (query.join(subscription, subscription.id == matches.c.subscription_id)
            .join(program, program.id == matches.c.program_id)
            .where(or_(program.published_at > previous, ~queued)))


# --- notices ------------------------------------------------------------------

# The account a family's notices go to (core/family.py): one per family, the one chosen.
_TO = alerts_recipient()
_TO_CHOSEN = _TO.id == func.coalesce(Parent.alerts_to_id, Parent.id)


def _notice_row(kind: str, ref_id: Any, now: dt.datetime) -> list[Any]:
    """The outbox columns of a notice (not tied to a subscription) about the row `ref_id`:
    `Parent` is the family's owning row, the notice goes to the account it chose (`_TO`)."""
    return [literal(kind).label("kind"), _TO.id.label("parent_id"), _TO.platform,
            ref_id.label("ref_id"), literal(None, Integer).label("subscription_id"),
            literal(PENDING).label("status"), literal(0).label("attempts"),
            literal(now, UTCDateTime()).label("created_at")]


async def enqueue_waitlist_offers(session: AsyncSession, clock: Clock) -> int:
    """Queue a notice for each seat held on a waiting list not yet told (and mark it told:
    from now on the outbox owns its delivery). A hold already run out is not announced."""
    now = clock.now()
    rows = (select(*_notice_row(WAITLIST, WaitlistEntry.id, now))
            .select_from(WaitlistEntry)
            .join(Child, Child.id == WaitlistEntry.child_id)
            .join(Parent, Parent.id == Child.parent_id)
            .join(_TO, _TO_CHOSEN)
            .where(WaitlistEntry.status == WaitlistStatus.OFFERED, WaitlistEntry.notified_at.is_(None),
                   WaitlistEntry.hold_until > now, Parent.forgotten_at.is_(None)))
    queued = await _insert_from(session, rows)
    await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.status == WaitlistStatus.OFFERED, WaitlistEntry.notified_at.is_(None))
        .values(notified_at=now).execution_options(synchronize_session=False))
    return queued


async def enqueue_copay_notices(session: AsyncSession, clock: Clock,
                                charge_ids: Sequence[int] | None = None) -> int:
    """Queue a notice for each renewal Charge with a co-payment not yet told (only those of
    `charge_ids` when given: one batch of the year rollover). Only the rollover's renewals:
    a new enrollment's co-payment was shown before it was confirmed."""
    now = clock.now()
    untold = [Charge.renewal.is_(True), Charge.copay > 0, Charge.notified_at.is_(None)]
    if charge_ids is not None:
        if not charge_ids:
            return 0
        untold.append(Charge.id.in_(charge_ids))
    rows = (select(*_notice_row(COPAY, Charge.id, now))
            .select_from(Charge)
            .join(Enrollment, Enrollment.id == Charge.enrollment_id)
            .join(Child, Child.id == Enrollment.child_id)
            .join(Parent, Parent.id == Child.parent_id)
            .join(_TO, _TO_CHOSEN)
            .where(*untold, Parent.forgotten_at.is_(None)))
    queued = await _insert_from(session, rows)
    await session.execute(
        update(Charge).where(*untold)
        .values(notified_at=now).execution_options(synchronize_session=False))
    return queued


def year_end_ref(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


async def enqueue_year_end(session: AsyncSession, day: dt.date, clock: Clock,
                           parent_ids: tuple[int, int] | None = None) -> int:
    """Queue a reminder (tagged with `day`) to each parent whose funded certificates still
    hold free money in `day.year`: it expires on 31 December. `parent_ids` (after, upto]:
    one batch of parents (core/calendar_jobs.py), whose ledger alone is summed."""
    sums = (select(LedgerEntry.certificate_id,
                   func.sum(LedgerEntry.amount).filter(LedgerEntry.kind.in_(
                       [LedgerKind.CREDIT, LedgerKind.REFUND])).label("plus"),
                   func.sum(LedgerEntry.amount).filter(LedgerEntry.kind.in_(
                       [LedgerKind.RESERVE, LedgerKind.EXPIRE])).label("minus"))
            .where(LedgerEntry.year == day.year)
            .group_by(LedgerEntry.certificate_id))
    parents = []
    if parent_ids is not None:
        after, upto = parent_ids
        sums = (sums.join(Certificate, Certificate.id == LedgerEntry.certificate_id)
                .join(Child, Child.id == Certificate.child_id)
                .where(Child.parent_id > after, Child.parent_id <= upto))
        parents = [Parent.id > after, Parent.id <= upto]
    sums = sums.subquery()
    has_free = exists().where(
        Certificate.child_id == Child.id, Certificate.status == CertificateStatus.FUNDED,
        sums.c.certificate_id == Certificate.id,
        func.coalesce(sums.c.plus, 0) - func.coalesce(sums.c.minus, 0) > 0)
    rows = (select(literal(YEAR_END).label("kind"), _TO.id.label("parent_id"), _TO.platform,
                   literal(year_end_ref(day), BigInteger).label("ref_id"),
                   literal(None, Integer).label("subscription_id"),
                   literal(PENDING).label("status"), literal(0).label("attempts"),
                   literal(clock.now(), UTCDateTime()).label("created_at"))
            .select_from(Parent)
            .join(_TO, _TO_CHOSEN)
            .where(Parent.forgotten_at.is_(None), *parents,
                   exists().where(Child.parent_id == Parent.id, Child.forgotten_at.is_(None), has_free)))
    return await _insert_from(session, rows)


async def redirect_pending(session: AsyncSession, accounts: Sequence[int], to: Parent) -> None:
    """A family's alerts and notices not sent yet, queued for `accounts`, go to the account
    `to` instead (core/family.py: the family chose it for its alerts, or an account left the
    family and keeps nothing of it). A row `to` already has (the same alert) is dropped."""
    mine = aliased(Outbox)
    for account in dict.fromkeys(accounts):
        if account == to.id:
            continue
        waiting = (Outbox.parent_id == account, Outbox.status == PENDING)
        already = exists().where(mine.kind == Outbox.kind, mine.ref_id == Outbox.ref_id,
                                 mine.parent_id == to.id, mine.platform == to.platform)
        await session.execute(update(Outbox).where(*waiting, already)
                              .values(status=DROPPED, last_error="moved")
                              .execution_options(synchronize_session=False))
        await session.execute(update(Outbox).where(*waiting)
                              .values(parent_id=to.id, platform=to.platform)
                              .execution_options(synchronize_session=False))


# --- the worker's bookkeeping -------------------------------------------------

async def drop_moot(session: AsyncSession, clock: Clock) -> int:
    """Pending rows that must never be sent: the parent deleted their data, or the
    program alert's subscription is gone (unsubscribed)."""
    forgotten = exists().where(Parent.id == Outbox.parent_id, Parent.forgotten_at.is_not(None))
    unsubscribed = and_(Outbox.kind == PROGRAM,
                        ~exists().where(Subscription.id == Outbox.subscription_id))
    result = await session.execute(
        update(Outbox).where(Outbox.status == PENDING, forgotten | unsubscribed)
        .values(status=DROPPED, last_error="moot").execution_options(synchronize_session=False))
    return max(result.rowcount or 0, 0)


@dataclass(frozen=True)
class Unit:
    """One message to send: the rows it settles (a digest settles several)."""
    parent_id: int
    platform: str
    user_id: str
    kind: str
    row_ids: tuple[int, ...]
    refs: tuple[int, ...] = ()              # ref_id of each row, ascending
    subscription_ids: tuple[int, ...] = ()  # distinct, ascending (program digests)


# The worker's walk: pending rows of one platform, due now, of parents who can be written to,
# in id order (ix_outbox_pending). 'pending' is written out, not bound: a planner can use a
# partial index only for a condition it sees (SQLite always, PostgreSQL in a generic plan).
_o, _p = Outbox.__table__, Parent.__table__
_DUE_NOW = and_(_o.c.platform == bindparam("platform", type_=_o.c.platform.type),
                _o.c.next_attempt_at.is_(None)
                | (_o.c.next_attempt_at <= bindparam("now", type_=_o.c.next_attempt_at.type)))
_WINDOW = (select(_o.c.id, _o.c.parent_id, _p.c.external_id)
           .join(_p, _p.c.id == _o.c.parent_id)
           .where(_o.c.status == literal_column(f"'{PENDING}'"), _DUE_NOW,
                  _p.c.forgotten_at.is_(None), _p.c.unreachable_at.is_(None))
           .order_by(_o.c.id).limit(bindparam("window", type_=Integer))).subquery()
_NEXT_PARENTS = (select(_WINDOW.c.parent_id, _WINDOW.c.external_id, func.min(_WINDOW.c.id).label("first"))
                 .group_by(_WINDOW.c.parent_id, _WINDOW.c.external_id)
                 .order_by(func.min(_WINDOW.c.id)).limit(bindparam("limit", type_=Integer)))
# A batch's parents' rows, by ix_outbox_parent_id: 'pending' bound here, so that the partial
# index (every pending row of the platform) is not chosen instead.
_ROWS_OF = (select(_o.c.id, _o.c.kind, _o.c.parent_id, _o.c.platform, _o.c.ref_id, _o.c.subscription_id)
            .where(_o.c.parent_id.in_(bindparam("parents", expanding=True)),
                   _o.c.status == bindparam("pending", PENDING), _DUE_NOW)
            .order_by(_o.c.parent_id, _o.c.id))
# Pending rows looked at per parent wanted: one fan-out writes a parent's rows side by side,
# so the window holds `limit` parents unless they owe more than this many messages each
# (the batch is then smaller; the next one goes on).
WINDOW_PER_PARENT = 10


async def due_units(session: AsyncSession, platforms: list[str], clock: Clock,
                    limit: int = 200) -> list[Unit]:
    """Pending rows of reachable parents on `platforms` that are due, as messages: all of
    a parent's PROGRAM rows form one digest, each other row is a message of its own.
    At most `limit` parents, oldest first; interleaved (everyone's first message, then
    everyone's second …) so a chat's 1-second limit never stalls the others.

    The parents come from the oldest pending rows (a window of WINDOW_PER_PARENT × limit),
    not from grouping every pending row: a batch costs the same with 60 rows pending or
    60 000."""
    connection = await session.connection()
    now = clock.now()
    found: list[tuple[int, int, str, str]] = []   # (first row id, parent id, platform, user id)
    for platform in dict.fromkeys(platforms):
        values = {"platform": platform, "now": now, "window": limit * WINDOW_PER_PARENT, "limit": limit}
        found += [(first, parent_id, platform, external_id) for parent_id, external_id, first
                  in (await connection.execute(_NEXT_PARENTS, values)).all()]
    found = sorted(found)[:limit]
    if not found:
        return []
    user_of = {(parent_id, platform): user for _, parent_id, platform, user in found}
    rows = []
    for platform in dict.fromkeys(p for _, _, p, _ in found):
        rows += (await connection.execute(_ROWS_OF, {
            "platform": platform, "now": now,
            "parents": [parent_id for _, parent_id, p, _ in found if p == platform]})).all()
    grouped: dict[tuple[int, str, str], list] = {}
    for row in sorted(rows, key=lambda r: (r.parent_id, r.id)):
        key = (row.parent_id, row.platform, PROGRAM if row.kind == PROGRAM else f"{row.kind}:{row.id}")
        grouped.setdefault(key, []).append(row)
    per_parent: dict[tuple[int, str], list[Unit]] = {}
    for (parent_id, platform, _), group in grouped.items():
        first = group[0]
        per_parent.setdefault((parent_id, platform), []).append(Unit(
            parent_id=parent_id, platform=platform, user_id=user_of[(parent_id, platform)], kind=first.kind,
            row_ids=tuple(r.id for r in group), refs=tuple(sorted(r.ref_id for r in group)),
            subscription_ids=tuple(sorted({r.subscription_id for r in group if r.subscription_id is not None}))))
    order = [key for key in ((parent_id, platform) for _, parent_id, platform, _ in found) if key in per_parent]
    units: list[Unit] = []
    depth = max((len(u) for u in per_parent.values()), default=0)
    for level in range(depth):
        units.extend(per_parent[key][level] for key in order if len(per_parent[key]) > level)
    return units


CHUNK = 5000  # row ids in one statement


def _chunks(ids: tuple[int, ...], size: int = CHUNK) -> list[list[int]]:
    """Row ids in pieces small enough for any driver's limit on bound parameters."""
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)] or [[]]


async def _update_rows(session: AsyncSession, row_ids: tuple[int, ...], **values: object) -> None:
    for ids in _chunks(row_ids):
        await session.execute(
            update(Outbox).where(Outbox.id.in_(ids), Outbox.status == PENDING).values(**values)
            .execution_options(synchronize_session=False))


# The worker's one statement per message sent: built once (SQLAlchemy then finds it in its
# compiled cache) and run on the session's connection, not through the ORM.
_MARK_SENT = (update(_o)
              .where(_o.c.id.in_(bindparam("ids", expanding=True)), _o.c.status == PENDING)
              .values(status=SENT, sent_at=bindparam("sent_at", type_=_o.c.sent_at.type), last_error=None))


async def mark_sent(session: AsyncSession, unit: Unit, clock: Clock) -> None:
    connection = await session.connection()
    sent_at = clock.now()
    for ids in _chunks(unit.row_ids):
        await connection.execute(_MARK_SENT, {"ids": ids, "sent_at": sent_at})


async def record_sent(db: Database, unit: Unit, clock: Clock) -> None:
    """Mark `unit` sent, committed when this returns (the worker's guarantee: before the next
    send starts). On PostgreSQL one UPDATE is a transaction of its own: run in autocommit it
    takes one round trip instead of three (BEGIN, UPDATE, COMMIT) and half the CPU. SQLite
    (whose writers queue in Database.write) and units of more rows than one statement takes
    go through a write unit of work."""
    if db.sqlite or len(unit.row_ids) > CHUNK:
        async with db.write() as session:
            await mark_sent(session, unit, clock)
        return
    async with db.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(_MARK_SENT, {"ids": list(unit.row_ids), "sent_at": clock.now()})


async def mark_failed(session: AsyncSession, unit: Unit, reason: str, clock: Clock) -> None:
    await _update_rows(session, unit.row_ids, status=FAILED, last_error=reason[:64], attempts=Outbox.attempts + 1)


async def mark_dropped(session: AsyncSession, units: list[Unit], reason: str) -> None:
    """The rows of `units` are not to be sent (in as few statements as drivers allow)."""
    await _update_rows(session, tuple(row for unit in units for row in unit.row_ids),
                       status=DROPPED, last_error=reason[:64])


def backoff_seconds(attempts: int) -> int:
    """After the n-th failed attempt: 2, 4, 8 … seconds, never more than the cap."""
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)


async def mark_retry(session: AsyncSession, unit: Unit, reason: str, clock: Clock) -> bool:
    """Count a failed attempt; retry later with backoff, or give up after MAX_ATTEMPTS.
    True if the rows will be retried."""
    attempts = (await session.execute(
        select(func.max(Outbox.attempts)).where(Outbox.id.in_(_chunks(unit.row_ids)[0])))).scalar() or 0
    attempts += 1
    if attempts >= MAX_ATTEMPTS:
        await _update_rows(session, unit.row_ids, status=FAILED, attempts=attempts, last_error=reason[:64])
        return False
    await _update_rows(session, unit.row_ids, attempts=attempts, last_error=reason[:64],
                       next_attempt_at=clock.now() + dt.timedelta(seconds=backoff_seconds(attempts)))
    return True


async def counts(session: AsyncSession) -> dict[str, int]:
    found = dict((await session.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all())
    return {status: int(found.get(status, 0)) for status in STATUSES}
