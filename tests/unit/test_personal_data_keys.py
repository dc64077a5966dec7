"""Encryption at rest (core/pd.py): AES-GCM values carrying their key's id, the key ring
from PD_KEY or from a key file made on first run, the SNILS's keyed hash, and migration
0010 encrypting what an older database held in clear text."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import stat

import pytest
from sqlalchemy import text

from core import pd
from core.db import Database


def ring() -> pd.KeyRing:
    return pd.KeyRing(keys=[pd.new_key()], index_key=pd.new_key())


def test_encrypt_decrypt_round_trip_and_each_value_carries_its_key_id():
    keys = ring()
    for clear in ("Иванова Мария Петровна", "2016-03-05", "11223344595", "", "ё" * 150):
        token = keys.encrypt("children.full_name", clear)
        assert token.startswith(keys.primary_id + ":") and (not clear or clear.encode() not in token.encode())
        assert keys.decrypt("children.full_name", token) == clear
    # A fresh nonce each time: equal names do not give equal values.
    assert keys.encrypt("f", "Иванов Иван") != keys.encrypt("f", "Иванов Иван")


def test_a_value_opens_only_in_its_own_field_and_with_its_own_key():
    keys, other = ring(), ring()
    token = keys.encrypt("children.snils", "11223344595")
    with pytest.raises(pd.KeyProblem):
        keys.decrypt("children.full_name", token)      # copied into another column
    with pytest.raises(pd.KeyProblem):
        other.decrypt("children.snils", token)         # another key ring
    with pytest.raises(pd.KeyProblem):
        keys.decrypt("children.snils", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))  # tampered


def test_old_keys_still_decrypt_and_new_values_use_the_primary():
    old, new = pd.new_key(), pd.new_key()
    before = pd.KeyRing(keys=[old], index_key=pd.new_key())
    token = before.encrypt("f", "Петров Пётр")
    after = pd.load_keyring(key=pd.encode_key(new), old_keys=pd.encode_key(old),
                            index_key=pd.encode_key(before.index_key), key_dir=".")
    assert after.decrypt("f", token) == "Петров Пётр"
    assert pd.token_key_id(after.encrypt("f", "x")) == pd.key_id(new) != pd.key_id(old)


def test_a_key_ring_never_shows_its_keys():
    keys = ring()
    shown = repr(keys)
    assert keys.primary_id in shown and all(pd.encode_key(k) not in shown and repr(k) not in shown for k in (*keys.keys, keys.index_key))


def test_the_snils_hash_is_keyed_stable_and_not_the_snils():
    keys = ring()
    assert keys.snils_hash("11223344595") == keys.snils_hash("11223344595")
    assert keys.snils_hash("11223344595") != ring().snils_hash("11223344595")
    assert "11223344595" not in keys.snils_hash("11223344595") and len(keys.snils_hash("1" * 11)) == 64


def test_without_pd_key_a_key_file_is_made_on_first_run_with_mode_0600(tmp_path):
    first = pd.load_keyring(key_dir=tmp_path)
    path = tmp_path / pd.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = pd.load_keyring(key_dir=tmp_path)            # the next start reads the same keys
    assert again.primary_id == first.primary_id and again.index_key == first.index_key
    assert again.decrypt("f", first.encrypt("f", "Сидоров Олег")) == "Сидоров Олег"


def test_a_new_primary_key_keeps_the_old_one_and_the_index_key(tmp_path):
    keys = pd.load_keyring(key_dir=tmp_path)
    token, index = keys.encrypt("f", "Иванов Иван"), keys.snils_hash("11223344595")
    other_process = pd.load_keyring(key_dir=tmp_path)
    new_id = pd.add_primary_key(other_process)
    assert keys.decrypt("f", token) == "Иванов Иван"
    assert pd.token_key_id(keys.encrypt("f", "x")) == new_id     # noticed the changed file
    assert keys.snils_hash("11223344595") == index
    assert stat.S_IMODE((tmp_path / pd.KEY_FILE).stat().st_mode) == 0o600


def test_pd_key_wins_over_the_key_file_and_bad_keys_are_refused_clearly(tmp_path):
    key = pd.new_key()
    keys = pd.load_keyring(key=pd.encode_key(key), key_dir=tmp_path)
    assert keys.primary_id == pd.key_id(key) and not (tmp_path / pd.KEY_FILE).exists()
    assert keys.index_key == pd.derive_index_key(key)
    with pytest.raises(pd.KeyProblem, match="32 bytes"):
        pd.load_keyring(key=pd.encode_key(b"short"), key_dir=tmp_path)
    with pytest.raises(pd.KeyProblem, match="base64"):
        pd.load_keyring(key="not a key!", key_dir=tmp_path)
    with pytest.raises(pd.KeyProblem, match="PD_INDEX_KEY"):
        # The derived index key would change with PD_KEY and lose every forgotten child.
        pd.load_keyring(key=pd.encode_key(key), old_keys=pd.encode_key(pd.new_key()), key_dir=tmp_path)


def test_the_settings_load_the_ring_the_bot_uses(tmp_path, monkeypatch):
    from bot.config import Settings, load_pd_keys

    key, index = pd.new_key(), pd.new_key()
    settings = Settings(_env_file=None, pd_key=pd.encode_key(key), pd_index_key=pd.encode_key(index),
                        pd_old_keys="", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3")
    keys = load_pd_keys(settings)
    assert keys.primary_id == pd.key_id(key) and keys.index_key == index
    monkeypatch.delenv("PD_KEY")
    monkeypatch.delenv("PD_INDEX_KEY")
    from_file = load_pd_keys(Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/db/x.sqlite3"))
    assert from_file.path == (tmp_path / "db" / pd.KEY_FILE).resolve()   # beside the database


async def test_sqlite_connections_zero_deleted_content(db):
    """secure_delete on every connection (some SQLite builds have it on by default, others not)."""
    async with db.read() as session:
        assert (await session.execute(text("PRAGMA secure_delete"))).scalar() == 1


async def test_migration_0010_encrypts_clear_children_and_leaves_no_clear_copy_in_the_file(tmp_path):
    from alembic import command

    from bot.migrate import alembic_config, upgrade
    from tests.dialogs.kit import children_of

    url = f"sqlite+aiosqlite:///{tmp_path}/old.sqlite3"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0006")
    db = Database(url)
    async with db.write() as session:
        now = dt.datetime(2026, 11, 1).isoformat(" ")
        await session.execute(text("INSERT INTO municipalities (id, name) VALUES (1, 'Город Тест')"))
        await session.execute(text(
            "INSERT INTO parents (id, platform, external_id, consent_at, created_at) "
            "VALUES (1, 'test', '1', :now, :now)"), {"now": now})
        await session.execute(text(
            "INSERT INTO children (parent_id, full_name, birth_date, snils, snils_confirmed, municipality_id, "
            "created_at) VALUES (1, 'Иванова Мария Петровна', '2016-03-05', '11223344595', 1, 1, :now)"),
            {"now": now})
        # A row referring to the child: the migration rebuilds `children` with it in place.
        await session.execute(text(
            "INSERT INTO certificates (child_id, number, status, issued_at, valid_until) "
            "VALUES (1, '1234567890', 'funded', :now, '2034-03-04')"), {"now": now})
        await session.execute(text(
            "INSERT INTO dialog_states (platform, user_id, state, updated_at) VALUES "
            "('test', '1', '{\"step\": \"ch.snils\", \"data\": {\"name\": \"Петров Пётр\"}}', :now)"),
            {"now": now})
    await db.dispose()
    await asyncio.to_thread(upgrade, url)
    [child] = await children_of(db)
    assert (child.full_name, child.birth_date, child.snils) == ("Иванова Мария Петровна", dt.date(2016, 3, 5),
                                                              "11223344595")
    assert child.snils_hash == pd.snils_hash("11223344595")
    await db.dispose()
    blob = b"".join(open(f"{tmp_path}/old.sqlite3{s}", "rb").read()
                    for s in ("", "-wal") if os.path.exists(f"{tmp_path}/old.sqlite3{s}"))
    for clear in ("Иванова", "2016-03-05", "11223344595", "Петров"):
        assert clear.encode() not in blob, clear
    # And back: the downgrade decrypts into the old columns.
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0006")
    async with db.read() as session:
        row = (await session.execute(text("SELECT full_name, birth_date, snils FROM children"))).one()
    assert tuple(row) == ("Иванова Мария Петровна", "2016-03-05", "11223344595")
    await db.dispose()
