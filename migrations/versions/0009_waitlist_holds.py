"""waiting list: a freed seat is held for the first in line until hold_until

A freed seat used to be only announced ("места не бронируются"), so whoever
was fastest took it. Now the first in line gets a hold of 24 hours: the
entry is OFFERED with a deadline, others see no free seat meanwhile, and a
job passes an unanswered hold to the next in line. The partial index is that
job's walk (held seats by deadline). Places offered before this revision get
the deadline they would have had (offered_at + 24 h); the new statuses
(declined, expired) need no change: the column is a plain string.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-02 14:00:00
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None

HOLD = dt.timedelta(hours=24)
OFFERED = sa.text("status = 'offered'")


def upgrade() -> None:
    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_until', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_waitlist_holds', 'waitlist_entries', ['hold_until'], unique=False,
                    sqlite_where=OFFERED, postgresql_where=OFFERED)
    entries = sa.table('waitlist_entries', sa.column('id', sa.Integer()),
                       sa.column('status', sa.String()),
                       sa.column('offered_at', sa.DateTime(timezone=True)),
                       sa.column('hold_until', sa.DateTime(timezone=True)))
    bind = op.get_bind()
    offered = bind.execute(sa.select(entries.c.id, entries.c.offered_at)
                           .where(entries.c.status == 'offered')).all()
    now = dt.datetime.now(dt.timezone.utc)
    for entry_id, offered_at in offered:
        if isinstance(offered_at, str):  # SQLite without the model's type decorator
            offered_at = dt.datetime.fromisoformat(offered_at)
        if offered_at is not None and offered_at.tzinfo is None:
            offered_at = offered_at.replace(tzinfo=dt.timezone.utc)
        until = (offered_at or now) + HOLD
        bind.execute(sa.update(entries).where(entries.c.id == entry_id).values(hold_until=until))


def downgrade() -> None:
    op.drop_index('ix_waitlist_holds', table_name='waitlist_entries',
                  sqlite_where=OFFERED, postgresql_where=OFFERED)
    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.drop_column('hold_until')
