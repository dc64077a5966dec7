"""outbox: pending rows indexed by platform and id, and only they

The worker's "mark sent" (`id IN (…) AND status = 'pending'`) was planned
by SQLite through ix_outbox_due (status, next_attempt_at): with a digest's
several ids it read every pending row, 1.3 ms a send with 60 000 pending,
three fifths of the worker's time (bench/, benchmark 3). Choosing the next
parents grouped every pending row per parent on every batch (33 ms on
SQLite, 78 ms on PostgreSQL). A partial index of the pending rows by
(platform, id) gives the worker's walk its order and leaves no index on
`status` for a planner to pick over the primary key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.drop_index('ix_outbox_due', table_name='outbox')
    op.create_index('ix_outbox_pending', 'outbox', ['platform', 'id'], unique=False,
                    sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_index('ix_outbox_pending', table_name='outbox')
    op.create_index('ix_outbox_due', 'outbox', ['status', 'next_attempt_at'], unique=False)
