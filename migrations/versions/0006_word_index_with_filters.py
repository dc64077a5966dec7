"""catalog search: the word index carries the programs' titles and filter columns

A worded search read every program of its words' index range to check the
filters and the title: 'школа' everywhere is 19 000 programs, 35 ms on
SQLite (bench/, benchmark 4), and a common word in one municipality probed
the municipality's every program. program_terms now holds each program's
title and filter columns next to its words, with an index by municipality,
so the matches are counted, filtered and sorted from the index alone. On SQLite the table
is stored in key order (WITHOUT ROWID); on PostgreSQL its key includes the
filter columns. The index is derived data: it is built anew from programs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

TERM_LENGTH = 64
BATCH = 2000
FILTERS = ['municipality_id', 'category', 'funding', 'age_min', 'age_max', 'end_date']
COPIED = ['title', *FILTERS]
CATEGORY = sa.Enum('technical', 'science', 'sport', 'art', 'tourism', 'social', name='category',
                   native_enum=False, length=32)
FUNDING = sa.Enum('certificate', 'municipal', 'paid', name='funding', native_enum=False, length=32)


def _term() -> sa.String:
    return sa.String(length=TERM_LENGTH).with_variant(sa.String(length=TERM_LENGTH, collation='C'), 'postgresql')


def upgrade() -> None:
    op.drop_table('program_terms')
    op.create_table(
        'program_terms',
        sa.Column('term', _term(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('municipality_id', sa.Integer(), nullable=False),
        sa.Column('category', CATEGORY, nullable=False),
        sa.Column('funding', FUNDING, nullable=False),
        sa.Column('age_min', sa.Integer(), nullable=False),
        sa.Column('age_max', sa.Integer(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_program_terms_program_id_programs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('term', 'program_id', name=op.f('pk_program_terms'),
                                postgresql_include=COPIED),
        sqlite_with_rowid=False,
    )
    op.create_index('ix_program_terms_town', 'program_terms',
                    ['municipality_id', 'term', 'program_id', 'category', 'funding', 'age_min', 'age_max',
                     'end_date'], unique=False)
    op.create_index('ix_program_terms_program_term', 'program_terms', ['program_id', 'term'], unique=False)
    _fill(with_filters=True)


def _fill(with_filters: bool) -> None:
    """The word index of the programs already there (their search_text is the source)."""
    bind = op.get_bind()
    columns = ['id', 'search_text', *COPIED]
    programs = sa.table('programs', *[sa.column(name) for name in columns])
    kept = ['term', 'program_id', *(COPIED if with_filters else [])]
    terms = sa.table('program_terms', *[sa.column(name) for name in kept])
    last = 0
    while True:  # bounded: every round moves `last` past BATCH more programs
        rows = bind.execute(sa.select(*programs.c).where(programs.c.id > last)
                            .order_by(programs.c.id).limit(BATCH)).mappings().all()
        if not rows:
            break
        values = [{'term': term, 'program_id': row['id'], **{name: row[name] for name in kept[2:]}}
                  for row in rows
                  for term in sorted({word[:TERM_LENGTH] for word in (row['search_text'] or '').split()})]
        if values:
            bind.execute(terms.insert(), values)
        last = rows[-1]['id']


def downgrade() -> None:
    op.drop_table('program_terms')
    op.create_table(
        'program_terms',
        sa.Column('term', _term(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_program_terms_program_id_programs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('term', 'program_id', name=op.f('pk_program_terms')),
    )
    op.create_index('ix_program_terms_program_id', 'program_terms', ['program_id'], unique=False)
    op.create_index('ix_program_terms_program_term', 'program_terms', ['program_id', 'term'], unique=False)
    _fill(with_filters=False)
