"""job_progress: where a batched calendar job stands in its period

Settlement, the year rollover and the year-end reminders run in batches of a
few hundred certificates (or parents), each its own transaction, so the bot
answers between them. Each batch moves the job's cursor (the last id done) and
adds its counts in the same transaction: after a crash the job resumes after
the last committed batch, and its report still covers the whole period.

Revision ID: 0012
Revises: 0006
Create Date: 2026-12-02 14:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_progress',
    sa.Column('job', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('cursor', sa.BigInteger(), nullable=False),
    sa.Column('totals', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job', 'period', name=op.f('pk_job_progress'))
    )


def downgrade() -> None:
    op.drop_table('job_progress')
