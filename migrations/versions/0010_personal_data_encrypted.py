"""children's personal data encrypted at rest; the SNILS's keyed hash is the child's identity

Name, birth date and SNILS move to `*_enc` columns (AES-GCM, core/pd.py) and the SNILS's
HMAC (`snils_hash`, unique) replaces the clear SNILS's uniqueness. Rows already there are
encrypted with the keys the bot loads (PD_KEY or the key file in the data folder, created
if missing), a few hundred per statement batch, then the clear columns are dropped. On
SQLite the table is rebuilt (batch mode) with secure_delete on, and env.py checkpoints
the write-ahead log after the upgrade, so the clear values leave the files too.

Dialogs in the middle of adding a child kept the answers in clear text in their state:
those states are dropped (the parent is shown the menu and starts the form again).

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-02 14:00:00
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0007'
branch_labels = None
depends_on = None

BATCH = 500

children = sa.table(
    'children',
    sa.column('id', sa.Integer()),
    sa.column('full_name', sa.String()),
    sa.column('birth_date', sa.Date()),
    sa.column('snils', sa.String()),
    sa.column('full_name_enc', sa.Text()),
    sa.column('birth_date_enc', sa.Text()),
    sa.column('snils_enc', sa.Text()),
    sa.column('snils_hash', sa.String()),
)
dialog_states = sa.table('dialog_states', sa.column('state', sa.JSON()))


def _ring():  # type: ignore[no-untyped-def]
    """The keys as the bot loads them (already loaded when the bot migrates at start)."""
    from core import pd

    ring = pd.configured()
    if ring is None:
        from bot.config import get_settings, load_pd_keys

        ring = load_pd_keys(get_settings(), op.get_bind().engine.url.render_as_string(hide_password=False))
    return ring


def _batches(bind, columns, where):  # type: ignore[no-untyped-def]
    last = 0
    while True:
        rows = bind.execute(sa.select(children.c.id, *columns).where(children.c.id > last, where)
                            .order_by(children.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table('children') as batch:
        batch.add_column(sa.Column('full_name_enc', sa.Text(), nullable=True))
        batch.add_column(sa.Column('birth_date_enc', sa.Text(), nullable=True))
        batch.add_column(sa.Column('snils_enc', sa.Text(), nullable=True))
        batch.add_column(sa.Column('snils_hash', sa.String(length=64), nullable=True))

    bind = op.get_bind()
    ring = None
    clear = sa.or_(children.c.full_name.is_not(None), children.c.birth_date.is_not(None),
                   children.c.snils.is_not(None))
    for rows in _batches(bind, [children.c.full_name, children.c.birth_date, children.c.snils], clear):
        ring = ring or _ring()
        for row in rows:
            birth = row.birth_date
            if isinstance(birth, str):   # SQLite hands a Date back as text through sa.table
                birth = dt.date.fromisoformat(birth)
            bind.execute(children.update().where(children.c.id == row.id).values(
                full_name_enc=None if row.full_name is None else ring.encrypt('children.full_name', row.full_name),
                birth_date_enc=None if birth is None else ring.encrypt('children.birth_date', birth.isoformat()),
                snils_enc=None if row.snils is None else ring.encrypt('children.snils', row.snils),
                snils_hash=None if row.snils is None else ring.snils_hash(row.snils)))

    with op.batch_alter_table('children') as batch:
        batch.drop_constraint('uq_children_snils', type_='unique')
        batch.drop_column('full_name')
        batch.drop_column('birth_date')
        batch.drop_column('snils')
        batch.create_unique_constraint(batch.f('uq_children_snils_hash'), ['snils_hash'])

    # Half-typed children in dialog states (the add-child steps are named "ch.…").
    bind.execute(dialog_states.delete().where(sa.cast(dialog_states.c.state, sa.Text).like('%"ch.%')))


def downgrade() -> None:
    with op.batch_alter_table('children') as batch:
        batch.add_column(sa.Column('full_name', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('birth_date', sa.Date(), nullable=True))
        batch.add_column(sa.Column('snils', sa.String(length=11), nullable=True))

    bind = op.get_bind()
    ring = None
    sealed = sa.or_(children.c.full_name_enc.is_not(None), children.c.birth_date_enc.is_not(None),
                    children.c.snils_enc.is_not(None))
    for rows in _batches(bind, [children.c.full_name_enc, children.c.birth_date_enc, children.c.snils_enc], sealed):
        ring = ring or _ring()

        def opened(field, token):  # type: ignore[no-untyped-def]
            return None if token is None else ring.decrypt(field, token)

        for row in rows:
            birth = opened('children.birth_date', row.birth_date_enc)
            bind.execute(children.update().where(children.c.id == row.id).values(
                full_name=opened('children.full_name', row.full_name_enc),
                birth_date=None if birth is None else dt.date.fromisoformat(birth),
                snils=opened('children.snils', row.snils_enc)))

    with op.batch_alter_table('children') as batch:
        batch.drop_constraint('uq_children_snils_hash', type_='unique')
        batch.drop_column('full_name_enc')
        batch.drop_column('birth_date_enc')
        batch.drop_column('snils_enc')
        batch.drop_column('snils_hash')
        batch.create_unique_constraint(batch.f('uq_children_snils'), ['snils'])
    bind.execute(dialog_states.delete().where(sa.cast(dialog_states.c.state, sa.Text).like('%"ch.%')))
