"""programs: contacts and parsed lessons

A program may carry its organisation's phone, e-mail and website (optional
import columns) and the lessons its schedule text was parsed into
(core/schedule.py: "1 16:00-17:30;3 16:00-17:30"). The programs already there
get no contacts; their schedules are parsed here, in batches.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 17:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('programs') as batch:
        batch.add_column(sa.Column('phone', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('email', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('website', sa.String(length=320), nullable=True))
        batch.add_column(sa.Column('lessons', sa.Text(), nullable=True))
    _parse_schedules()


def _parse_schedules() -> None:
    from core import schedule

    programs = sa.table('programs', sa.column('id', sa.Integer), sa.column('schedule', sa.Text),
                        sa.column('lessons', sa.Text))
    connection = op.get_bind()
    last = 0
    while True:
        batch = connection.execute(sa.select(programs.c.id, programs.c.schedule)
                                   .where(programs.c.id > last).order_by(programs.c.id).limit(1000)).all()
        if not batch:
            break
        last = batch[-1].id
        parsed = [{'pid': row.id, 'lessons': schedule.dumps(schedule.parse(row.schedule))} for row in batch]
        parsed = [row for row in parsed if row['lessons']]
        if parsed:
            connection.execute(programs.update().where(programs.c.id == sa.bindparam('pid'))
                               .values(lessons=sa.bindparam('lessons')), parsed)


def downgrade() -> None:
    with op.batch_alter_table('programs') as batch:
        batch.drop_column('lessons')
        batch.drop_column('website')
        batch.drop_column('email')
        batch.drop_column('phone')
