"""Key rotation: every stored child value and review comment re-encrypted under the
ring's primary key, a batch of rows per transaction, while the bot keeps running.

Each batch is a short write transaction of its own, so dialogs go on between
batches. A bot process that has not yet seen the new key keeps writing under
the old one (it re-reads the key file before encrypting, so only a value
encrypted just before the file changed can slip past a pass): a pass is
therefore repeated until one finds nothing left, a few times at most.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import Column, Table, and_, bindparam, func, or_, select, union_all, update

from core.db import Database, lock
from core.models import Child, Review
from core.pd import KEY_ID_LENGTH, KeyRing, token_key_id

BATCH = 300
PASSES = 5
# The encrypted columns of children and the field each one's values are bound to.
SEALED = (("full_name_enc", "children.full_name"), ("birth_date_enc", "children.birth_date"),
          ("snils_enc", "children.snils"))
# Every table with encrypted columns: the children, and the parents' review comments.
SEALED_TABLES: tuple[tuple[Table, tuple[tuple[str, str], ...]], ...] = (
    (Child.__table__, SEALED),
    (Review.__table__, (("comment_enc", "reviews.comment"),)),
)


@dataclass
class Rotation:
    rows: int = 0        # rows re-encrypted
    batches: int = 0
    passes: int = 0


def _columns(table: Table, sealed: tuple[tuple[str, str], ...]) -> list[Column]:
    return [table.c[name] for name, _field in sealed]


def _not_under(key_id: str, columns: list[Column]):  # type: ignore[no-untyped-def]
    return or_(*(and_(column.is_not(None), ~column.startswith(f"{key_id}:")) for column in columns))


async def reencrypt(db: Database, ring: KeyRing, *, batch: int = BATCH, pause: float = 0.0) -> Rotation:
    """Re-encrypt every value not under `ring`'s primary key; returns what was done."""
    done = Rotation()
    while done.passes < PASSES:
        done.passes += 1
        changed = 0
        for table, sealed in SEALED_TABLES:
            changed += await _reencrypt_table(db, ring, table, sealed, batch, pause, done)
        done.rows += changed
        if changed == 0:
            break
    return done


async def _reencrypt_table(db: Database, ring: KeyRing, table: Table, sealed: tuple[tuple[str, str], ...],
                           batch: int, pause: float, done: Rotation) -> int:
    """One pass over one table, a batch of rows per transaction; the rows changed."""
    columns = _columns(table, sealed)
    write = (update(table).where(table.c.id == bindparam("row_id"))
             .values({name: bindparam(f"new_{name}") for name, _field in sealed}))
    changed, last = 0, 0
    while True:
        ring.refresh()
        primary = ring.primary_id
        async with db.write() as session:
            rows = (await session.execute(lock(
                select(table.c.id, *columns).where(table.c.id > last, _not_under(primary, columns))
                .order_by(table.c.id).limit(batch)))).all()
            if not rows:
                break
            params = []
            for row in rows:
                values = {"row_id": row.id}
                for name, field_name in sealed:
                    token = getattr(row, name)
                    if token is not None and token_key_id(token) != primary:
                        token = ring.encrypt(field_name, ring.decrypt(field_name, token))
                    values[f"new_{name}"] = token
                params.append(values)
            await session.execute(write, params)
        last = rows[-1].id
        changed += len(rows)
        done.batches += 1
        await asyncio.sleep(pause)   # the dialogs' turn
    return changed


async def values_by_key(db: Database) -> dict[str, int]:
    """How many stored values each key id still has to open (a key no value needs can go)."""
    parts = [select(func.substr(column, 1, KEY_ID_LENGTH).label("key_id")).where(column.is_not(None))
             for table, sealed in SEALED_TABLES for column in _columns(table, sealed)]
    every = union_all(*parts).subquery()
    async with db.read() as session:
        found = await session.execute(select(every.c.key_id, func.count()).group_by(every.c.key_id))
        return {key_id: count for key_id, count in found.all()}
