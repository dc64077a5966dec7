"""programs: study months

A program is taught in its study months: by default every month of its
dates except June, July and August, or the months the import lists in its
optional `months` column. The cost of a year counts only those months.
NULL keeps the default, so the programs already there need no rewrite.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('programs', sa.Column('study_months', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('programs') as batch:
        batch.drop_column('study_months')
