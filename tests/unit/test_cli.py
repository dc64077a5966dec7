"""SPEC §2 Command line: migrate and set-nominal as an operator runs them."""
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bot(tmp_path, *args, env=None):
    environment = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3",
                   "TELEGRAM_BOT_TOKEN": "", "VK_GROUP_TOKEN": "", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path):
    for _ in range(2):
        done = bot(tmp_path, "migrate")
        assert done.returncode == 0, done.stderr
    tables = {row[0] for row in sqlite3.connect(tmp_path / "cli.sqlite3").execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"certificates", "ledger_entries", "programs", "enrollments", "alembic_version"} <= tables


def test_set_nominal_in_rubles_and_hours(tmp_path):
    for town in ("г. Пятигорск", "г. Абакан"):
        assert bot(tmp_path, "municipality", "add", town).returncode == 0
    assert bot(tmp_path, "set-nominal", "г. Пятигорск", "2026", "12000.50").returncode == 0
    assert bot(tmp_path, "set-nominal", "г. Абакан", "2026", "72", "--hours").returncode == 0
    assert bot(tmp_path, "set-nominal", "г. Пятигорск", "2026", "15000").returncode == 0   # corrected
    rows = sqlite3.connect(tmp_path / "cli.sqlite3").execute(
        "SELECT m.name, n.year, n.amount, n.unit FROM nominals n JOIN municipalities m "
        "ON m.id = n.municipality_id ORDER BY m.name").fetchall()
    assert rows == [("г. Абакан", 2026, 72, "hours"), ("г. Пятигорск", 2026, 1500000, "rub")]


@pytest.mark.parametrize("args, message", [
    (("set-nominal", "г. Пятигорск", "2026", "-5"), "positive"),
    (("set-nominal", "г. Пятигорск", "2026", "12.345"), "two decimals"),
    (("set-nominal", "г. Пятигорск", "2026", "7.5", "--hours"), "whole number"),
    (("set-nominal", "г. Пятигорск", "1999", "100"), "year"),
    (("set-nominal", "г. Пятигорск", "2026", "много"), "not a number"),
    (("jobs", "run", "settle-month", "--at", "31.02.2026"), "YYYY-MM-DD"),
])
def test_bad_operator_input_is_a_clear_message_not_a_traceback(tmp_path, args, message):
    done = bot(tmp_path, *args)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr + done.stdout


def test_pd_rotate_key_re_encrypts_every_value_under_a_new_key_in_the_key_file(tmp_path):
    from core import pd

    no_keys = {"PD_KEY": "", "PD_INDEX_KEY": "", "PD_OLD_KEYS": ""}
    assert bot(tmp_path, "migrate", env=no_keys).returncode == 0
    key_file = tmp_path / pd.KEY_FILE                 # made on first run, beside the database
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    ring = pd.load_keyring(key_dir=tmp_path)
    old_id = ring.primary_id
    db = sqlite3.connect(tmp_path / "cli.sqlite3")
    db.execute("INSERT INTO municipalities (id, name) VALUES (1, 'Город')")
    db.execute("INSERT INTO parents (id, platform, external_id, created_at) VALUES (1, 't', '1', '2026-11-01')")
    for n in range(3):
        db.execute("INSERT INTO children (parent_id, full_name_enc, birth_date_enc, snils_enc, snils_hash, "
                   "snils_confirmed, municipality_id, created_at) VALUES (1, ?, ?, ?, ?, 1, 1, '2026-11-01')",
                   (ring.encrypt("children.full_name", f"Иванов Иван {n}"),
                    ring.encrypt("children.birth_date", "2016-03-05"),
                    ring.encrypt("children.snils", f"1122334459{n}"), ring.snils_hash(f"1122334459{n}")))
    db.commit()
    done = bot(tmp_path, "pd", "rotate-key", "--batch", "2", env=no_keys)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 3 row(s) in 2 batch(es)" in done.stdout
    shown = bot(tmp_path, "pd", "keys", env=no_keys).stdout
    ring.refresh()
    assert ring.primary_id != old_id
    assert f"key {ring.primary_id} (primary): 9 value(s)" in shown and f"key {old_id} (old): 0 value(s)" in shown
    names = [ring.decrypt("children.full_name", value) for (value,) in db.execute(
        "SELECT full_name_enc FROM children ORDER BY id")]
    assert names == ["Иванов Иван 0", "Иванов Иван 1", "Иванов Иван 2"]
    bad = bot(tmp_path, "pd", "keys", env={"PD_KEY": "not a key!"})
    assert bad.returncode != 0 and "PD_KEY" in bad.stderr and "Traceback" not in bad.stderr
