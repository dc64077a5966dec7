"""consent as a versioned document: each agreement recorded, the last version on the parent

152-ФЗ ст. 9: the operator must be able to prove which text a parent agreed to, and
when. `consents` keeps every agreement (version, time, messenger); `parents.consent_version`
holds the last agreed version so the dialogs can ask again when the text changes. Parents
who agreed before this revision have no version: they are shown the document and asked again.

Revision ID: 0011
Revises: 0006
Create Date: 2026-12-02 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'consents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.String(length=16), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_consents_parent_id_parents')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_parent_id'), ['parent_id'], unique=False)
    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_version', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.drop_column('consent_version')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_parent_id'))
    op.drop_table('consents')
