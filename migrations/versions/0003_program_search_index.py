"""catalog search: the program_terms word index and a covering filter index

/find without a municipality read every program's search_text (about 75 ms
on 100 000 programs); a prefix range of program_terms finds the words, and
ix_programs_search (by municipality) and ix_programs_search_category
(everywhere, by category) answer the filters and the sort by title (bench/,
benchmark 4).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 20:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

TERM_LENGTH = 64
BATCH = 2000


def upgrade() -> None:
    op.create_table(
        'program_terms',
        sa.Column('term', sa.String(length=TERM_LENGTH).with_variant(
            sa.String(length=TERM_LENGTH, collation='C'), 'postgresql'), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_program_terms_program_id_programs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('term', 'program_id', name=op.f('pk_program_terms')),
    )
    with op.batch_alter_table('program_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_program_terms_program_id'), ['program_id'], unique=False)
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.create_index('ix_programs_search', ['municipality_id', 'age_min', 'age_max', 'end_date',
                                                     'category', 'funding', 'title', 'id'], unique=False)
        batch_op.create_index('ix_programs_search_category', ['category', 'age_min', 'age_max', 'end_date',
                                                              'funding', 'title', 'id'], unique=False)
    _fill_terms()


def _fill_terms() -> None:
    """The word index of the programs already there (their search_text is the source)."""
    bind = op.get_bind()
    programs = sa.table('programs', sa.column('id', sa.Integer), sa.column('search_text', sa.Text))
    terms = sa.table('program_terms', sa.column('term', sa.String), sa.column('program_id', sa.Integer))
    last = 0
    while True:  # bounded: every round moves `last` past BATCH more programs
        rows = bind.execute(sa.select(programs.c.id, programs.c.search_text)
                            .where(programs.c.id > last).order_by(programs.c.id).limit(BATCH)).all()
        if not rows:
            break
        values = [{'term': term, 'program_id': program_id} for program_id, text in rows
                  for term in sorted({word[:TERM_LENGTH] for word in (text or '').split()})]
        if values:
            bind.execute(terms.insert(), values)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_index('ix_programs_search_category')
        batch_op.drop_index('ix_programs_search')
    with op.batch_alter_table('program_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_program_terms_program_id'))
    op.drop_table('program_terms')
