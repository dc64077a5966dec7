"""one family across messengers: parents.family_id, parents.alerts_to_id, link_states

A parent may link accounts in several messengers (/link): each account keeps its own
row and its own consent; `family_id` points a linked account to the account whose rows
own the family's children and subscriptions, and the owner's `alerts_to_id` names the
account that gets the family's alerts. `link_states` holds an account's one live linking
code (a keyed hash, valid ten minutes) and its wrong tries (five pause linking an hour).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 17:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('alerts_to_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_parents_family_id'), ['family_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_parents_family_id_parents'), 'parents', ['family_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_parents_alerts_to_id_parents'), 'parents',
                                    ['alerts_to_id'], ['id'])
    op.create_table(
        'link_states',
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_link_states_parent_id_parents')),
        sa.PrimaryKeyConstraint('parent_id', name=op.f('pk_link_states')),
    )
    with op.batch_alter_table('link_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_states_code_hash'), ['code_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('link_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_states_code_hash'))
    op.drop_table('link_states')
    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_parents_alerts_to_id_parents'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_parents_family_id_parents'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_parents_family_id'))
        batch_op.drop_column('alerts_to_id')
        batch_op.drop_column('family_id')
