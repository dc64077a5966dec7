"""Each platform event handled once, across processes and crashes; one parent at a time.

An adapter gives each input the platform's id of its event (Input.event_id). The dialogs'
write unit of work for it:
  1. `serialise_parent`: on PostgreSQL a transaction-level advisory lock on (platform, user),
     so two processes handling one parent's updates run them one after the other (SQLite's
     writer lock, taken by BEGIN IMMEDIATE, does that already);
  2. `seen`: the event's row, if a copy of it was committed already (then nothing runs);
  3. the step, then `record`: the row, in the same transaction as the step's effects, under
     a primary key, so of two concurrent copies one commits and the other finds it (or loses
     the insert and, retried, finds it).
Once the answer went out, the adapter calls `Dialogs.replied` → `mark_replied`: a copy
delivered later is answered with nothing; a copy of an event committed but never answered
(the process died in between) gets the current screen.

Durability (SQLite): the row is written in the transaction of the effects it stands for, so
a power cut keeps both or neither (the write-ahead log is a prefix); hence `@not_durable`.
The `replied` mark is worth one statement on PostgreSQL (autocommit), and on SQLite it waits
in memory for the next write unit of work of the dialogs (`ReplyMarks`): losing it only means
a copy after a crash shows the current screen once more.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import HandledUpdate

# How long the ids are kept: Telegram keeps an unconfirmed update 24 hours.
KEEP = dt.timedelta(days=2)
# Marks waiting for a write unit of work (SQLite); older ones are dropped beyond this.
MAX_WAITING_MARKS = 10_000

_h = HandledUpdate.__table__
_SEEN = select(_h.c.replied).where(_h.c.platform == bindparam("p"), _h.c.user_id == bindparam("u"),
                                   _h.c.event_id == bindparam("e"))
_RECORD = insert(_h).values(platform=bindparam("p"), user_id=bindparam("u"), event_id=bindparam("e"),
                            replied=False, handled_at=bindparam("at", type_=_h.c.handled_at.type))
_MARK = (update(_h).where(_h.c.platform == bindparam("p"), _h.c.user_id == bindparam("u"),
                          _h.c.event_id == bindparam("e")).values(replied=True))
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def parent_key(platform: str, user_id: str) -> int:
    """A signed 64-bit key for PostgreSQL's advisory locks, the same in every process."""
    digest = hashlib.blake2b(f"parent:{platform}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def serialise_parent(session: AsyncSession, platform: str, user_id: str) -> None:
    """Wait for any other transaction on this parent to end (PostgreSQL); held until this one
    ends. First in the unit of work, before anything of the parent is read."""
    if _is_postgres(session):
        await session.execute(_LOCK, {"key": parent_key(platform, user_id)})


async def seen(session: AsyncSession, platform: str, user_id: str, event_id: str) -> bool | None:
    """None: the event is new. False: committed, its answer not known to have gone out.
    True: committed and answered."""
    row = (await session.execute(_SEEN, {"p": platform, "u": user_id, "e": event_id})).first()
    return None if row is None else bool(row.replied)


async def record(session: AsyncSession, platform: str, user_id: str, event_id: str, now: dt.datetime) -> None:
    """The event is handled by this transaction (an IntegrityError if a copy beat it to it)."""
    await session.execute(_RECORD, {"p": platform, "u": user_id, "e": event_id, "at": now})


async def mark_replied(session: AsyncSession, marks: list[tuple[str, str, str]]) -> None:
    """(platform, user, event) of events whose answer went out."""
    if marks:
        await session.execute(_MARK, [{"p": p, "u": u, "e": e} for p, u, e in marks])


async def mark_replied_now(engine: Any, platform: str, user_id: str, event_id: str) -> None:
    """PostgreSQL: one UPDATE in autocommit (one round trip)."""
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(_MARK, {"p": platform, "u": user_id, "e": event_id})


class ReplyMarks:
    """Replied marks waiting for the next write unit of work (SQLite: no transaction of
    their own, which would take the writer lock once more per update)."""

    def __init__(self) -> None:
        self.waiting: list[tuple[str, str, str]] = []

    def add(self, platform: str, user_id: str, event_id: str) -> None:
        if len(self.waiting) >= MAX_WAITING_MARKS:
            del self.waiting[: len(self.waiting) // 2]
        self.waiting.append((platform, user_id, event_id))

    def take(self) -> list[tuple[str, str, str]]:
        taken, self.waiting = self.waiting, []
        return taken


async def prune(session: AsyncSession, now: dt.datetime, keep: dt.timedelta = KEEP) -> int:
    """Forget events handled longer ago than `keep` (no platform delivers them again)."""
    result = await session.execute(delete(_h).where(_h.c.handled_at < now - keep))
    return max(result.rowcount or 0, 0)
