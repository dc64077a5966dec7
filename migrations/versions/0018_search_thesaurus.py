"""catalog search: the thesaurus's groups in the word index, and the index's change counter

/find finds a program by a synonym of its title (core/thesaurus_data.py) through a marker
stored with its words ("~<the group's first entry>"), and a word with one typo through
the index's distinct words, which each bot process holds in memory and reads again when
search_state.words has moved on (every write to the index moves it). This adds
search_state and marks the programs already there, from the thesaurus as it is now;
later changes to it reach them with the next import of the catalog.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-02 18:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0015'
branch_labels = None
depends_on = None

BATCH = 2000
MARKER = '~'
COPIED = ['title', 'municipality_id', 'category', 'funding', 'age_min', 'age_max', 'end_date']


def upgrade() -> None:
    op.create_table('search_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('words', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_state'))
    )
    op.get_bind().execute(sa.text("INSERT INTO search_state (id, words) VALUES (1, 0)"))
    from core.thesaurus import markers_of   # the thesaurus as it is when this runs

    _rewrite(lambda row: markers_of(row['title'], row['provider']))


def _rewrite(markers_of_row) -> None:  # type: ignore[no-untyped-def]
    """Each program's markers set to markers_of_row(program), in search_text and program_terms."""
    bind = op.get_bind()
    programs = sa.table('programs', *[sa.column(name) for name in ('id', 'provider', 'search_text', *COPIED)])
    terms = sa.table('program_terms', *[sa.column(name) for name in ('term', 'program_id', *COPIED)])
    last = 0
    while True:  # bounded: every round moves `last` past BATCH more programs
        rows = bind.execute(sa.select(*programs.c).where(programs.c.id > last)
                            .order_by(programs.c.id).limit(BATCH)).mappings().all()
        if not rows:
            break
        ids = [row['id'] for row in rows]
        bind.execute(terms.delete().where(terms.c.program_id.in_(ids), terms.c.term.like(MARKER + '%')))
        values = []
        for row in rows:
            stems = [term for term in (row['search_text'] or '').split() if not term.startswith(MARKER)]
            markers = list(markers_of_row(row))
            text = ''.join(f' {term}' for term in stems + markers)
            text = text + ' ' if text else ''
            if text != row['search_text']:
                bind.execute(programs.update().where(programs.c.id == row['id']).values(search_text=text))
            values += [{'term': marker, 'program_id': row['id'], **{name: row[name] for name in COPIED}}
                       for marker in markers]
        if values:
            bind.execute(terms.insert(), values)
        last = rows[-1]['id']


def downgrade() -> None:
    _rewrite(lambda row: [])
    op.drop_table('search_state')
