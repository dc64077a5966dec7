"""handled_updates: each platform event handled once across processes

A message or a press may be delivered again: Telegram re-sends a webhook update
that was not answered in time (possibly to another process), and a long poll
hands out again what a crashed process had not confirmed. The dialogs record
(platform, user, event id) in the same transaction as the event's effects; a copy
finds the row and changes nothing. `replied` is set once the answer went out, so a
copy of an answered event gets no answer, and one whose answer was lost gets the
current screen. Rows older than two days are pruned by a job.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 17:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'handled_updates',
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('replied', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('platform', 'user_id', 'event_id', name=op.f('pk_handled_updates')),
    )
    with op.batch_alter_table('handled_updates', schema=None) as batch_op:
        batch_op.create_index('ix_handled_updates_handled_at', ['handled_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('handled_updates', schema=None) as batch_op:
        batch_op.drop_index('ix_handled_updates_handled_at')
    op.drop_table('handled_updates')
