"""ledger: a reserved month may be topped up; charges know the rollover's renewals

Freed money covers the co-payments of a certificate's other enrollments
(core/copay.py), often by topping up a partly covered month: that month then
has two RESERVE rows. uq_ledger_enrollment_month allowed one row per kind and
month; it becomes ix_ledger_enrollment_month (the same columns, not unique,
still the reads' index) and uq_ledger_month_closed, which keeps a month closed
once: one SETTLE or one REFUND, never both.

charges.renewal marks the charges made by the year rollover: only they get the
New Year co-payment notice. Existing charges are renewals when the enrollment
has a charge of an earlier year.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0009'
branch_labels = None
depends_on = None

ANY_ENROLLMENT = sa.text('enrollment_id IS NOT NULL')
MONTH_CLOSED = sa.text("enrollment_id IS NOT NULL AND kind IN ('settle', 'refund')")
MONTH_COLUMNS = ['kind', 'enrollment_id', 'year', 'month']


def upgrade() -> None:
    op.drop_index('uq_ledger_enrollment_month', table_name='ledger_entries')
    op.create_index('ix_ledger_enrollment_month', 'ledger_entries', MONTH_COLUMNS, unique=False,
                    sqlite_where=ANY_ENROLLMENT, postgresql_where=ANY_ENROLLMENT)
    op.create_index('uq_ledger_month_closed', 'ledger_entries', ['enrollment_id', 'year', 'month'], unique=True,
                    sqlite_where=MONTH_CLOSED, postgresql_where=MONTH_CLOSED)

    op.add_column('charges', sa.Column('renewal', sa.Boolean(), server_default=sa.false(), nullable=False))
    charges = sa.table('charges', sa.column('id', sa.Integer()), sa.column('enrollment_id', sa.Integer()),
                       sa.column('year', sa.Integer()), sa.column('renewal', sa.Boolean()))
    earlier = charges.alias('earlier')
    op.execute(charges.update()
               .where(sa.exists().where(earlier.c.enrollment_id == charges.c.enrollment_id,
                                        earlier.c.year < charges.c.year))
               .values(renewal=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('charges') as batch_op:
        batch_op.drop_column('renewal')
    # Back to one RESERVE row per month: a topped-up month's rows become one.
    ledger = sa.table('ledger_entries', sa.column('id', sa.Integer()), sa.column('kind', sa.String()),
                      sa.column('enrollment_id', sa.Integer()), sa.column('year', sa.Integer()),
                      sa.column('month', sa.Integer()), sa.column('amount', sa.BigInteger()))
    other = ledger.alias('other')
    same_month = sa.and_(other.c.kind == 'reserve', other.c.enrollment_id == ledger.c.enrollment_id,
                         other.c.year == ledger.c.year, other.c.month == ledger.c.month)
    op.execute(ledger.update()
               .where(ledger.c.kind == 'reserve', ledger.c.enrollment_id.is_not(None),
                      ~sa.exists().where(same_month, other.c.id < ledger.c.id))
               .values(amount=sa.select(sa.func.sum(other.c.amount)).where(same_month).scalar_subquery()))
    op.execute(ledger.delete()
               .where(ledger.c.kind == 'reserve', ledger.c.enrollment_id.is_not(None),
                      sa.exists().where(same_month, other.c.id < ledger.c.id)))
    op.drop_index('uq_ledger_month_closed', table_name='ledger_entries')
    op.drop_index('ix_ledger_enrollment_month', table_name='ledger_entries')
    op.create_index('uq_ledger_enrollment_month', 'ledger_entries', MONTH_COLUMNS, unique=True,
                    sqlite_where=ANY_ENROLLMENT, postgresql_where=ANY_ENROLLMENT)
