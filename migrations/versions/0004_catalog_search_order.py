"""catalog search: probe a program's words, walk programs by title

/find spent 100-350 ms per search on 100 000 programs counting and sorting
every match (bench/, benchmark 4). The search now probes a program's own
stems (ix_program_terms_program_term: program_id, term), reads a broad search
page by page in title order (ix_programs_title, holding the filter columns
too), and on PostgreSQL reads a program's filter columns and title by id
from an index alone (ix_programs_id_covering). Titles are ordered by code
point on both databases: PostgreSQL's index is COLLATE "C", as SQLite's
BINARY is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 21:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

FILTERS = ['end_date', 'municipality_id', 'category', 'age_min', 'age_max', 'funding']


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.create_index('ix_program_terms_program_term', 'program_terms', ['program_id', 'term'], unique=False)
    title = sa.text('title COLLATE "C"') if postgresql else 'title'
    op.create_index('ix_programs_title', 'programs', [title, 'id', *FILTERS], unique=False)
    if postgresql:
        op.create_index('ix_programs_id_covering', 'programs', ['id'], unique=False,
                        postgresql_include=[*FILTERS, 'title'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_programs_id_covering', table_name='programs')
    op.drop_index('ix_programs_title', table_name='programs')
    op.drop_index('ix_program_terms_program_term', table_name='program_terms')
