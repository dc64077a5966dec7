"""Children's personal data at rest (152-ФЗ, SPEC §1 "Children and certificates"): encrypted
in the database, never in its files or the log in clear text, truly erased by /forget, and
one child keeps one certificate, ever, found again by the keyed hash of the SNILS."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import pd
from core.db import Database
from core.models import Base, Certificate, Child, DialogState, LedgerEntry, LedgerKind
from core.pd_rotation import reencrypt, values_by_key
from tests.dialogs.kit import (
    SNILS_1,
    SNILS_2,
    DialogClient,
    add_nominal,
    add_program,
    children_of,
    count,
    make_dialogs,
)

MUNI = "Город Тест"
NAME = "Иванова Мария Петровна"
BIRTH = "05.03.2016"
# Everything a reader of the files must not find: the name, the birth date in both
# spellings, and the SNILS as 11 digits, as shown, and as often typed.
CLEAR = [NAME, "Иванова", "2016-03-05", "05.03.2016", "11223344595", "112-233-445 95", "112-233-44595"]


def file_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log (and rollback journal, if any)."""
    found = b""
    for suffix in ("", "-wal", "-journal"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            found += part.read_bytes()
    return found


def found_in(blob: bytes, needles: list[str]) -> list[str]:
    return [needle for needle in needles if needle.encode("utf-8") in blob]


@pytest.fixture
async def file_db(tmp_path):
    """A SQLite file, opened after DEBUG logging (SQL and its parameters) is switched on."""
    log_file = tmp_path / "bot.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    database.path = tmp_path / "bot.sqlite3"        # type: ignore[attr-defined]
    database.log_file = log_file                    # type: ignore[attr-defined]
    try:
        yield database
    finally:
        await database.dispose()
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


async def journey(db: Database, clock, user_id: str = "1", snils: str = SNILS_1) -> DialogClient:
    """Add a child and enroll them in a certificate-funded program."""
    program_id = await add_program(db, clock, title=f"Робототехника {user_id}", price=150_000)
    client = DialogClient(make_dialogs(db, clock), user_id=user_id)
    await client.start()
    await client.add_child(NAME, BIRTH, snils, MUNI)
    assert "Ребёнок добавлен" in client.text
    await client.send("/children")
    assert NAME in client.text                       # the parent still reads it
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванова Мария")
    await client.click("Подтвердить")
    assert "записана в программу" in client.text
    return client


async def forget(client: DialogClient) -> None:
    """/forget, confirmed (the one place that knows its buttons)."""
    await client.send("/forget")
    await client.click("Да, удалить")
    assert "удалены" in client.text


async def sealed_values(db: Database) -> list[str]:
    """Every encrypted value of the children and of the dialog states, as stored now."""
    async with db.read() as session:
        rows = (await session.execute(select(Child.full_name_enc, Child.birth_date_enc, Child.snils_enc))).all()
        states = (await session.execute(select(DialogState.state))).scalars().all()
    values = [value for row in rows for value in row if value]
    for state in states:
        values += [v for v in (state.get("data") or {}).values() if isinstance(v, str) and ":" in v]
    return values


async def test_after_a_journey_the_database_files_and_the_log_hold_no_childs_data(file_db, clock):
    await add_nominal(file_db, MUNI, 2026, 1_200_000)
    await journey(file_db, clock)
    [child] = await children_of(file_db)
    assert (child.full_name, child.snils) == (NAME, "11223344595")      # readable through core
    assert Path(f"{file_db.path}-wal").exists()                          # the log was checked too
    assert found_in(file_bytes(file_db.path), CLEAR) == []
    log_text = file_db.log_file.read_text(encoding="utf-8")
    assert "children" in log_text                                        # SQL was logged at DEBUG
    assert [clear for clear in CLEAR if clear in log_text] == []


async def test_after_forget_nothing_of_the_child_stays_in_the_files(file_db, clock):
    """secure_delete zeroes the erased values in the file and the checkpoint empties the log:
    not even the encrypted values (which the key would open) stay behind."""
    await add_nominal(file_db, MUNI, 2026, 1_200_000)
    client = DialogClient(make_dialogs(file_db, clock))
    await client.start()
    await client.send("/children")
    await client.click("Добавить ребёнка")
    drafts = []
    for answer in (NAME, BIRTH, SNILS_1):
        await client.send(answer)
        drafts += await sealed_values(file_db)
    await client.click(MUNI)
    await client.click("Сохранить")
    stored = await sealed_values(file_db)
    assert len(stored) == 3 and all(value.encode() in file_bytes(file_db.path) for value in stored)
    # Another family's child shares the page: the erased values' space is not simply dropped.
    other = DialogClient(client.dialogs, user_id="2")
    await other.start()
    await other.add_child("Петров Пётр Петрович", "01.02.2014", SNILS_2, MUNI)

    await forget(client)
    blob = file_bytes(file_db.path)
    assert Path(f"{file_db.path}-wal").stat().st_size == 0              # checkpointed and emptied
    assert found_in(blob, CLEAR) == []
    assert found_in(blob, sorted(set(stored + drafts))) == []
    async with file_db.read() as session:
        child = (await session.execute(select(Child).where(Child.forgotten_at.is_not(None)))).scalar_one()
    assert child.full_name is None and child.birth_date is None and child.snils is None
    assert child.snils_hash == pd.snils_hash("11223344595")              # the identity stays
    assert [clear for clear in CLEAR if clear in file_db.log_file.read_text(encoding="utf-8")] == []


async def test_forget_then_re_adding_the_same_snils_gives_the_same_certificate_and_no_second_credit(any_db, clock):
    db = any_db
    await add_nominal(db, MUNI, 2026, 1_200_000)
    first = await journey(db, clock)
    async with db.read() as session:
        number = (await session.execute(select(Certificate.number))).scalar_one()
    await forget(first)

    # The same SNILS comes back, this time from a parent on another account.
    again = DialogClient(first.dialogs, user_id="2")
    await again.start()
    await again.add_child("Иванова Мария Петровна", "05.03.2016", "112-233-44595", MUNI)
    assert "Ребёнок добавлен" in again.text
    assert f"№ {number}" in again.text                                   # /children: the same certificate
    second_program = await add_program(db, clock, title="Шахматы", price=100_000)
    await again.press(f"enr:start:{second_program}")
    await again.click("Иванова Мария")
    assert "будет выпущен" not in again.text
    await again.click("Подтвердить")
    assert "Выпущен сертификат" not in again.text
    async with db.read() as session:
        assert await count(db, Certificate) == 1 and await count(db, Child) == 1
        credits = (await session.execute(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.kind == LedgerKind.CREDIT))).scalar_one()
    assert credits == 1                                                  # never a second year's money
    [child] = await children_of(db, user_id="2")
    assert child.full_name == NAME and child.certificate.number == number


async def test_a_forgotten_childs_snils_can_be_added_by_the_same_account_again(db, clock):
    await add_nominal(db, MUNI, 2026, 1_200_000)
    first = await journey(db, clock)
    await forget(first)
    await first.start()
    await first.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, MUNI)
    assert "Ребёнок добавлен" in first.text and "Сертификат: №" in first.text
    assert await count(db, Certificate) == 1


async def test_key_rotation_in_batches_while_dialogs_run(db, clock, tmp_path):
    """`pd rotate-key` in another process: the key file gains a new primary key and the rows
    are re-encrypted a few at a time while parents keep adding children; the bot's ring
    notices the new key on its own."""
    await add_nominal(db, MUNI, 2026, 1_200_000)
    bot_ring = pd.load_keyring(key_dir=tmp_path)         # the bot's keys: a key file
    saved = pd.configured()
    pd.configure(bot_ring)
    try:
        old_key = bot_ring.primary_id
        dialogs = make_dialogs(db, clock)
        snils = [f"{n:09d}" for n in range(300_000_001, 300_000_025)]
        from core.snils import control_number

        snils = [first + f"{control_number(first):02d}" for first in snils]

        async def parent(n: int) -> None:
            client = DialogClient(dialogs, user_id=f"p{n}")
            await client.start()
            await client.add_child(f"Ребёнков Ребёнок {chr(0x410 + n)}", "01.02.2015", snils[n], MUNI)
            assert "Ребёнок добавлен" in client.text, client.text
            await client.send("/children")
            assert f"Ребёнков Ребёнок {chr(0x410 + n)}" in client.text

        for n in range(8):                                # before the rotation
            await parent(n)
        assert await values_by_key(db) == {old_key: 24}

        rotator = pd.load_keyring(key_dir=tmp_path)       # the rotating process's own ring
        new_key = pd.add_primary_key(rotator)
        rotation, _ = await asyncio.gather(reencrypt(db, rotator, batch=3, pause=0.001),
                                           asyncio.gather(*(parent(n) for n in range(8, 20))))
        assert rotation.batches >= 3 and rotation.rows >= 8
        assert bot_ring.primary_id == new_key              # the bot re-read the key file
        assert await values_by_key(db) == {new_key: 60}    # nothing is left under the old key
        for n in range(20):
            [child] = await children_of(db, user_id=f"p{n}")
            assert child.full_name == f"Ребёнков Ребёнок {chr(0x410 + n)}" and child.snils == snils[n]
        assert old_key in bot_ring.key_ids()               # old values (backups) still readable
    finally:
        pd.configure(saved)


async def test_a_snils_typed_by_two_parents_at_once_gives_one_child(db, clock):
    """Both were let past the SNILS question; the second to save is refused at the save."""
    await add_nominal(db, MUNI, 2026, 1_200_000)
    one = DialogClient(make_dialogs(db, clock), user_id="1")
    two = DialogClient(one.dialogs, user_id="2")
    await one.start()
    await two.start()
    for client in (one, two):
        await client.send("/children")
        await client.click("Добавить ребёнка")
        await client.send(NAME)
        await client.send(BIRTH)
        await client.send(SNILS_2)
        await client.click(MUNI)
    await one.click("Сохранить")
    await two.click("Сохранить")
    assert "Ребёнок добавлен" in one.text and "уже указан в боте" in two.text
    assert await count(db, Child) == 1
