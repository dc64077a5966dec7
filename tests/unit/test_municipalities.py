"""SPEC §1 "Municipalities are a registry kept by the operator" and §2 `municipality`,
`set-nominal`, `import-programs --new-municipalities`: a typo never creates a town."""
from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import cli
from bot.config import get_settings
from core import municipalities
from core.catalog import SearchFilters, list_municipalities, search
from core.certificates import set_nominal
from core.demo import seed_demo
from core.demo_catalog import NOMINALS
from core.errors import DomainError
from core.importer import COLUMNS, ImportRejected, import_rows
from core.models import Child, Municipality, Nominal, Program, ProgramTerm, Subscription, Unit
from core.subscriptions import create_subscription
from tests import factories

TOWN, TYPO = "г. Пятигорск", "Пятигорск"


def program_row(external_id: str, town: str = TOWN, title: str = "Шахматный клуб") -> dict[str, str]:
    return {
        "external_id": external_id, "title": title, "provider": "МБУ ДО «ЦДТ»", "provider_kind": "municipal",
        "municipality": town, "category": "social", "age_min": "7", "age_max": "12",
        "price_per_month": "2500", "hours_per_month": "8", "start_date": "2026-09-01",
        "end_date": "2027-05-31", "address": "ул. Ленина, 1", "schedule": "Пн 16:00", "seats": "10",
        "funding": "certificate", "description": "",
    }


# --- the operator's command line, run in this process ---------------------------------

class Operator:
    """`python -m bot …` through bot.cli.main against a database file of its own."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
        self.path = tmp_path / "registry.sqlite3"
        self.capsys = capsys
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{self.path}")
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
        monkeypatch.setenv("VK_GROUP_TOKEN", "")
        get_settings.cache_clear()

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, err
        return out

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql).fetchall()

    def towns(self) -> list[str]:
        return [name for (name,) in self.rows("SELECT name FROM municipalities ORDER BY name")]

    def csv(self, tmp_path: Path, *rows: dict[str, str]) -> str:
        path = tmp_path / "programs.csv"
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(COLUMNS)
            writer.writerows([row.get(column, "") for column in COLUMNS] for row in rows)
        return str(path)


@pytest.fixture
def operator(tmp_path, monkeypatch, capsys):
    yield Operator(tmp_path, monkeypatch, capsys)
    get_settings.cache_clear()


def test_set_nominal_never_creates_a_municipality(operator):
    operator.ok("municipality", "add", TOWN)
    code, _, err = operator("set-nominal", TYPO, "2026", "12000")
    assert code != 0
    assert f"«{TYPO}»" in err and f"did you mean «{TOWN}»" in err and "Traceback" not in err
    assert operator.towns() == [TOWN]
    assert operator.rows("SELECT count(*) FROM nominals") == [(0,)]


def test_set_nominal_with_nothing_close_says_how_to_register(operator):
    operator.ok("municipality", "add", TOWN)
    code, _, err = operator("set-nominal", "г. Москва", "2026", "12000")
    assert code != 0 and "municipality add" in err and "did you mean" not in err
    assert operator.towns() == [TOWN]


def test_set_nominal_of_a_registered_municipality(operator):
    operator.ok("municipality", "add", TOWN)
    assert "12000.00 ₽" in operator.ok("set-nominal", TOWN, "2026", "12000")
    assert operator.rows("SELECT year, amount FROM nominals") == [(2026, 1_200_000)]


def test_municipality_add_registers_a_name_once(operator):
    operator.ok("municipality", "add", "  г.  Пятигорск ")
    for again in (TOWN, "Г. ПЯТИГОРСК"):
        code, _, err = operator("municipality", "add", again)
        assert code != 0 and f"«{TOWN}» is already registered" in err
    assert operator.towns() == [TOWN]


def test_municipality_add_of_a_look_alike_name_points_at_the_registered_one(operator):
    operator.ok("municipality", "add", TOWN)
    out = operator.ok("municipality", "add", TYPO)
    assert f"«{TOWN}» is registered too" in out and "--merge" in out


def test_municipality_list_shows_programs_children_and_nominal_years(operator, tmp_path):
    operator.ok("municipality", "add", TOWN)
    operator.ok("municipality", "add", "г. Абакан")
    operator.ok("import-programs", operator.csv(tmp_path, program_row("A"), program_row("B")))
    operator.ok("set-nominal", TOWN, "2026", "12000")
    operator.ok("set-nominal", TOWN, "2027", "13000")
    lines = operator.ok("municipality", "list").splitlines()
    assert lines == [
        "г. Абакан: 0 program(s), 0 child(ren), 0 subscription(s); nominals: none",
        "г. Пятигорск: 2 program(s), 0 child(ren), 0 subscription(s); nominals: 2026, 2027",
    ]


def test_rename_fixes_a_typo(operator):
    operator.ok("municipality", "add", "г. Пятигорк")
    operator.ok("set-nominal", "г. Пятигорк", "2026", "12000")
    assert "renamed" in operator.ok("municipality", "rename", "г. Пятигорк", TOWN)
    assert operator.towns() == [TOWN]
    assert operator.rows("SELECT m.name FROM nominals n JOIN municipalities m ON m.id = n.municipality_id") \
        == [(TOWN,)]


@pytest.mark.parametrize("args, message", [
    (("rename", TYPO, TOWN), "--merge"),                       # NEW exists: merging must be asked for
    (("rename", "Пятигорскк", "г. Ессентуки"), f"did you mean «{TYPO}»"),   # OLD is unknown
    (("rename", TYPO, TYPO), "already has that name"),
    (("rename", TYPO, "г. пятигорск"), f"«{TOWN}» is already registered"),  # only the case differs
    (("rename", TYPO, " "), "empty or too long"),
])
def test_a_refused_rename_says_why_and_changes_nothing(operator, args, message):
    operator.ok("municipality", "add", TOWN)
    operator.ok("municipality", "add", TYPO)
    operator.ok("set-nominal", TYPO, "2026", "12000")
    code, _, err = operator("municipality", *args)
    assert code != 0 and message in err and "Traceback" not in err
    assert operator.towns() == sorted([TOWN, TYPO])
    assert operator.rows("SELECT count(*) FROM nominals") == [(1,)]


def test_merge_with_different_nominals_for_a_year_is_refused(operator):
    operator.ok("municipality", "add", TOWN)
    operator.ok("municipality", "add", TYPO)
    operator.ok("set-nominal", TOWN, "2026", "15000")
    operator.ok("set-nominal", TYPO, "2026", "12000")
    code, _, err = operator("municipality", "rename", TYPO, TOWN, "--merge")
    assert code != 0 and "different nominals for 2026" in err
    assert operator.towns() == sorted([TOWN, TYPO])
    assert sorted(operator.rows("SELECT amount FROM nominals")) == [(1_200_000,), (1_500_000,)]


def test_merge_on_the_command_line_reports_what_moved(operator, tmp_path):
    operator.ok("municipality", "add", TOWN)
    operator.ok("municipality", "add", TYPO)
    operator.ok("import-programs", operator.csv(tmp_path, program_row("A", TYPO)))
    out = operator.ok("municipality", "rename", TYPO, TOWN, "--merge")
    assert f"merged «{TYPO}» into «{TOWN}»" in out and "1 program(s)" in out
    assert operator.towns() == [TOWN]


def test_import_refuses_unregistered_municipality_naming_the_closest(operator, tmp_path):
    operator.ok("municipality", "add", TOWN)
    path = operator.csv(tmp_path, program_row("A"), program_row("B", TYPO),
                        {**program_row("C", "г. Москва"), "age_min": "3"}, program_row("D", TYPO))
    code, _, err = operator("import-programs", path)
    assert code == 1
    assert f"line 3: municipality '{TYPO}' is not registered; did you mean '{TOWN}'?" in err
    assert "line 4: age_min 3 is below 5; municipality 'г. Москва' is not registered" in err
    assert f"line 5: municipality '{TYPO}'" in err and "line 2" not in err
    assert "--new-municipalities" in err
    assert operator.rows("SELECT count(*) FROM programs") == [(0,)]   # all or nothing
    assert operator.towns() == [TOWN]


def test_import_with_new_municipalities_registers_them(operator, tmp_path):
    path = operator.csv(tmp_path, program_row("A"), program_row("B", "г. Абакан"), program_row("C"))
    assert "3 new" in operator.ok("import-programs", path, "--new-municipalities")
    assert operator.towns() == sorted([TOWN, "г. Абакан"])
    assert operator.rows("SELECT count(*) FROM programs") == [(3,)]


def test_import_with_new_municipalities_still_refuses_a_bad_file_whole(operator, tmp_path):
    path = operator.csv(tmp_path, program_row("A"), {**program_row("B", "г. Абакан"), "seats": "-1"})
    code, _, err = operator("import-programs", path, "--new-municipalities")
    assert code == 1 and "line 3: seats -1 is negative" in err
    assert operator.towns() == [] and operator.rows("SELECT count(*) FROM programs") == [(0,)]


# --- the registry in core, on SQLite and PostgreSQL ---------------------------------

async def test_rename_merge_moves_programs_children_and_nominals(any_db, clock):
    await import_rows(any_db, [program_row("A", TYPO, "Шахматный клуб")], clock, new_municipalities=True)
    async with any_db.write() as session:
        target = await municipalities.register(session, TOWN)
        await factories.nominal(session, 2026, rubles=12000, town=TOWN)
        await factories.nominal(session, 2026, rubles=12000, town=TYPO)     # the same: one is kept
        await factories.nominal(session, 2027, rubles=13000, town=TYPO)     # only there: moves
        parent = await factories.parent(session, clock)
        child = await factories.child(session, parent, clock, town=TYPO)
        typo_id = (await municipalities.find(session, TYPO)).id
        subscription = await create_subscription(session, parent, municipality_id=typo_id, categories=[],
                                                 age=None, certificate_only=False, clock=clock)
        child_id, subscription_id, target_id = child.id, subscription.id, target.id
    async with any_db.write() as session:
        done = await municipalities.rename(session, TYPO, TOWN, merge=True)
    assert done.merged and (done.programs, done.children, done.subscriptions, done.nominals) == (1, 1, 1, 2)
    async with any_db.read() as session:
        assert [m.name for m in await list_municipalities(session)] == [TOWN]
        assert (await session.get(Child, child_id)).municipality_id == target_id
        assert (await session.get(Subscription, subscription_id)).municipality_id == target_id
        assert set((await session.execute(select(Program.municipality_id))).scalars()) == {target_id}
        assert set((await session.execute(select(ProgramTerm.municipality_id))).scalars()) == {target_id}
        nominals = (await session.execute(select(Nominal.year, Nominal.amount, Nominal.municipality_id)
                                          .order_by(Nominal.year))).all()
        assert [tuple(n) for n in nominals] == [(2026, 1_200_000, target_id), (2027, 1_300_000, target_id)]
        # The word index moved with the program: a worded search in the right town finds it.
        found = await search(session, SearchFilters(municipality_id=target_id, words="шахмат"), clock=clock)
        assert [p.title for p in found.items] == ["Шахматный клуб"]


async def test_a_refused_merge_writes_nothing(any_db, clock):
    await import_rows(any_db, [program_row("A", TYPO)], clock, new_municipalities=True)
    async with any_db.write() as session:
        await municipalities.register(session, TOWN)
        await factories.nominal(session, 2026, rubles=15000, town=TOWN)
        await factories.nominal(session, 2026, hours=72, town=TYPO)     # same year, another unit
    with pytest.raises(DomainError) as refusal:
        async with any_db.write() as session:
            await municipalities.rename(session, TYPO, TOWN, merge=True)
    assert refusal.value.reason == "municipality_nominals_differ" and refusal.value.details["years"] == "2026"
    async with any_db.read() as session:
        assert sorted(await municipalities.names(session)) == sorted([TOWN, TYPO])
        typo = await municipalities.find(session, TYPO)
        assert (await session.execute(select(Program.municipality_id))).scalar_one() == typo.id


async def test_core_set_nominal_refuses_an_unknown_name_with_the_closest(db):
    async with db.write() as session:
        await municipalities.register(session, TOWN)
    with pytest.raises(DomainError) as refusal:
        async with db.write() as session:
            await set_nominal(session, TYPO, 2026, 100, Unit.RUB)
    assert refusal.value.reason == "municipality_unknown"
    assert refusal.value.details == {"name": TYPO, "closest": TOWN}
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Municipality))).scalar_one() == 1


async def test_import_rows_refuse_an_unknown_municipality_and_write_nothing(db, clock):
    async with db.write() as session:
        await municipalities.register(session, TOWN)
    with pytest.raises(ImportRejected) as refusal:
        await import_rows(db, [program_row("A"), program_row("B", "Пятигорскъ")], clock)
    assert [(p.line, p.reason) for p in refusal.value.problems] == [
        (2, f"municipality 'Пятигорскъ' is not registered; did you mean '{TOWN}'?")]
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Program))).scalar_one() == 0


async def test_seed_demo_registers_its_own_municipalities(db, clock):
    await seed_demo(db, clock)
    async with db.read() as session:
        assert sorted(await municipalities.names(session)) == sorted(name for name, _, _ in NOMINALS)


@pytest.mark.parametrize("typed, expected", [
    (TYPO, TOWN), ("г.Пятигорск", TOWN), ("Г. ПЯТИГОРСК", TOWN), ("Абакан", "г. Абакан"),
    ("Шпаковский округ", "Шпаковский муниципальный округ"), ("г. Москва", None),
])
def test_the_closest_registered_name_is_offered_only_when_it_is_close(typed, expected):
    registered = [TOWN, "Шпаковский муниципальный округ", "г. Абакан", "г. Ессентуки"]
    assert municipalities.closest_name(typed, registered) == expected


def test_nothing_is_offered_from_an_empty_registry():
    assert municipalities.closest_name(TYPO, []) is None


REFUSALS = {
    "municipality_unknown": {"name": TYPO, "closest": TOWN},
    "municipality_exists": {"name": "г. пятигорск", "existing": TOWN},
    "municipality_same_name": {"name": TOWN},
    "municipality_merge_needed": {"old": TYPO, "new": TOWN},
    "municipality_nominals_differ": {"old": TYPO, "new": TOWN, "years": "2026"},
}


@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_every_registry_refusal_has_an_operator_message_and_a_russian_sentence(reason):
    from bot.dialogs import texts
    from bot.operator_texts import describe

    error = DomainError(reason, **REFUSALS[reason])
    assert not describe(error).startswith(reason) and "{" not in describe(error)
    sentence = texts.refusal(error)
    assert sentence != texts.REFUSAL_FALLBACK and "{" not in sentence and sentence.endswith(".")
