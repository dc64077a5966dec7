"""Texts that fit the child and the certificate (issue 14): the child's grammatical
gender from the patronymic, program titles after a noun in quotes that never nest,
amounts only in the certificate's unit, no leftovers such as «Фильтры: без фильтров»,
and an unknown command answered with every command there is."""
from __future__ import annotations

import re
from typing import Any

import pytest

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.find import price_text
from bot.dialogs.format import Gender
from bot.dialogs.screen import COMMANDS
from core.models import Funding, Program, Unit
from tests.dialogs.kit import SNILS_1, SNILS_2, DialogClient, add_nominal, add_program, make_dialogs

MONEY_WORDS = re.compile(r"деньг|денег|₽", re.IGNORECASE)
HOURS_AMOUNT = re.compile(r"\d ч\b")
SLASHED = ("(а)", "(на)", "(ы)")
NESTED = ("««", "»»", "«{title}»")


# --- the gender rule ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["Иванов Пётр Сергеевич", "Петров Пётр Иванович", "Кузнецов Лев Ильич",
                                  "Сидоров Олег Фомич", "Мамедов Рашид Ильхам оглы", "ИВАНОВ ИВАН ИВАНОВИЧ"])
def test_a_male_patronymic_makes_a_boy(name):
    assert fmt.gender_of(name) is Gender.MALE


@pytest.mark.parametrize("name", ["Иванова Мария Петровна", "Сидорова Анна Сергеевна", "Орлова Вера Ильинична",
                                  "Лукина Ольга Никитична", "Алиева Арзу Лутфияр кызы"])
def test_a_female_patronymic_makes_a_girl(name):
    assert fmt.gender_of(name) is Gender.FEMALE


@pytest.mark.parametrize("name", ["Петров Пётр", "Иванова Мария", "Smith John", "", None])
def test_no_patronymic_means_a_wording_without_gender(name):
    assert fmt.gender_of(name) is Gender.UNKNOWN
    variants = {Gender.MALE: "он", Gender.FEMALE: "она", Gender.UNKNOWN: "ребёнок"}
    assert fmt.for_child(variants, name) == "ребёнок"


def test_each_gendered_text_has_all_three_wordings():
    gendered = {name: value for name, value in vars(texts).items()
                if isinstance(value, dict) and set(value) & set(Gender)}
    assert {"ENROLLED", "MYDATA_ADDED", "MYDATA_ENROLLED"} <= gendered.keys()
    for name, variants in gendered.items():
        assert set(variants) == set(Gender), name


# --- quotes ----------------------------------------------------------------------------

@pytest.mark.parametrize("title, shown", [
    ("Школа вожатых", "«Школа вожатых»"),
    ("«Школа вожатых»", "«Школа вожатых»"),            # already quoted: not wrapped again
    ('"Школа вожатых"', "«Школа вожатых»"),
    ("Студия «Арт»", "«Студия „Арт“»"),                # inner quotes become „лапки“
    ('ДДТ "Радуга": робототехника', "«ДДТ „Радуга“: робототехника»"),
    ("«Арт» и «Танец»", "«„Арт“ и „Танец“»"),
])
def test_a_title_is_quoted_once_and_never_nested(title, shown):
    assert fmt.quoted(title) == shown


# --- every text in texts.py ------------------------------------------------------------

def _strings(value: Any, path: str):
    """(path, text, unit) of every string in a constant; unit is set inside a {Unit: …} dict."""
    if isinstance(value, str):
        yield path, value, None
    elif isinstance(value, dict):
        for key, item in value.items():
            for sub_path, text, unit in _strings(item, f"{path}[{key!r}]"):
                yield sub_path, text, unit or (key if isinstance(key, Unit) else None)
    elif isinstance(value, (list, tuple)):
        for n, item in enumerate(value):
            yield from _strings(item, f"{path}[{n}]")


ALL_TEXTS = [found for name, value in vars(texts).items() if name.isupper()
             for found in _strings(value, name)]


def test_the_scan_sees_every_kind_of_text():
    paths = {path for path, _, _ in ALL_TEXTS}
    assert {"HELP", "BTN_AGREE", "REFUSALS['nominal_not_set']", "QUOTE_COPAY[<Unit.HOURS: 'hours'>]"} <= paths, \
        sorted(paths)[:20]


@pytest.mark.parametrize("path, text, unit", ALL_TEXTS, ids=[p for p, _, _ in ALL_TEXTS])
def test_no_text_hedges_gender_nests_quotes_or_speaks_of_money_to_hours(path, text, unit):
    for bad in SLASHED + NESTED:
        assert bad not in text, f"{path}: {bad!r} in {text!r}"
    # A title follows a noun: «в программу {title}», never «записан на {title}».
    assert not re.search(r"(?:\bна|\bв|→)\s+\{title\}", text), path
    # Only a rubles variant may talk about money; every other text is read on hours certificates too.
    if unit is not Unit.RUB:
        assert not MONEY_WORDS.search(text), f"{path}: {text!r}"


def test_the_consent_buttons_need_no_gender():
    assert texts.BTN_AGREE == "Даю согласие" and "согласен" not in texts.BTN_DISAGREE.lower()


# --- prices in the unit of the program's town ---------------------------------------

def _program(funding=Funding.CERTIFICATE, price=350_000, hours=8) -> Program:
    return Program(title="Робототехника", funding=funding, price_per_month=price, hours_per_month=hours)


def test_a_price_is_shown_in_the_unit_of_the_towns_nominal_and_both_only_when_unknown():
    nb = fmt.NBSP
    assert price_text(_program(), Unit.RUB) == f"3{nb}500{nb}₽ в месяц"
    assert price_text(_program(), Unit.HOURS) == f"8{nb}ч в месяц"
    assert price_text(_program(), None) == f"3{nb}500{nb}₽ в месяц или 8{nb}ч в месяц"
    # A program priced in one unit only shows what it has; a paid one is paid in rubles.
    assert price_text(_program(hours=None), Unit.HOURS) == f"3{nb}500{nb}₽ в месяц"
    assert price_text(_program(funding=Funding.PAID), Unit.HOURS) == f"3{nb}500{nb}₽ в месяц"
    assert price_text(_program(funding=Funding.MUNICIPAL), Unit.RUB) == texts.PRICE_FREE
    # In the unit of the child the search is for, a missing price says the certificate cannot pay.
    assert price_text(_program(hours=None), Unit.HOURS, childs=True) == (
        f"3{nb}500{nb}₽ в месяц" + texts.PRICE_NOT_IN_UNIT[Unit.HOURS])
    assert price_text(_program(funding=Funding.PAID, hours=None), Unit.HOURS, childs=True) == f"3{nb}500{nb}₽ в месяц"


# --- journeys: an hours town and a rubles town ------------------------------------------

async def _journey(db, clock, *, town: str, nominal: int, unit: Unit) -> list[str]:
    """A parent's whole path through one program in `town`, with a co-payment; every screen's text."""
    await add_nominal(db, town, 2026, nominal, unit)
    program_id = await add_program(db, clock, municipality=town, title="Студия «Арт»", price=350_000, hours=8)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванова Мария Петровна", "05.03.2016", SNILS_1, town)
    await client.send("/find")
    await client.press(f"card:{program_id}")
    await client.click("Записать ребёнка")
    await client.click("Иванова Мария")
    await client.click("Подтвердить")
    await client.send("/enrollments")
    await client.click("Студия")
    await client.click("Отменить запись")
    await client.send("/balance")
    await client.click("План на год")
    await client.send("/help")
    await client.send("/mydata")
    return [screen.text.replace(fmt.NBSP, " ") for reply in client.replies for screen in reply.screens]


async def test_an_hours_certificate_never_sees_rubles_or_money_words(db, clock):
    shown = await _journey(db, clock, town="Часовой район", nominal=12, unit=Unit.HOURS)
    everything = "\n".join(shown)
    for expected in ("8 ч в месяц", "Стоимость: 16 ч", "Оплатит сертификат: 12 ч", "Часов на сертификате не хватает",
                     "4 ч занятий", "Иванова Мария Петровна записана в программу «Студия „Арт“»"):
        assert expected in everything, expected
    for text in shown:
        assert "₽" not in text and not MONEY_WORDS.search(text), text
        assert not any(bad in text for bad in SLASHED + NESTED), text


async def test_a_rubles_certificate_never_sees_hours(db, clock):
    shown = await _journey(db, clock, town="Рублёвый район", nominal=500_000, unit=Unit.RUB)
    everything = "\n".join(shown)
    for expected in ("3 500 ₽ в месяц", "Стоимость: 7 000 ₽", "Доплата родителя: 2 000 ₽",
                     "2 000 ₽ нужно будет доплатить", "записана в программу «Студия „Арт“»"):
        assert expected in everything, expected
    for text in shown:
        assert not HOURS_AMOUNT.search(text), text
        assert not any(bad in text for bad in SLASHED + NESTED), text


# --- the child's gender in a dialog -----------------------------------------------------

@pytest.mark.parametrize("name, done", [
    ("Иванова Мария Петровна", "Иванова Мария Петровна записана в программу «Робототехника»."),
    ("Иванов Пётр Сергеевич", "Иванов Пётр Сергеевич записан в программу «Робототехника»."),
    ("Петров Пётр", "Запись в программу «Робототехника» оформлена: Петров Пётр."),
])
async def test_the_enrollment_confirmation_fits_the_childs_gender(db, clock, name, done):
    await add_nominal(db, "Город Тест", 2026, 1_200_000)
    program_id = await add_program(db, clock)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child(name, "05.03.2016", SNILS_2, "Город Тест")
    await client.press(f"enr:start:{program_id}")
    await client.click(name.split()[0])
    await client.click("Подтвердить")
    assert done in client.text
    await client.send("/mydata")
    shown = "\n".join(screen.text for screen in client.reply.screens)
    added = {"Иванова": "Добавлена: ", "Иванов": "Добавлен: ", "Петров": "Дата добавления: "}[name.split()[0]]
    assert added in shown


# --- leftovers ---------------------------------------------------------------------------

async def test_find_without_filters_says_so_plainly(db, clock):
    await add_program(db, clock, title="Робототехника")
    client = DialogClient(make_dialogs(db, clock))
    await client.send("/find")
    assert "Фильтры" not in client.text and texts.FIND_NO_FILTERS in client.text
    assert "Найдено: 1." in client.text and "Страница 1 из 1" not in client.text
    await client.send("/find робот")
    assert "Фильтры: слова «робот»" in client.text


async def test_an_empty_catalog_does_not_ask_to_reset_filters_that_are_not_set(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.send("/find")
    assert "Фильтры" not in client.text and "сбросьте фильтры" not in client.text
    assert texts.FIND_NOTHING_AT_ALL in client.text


async def test_an_unknown_command_lists_every_command(db, clock):
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.send("/nonsense")
    assert texts.UNKNOWN_COMMAND in client.text
    for command in COMMANDS:
        assert re.search(rf"^/{command}\b", client.text, re.MULTILINE), command
        if command in texts.COMMAND_MENU:
            assert texts.COMMAND_MENU[command] in client.text


def test_a_digest_names_each_programs_town_and_shows_its_price_in_that_towns_unit():
    from bot.jobs.screens import digest
    from core.models import Municipality, Subscription

    hours_town, rubles_town, unknown_town = _program(), _program(), _program()
    towns = ("Абакан", "Пятигорск", "Черногорск")
    for n, program in enumerate((hours_town, rubles_town, unknown_town), 1):
        program.id, program.municipality_id, program.age_min, program.age_max = n, n, 5, 17
        program.provider = "ДДТ"
        program.municipality = Municipality(id=n, name=towns[n - 1])
    screen = digest([hours_town, rubles_town, unknown_town], 3, [Subscription(id=1)],
                    {1: Unit.HOURS, 2: Unit.RUB})
    items = screen.text.replace(fmt.NBSP, " ").split("\n\n")[1:4]
    assert "8 ч в месяц" in items[0] and "₽" not in items[0]
    assert "3 500 ₽ в месяц" in items[1] and not HOURS_AMOUNT.search(items[1])
    assert "3 500 ₽ в месяц или 8 ч в месяц" in items[2]
    for item, town in zip(items, towns):
        assert f"📍 {town} · ДДТ" in item


def test_a_town_named_in_quotes_is_not_quoted_twice_in_a_refusal():
    from core.errors import DomainError

    text = texts.refusal(DomainError("nominal_not_set", municipality="Округ «Город Тест»", year=2026))
    assert "в муниципалитете «Округ „Город Тест“» ещё не установлен" in text


async def test_cancelling_a_free_program_on_a_unitless_certificate_names_no_refund(db, clock):
    program_id = await add_program(db, clock, title="Хор", funding=Funding.MUNICIPAL, price=None)
    client = DialogClient(make_dialogs(db, clock))
    await client.start()
    await client.add_child("Иванов Пётр Сергеевич", "05.03.2016", SNILS_1, "Город Тест")
    await client.press(f"enr:start:{program_id}")
    await client.click("Иванов Пётр")
    await client.click("Подтвердить")
    assert "Иванов Пётр Сергеевич записан в программу «Хор»" in client.text
    await client.send("/enrollments")
    await client.click("Хор")
    await client.click("Отменить запись")
    assert "₽" not in client.text.replace(fmt.NBSP, " ")
    await client.click("Да, отменить")
    assert texts.CANCELLED_DONE_NOTHING in client.text and "₽" not in client.text


async def test_the_new_year_copayment_notice_speaks_of_hours_on_an_hours_certificate(db):
    import datetime as dt

    from bot.jobs import screens, tasks
    from core import enrollment, outbox
    from core.clock import FixedClock
    from tests import factories

    clock = FixedClock(dt.datetime(2026, 11, 21, 12, 0))
    async with db.write() as session:
        await factories.nominal(session, 2026, hours=40)
        parent = await factories.parent(session, clock, "77", platform="telegram")
        child = await factories.child(session, parent, clock, name="Иванова Мария Петровна")
        program = await factories.program(session, clock, price_rub=None, hours=8, title="Студия «Арт»")
        await enrollment.enroll(session, parent, child.id, program.id, clock)
        await factories.nominal(session, 2027, hours=20)            # 5 months × 8 h = 40 h needed
    clock.set(dt.datetime(2027, 1, 1, 0, 10))
    assert (await tasks.run_year_rollover(db, clock)).shortfalls == 1
    async with db.read() as session:
        found = [u for u in await outbox.due_units(session, ["telegram"], clock) if u.kind == outbox.COPAY]
    async with db.read() as session:
        screen = await screens.build(session, found[0], clock.today())
    text = screen.text.replace(fmt.NBSP, " ")
    assert re.search(r"Мария: с 1 января продлена запись в программу «Студия „Арт“ \d+» на 2027 год", text), text
    assert "Не хватает часов сертификата: 20 ч занятий" in text
    assert "₽" not in text and not MONEY_WORDS.search(text)
