"""reviews: a parent's 1–5 rating of a program their child attended, with an optional comment

One row per child and program (rating again replaces it). The comment is free text a
parent typed and may name people: it is stored encrypted (`comment_enc`, core/pd.py) and
erased by /forget; the rating stays as an anonymous figure. `hidden_at` is set by an
operator (`python -m bot reviews hide ID`): the card then neither counts nor shows it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 18:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reviews',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.Column('child_id', sa.Integer(), nullable=False),
        sa.Column('rating', sa.Integer(), nullable=False),
        sa.Column('comment_enc', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('hidden_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('rating BETWEEN 1 AND 5', name=op.f('ck_reviews_rating_range')),
        sa.ForeignKeyConstraint(['child_id'], ['children.id'], name=op.f('fk_reviews_child_id_children')),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_reviews_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews')),
        sa.UniqueConstraint('child_id', 'program_id', name=op.f('uq_reviews_child_id')),
    )
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index('ix_reviews_program_updated', ['program_id', 'updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_reviews_program_updated')
    op.drop_table('reviews')
