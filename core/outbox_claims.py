"""Each outbox row sent by one process (PostgreSQL; SQLite has one process).

Before sending a message the worker claims its rows: one statement locks those still
pending and due with `FOR UPDATE SKIP LOCKED` and moves their `next_attempt_at` a lease
ahead (CLAIM_LEASE), which takes them out of every worker's `due_units` until then. Rows
another worker is claiming at that instant are skipped, and rows it claimed already are no
longer due, so two workers never send one message. After the send the row is marked sent
(or failed, or retried later) as before; if the process dies in between, the lease runs out
and the row is sent again: a crash repeats at most the message in flight, as with one
process. A unit whose rows were only partly claimed (a digest another worker took a row
of) is given back and skipped.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select, update

from core.clock import Clock
from core.db import Database
from core.outbox import CHUNK, PENDING, Outbox, Unit

# Longer than a send can take, its RetryLater pauses included (bot/jobs/delivery.py).
CLAIM_LEASE = dt.timedelta(minutes=10)

_o = Outbox.__table__
_when = _o.c.next_attempt_at.type
_CLAIMABLE = (select(_o.c.id)
              .where(_o.c.id.in_(bindparam("ids", expanding=True)), _o.c.status == PENDING,
                     _o.c.next_attempt_at.is_(None) | (_o.c.next_attempt_at <= bindparam("now", type_=_when)))
              .with_for_update(skip_locked=True))
_CLAIM = (update(_o).where(_o.c.id.in_(_CLAIMABLE.scalar_subquery()))
          .values(next_attempt_at=bindparam("until", type_=_when)).returning(_o.c.id))
_GIVE_BACK = (update(_o).where(_o.c.id.in_(bindparam("ids", expanding=True)), _o.c.status == PENDING)
              .values(next_attempt_at=bindparam("at", type_=_when)))


async def claim(db: Database, unit: Unit, clock: Clock, lease: dt.timedelta = CLAIM_LEASE) -> bool:
    """True when this process may send `unit` (all its rows are now its own)."""
    if db.sqlite or len(unit.row_ids) > CHUNK:
        return True   # one process (SQLite); a digest this big is one worker's anyway
    now = clock.now()
    async with db.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        got = set((await connection.execute(_CLAIM, {"ids": list(unit.row_ids), "now": now,
                                                     "until": now + lease})).scalars())
        if got == set(unit.row_ids):
            return True
        if got:
            await connection.execute(_GIVE_BACK, {"ids": sorted(got), "at": now})
    return False


async def give_back(db: Database, unit: Unit, at: dt.datetime) -> None:
    """The claim ends unsent (a long pause asked by the platform): due again at `at`."""
    if db.sqlite or len(unit.row_ids) > CHUNK:
        return
    async with db.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(_GIVE_BACK, {"ids": list(unit.row_ids), "at": at})
