"""SPEC §2 /find: searching the catalog by words and filters, page by page."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from rapidfuzz.distance import Levenshtein

from core import catalog
from core.catalog import EXACT, FUZZY, SYNONYM, SearchFilters, get_program, list_municipalities, search
from core.catalog_codes import parse_category, parse_funding, parse_provider_kind
from core.certificates import set_nominal
from core.errors import DomainError, NotFound
from core.importer import import_rows
from core.models import Category, Funding, Municipality, ProviderKind, Unit
from core.municipalities import register
from core.search_text import FUZZY_LENGTH, program_search_text, query_terms, query_words
from core.thesaurus import GROUPS, MARKER, synonym_markers

TOWN = "г. Пятигорск"
OTHER_TOWN = "г. Абакан"


def row(external_id: str, **overrides: object) -> dict:
    base = {
        "external_id": external_id, "title": f"Программа {external_id}", "provider": "МБУ ДО «ЦДТ»",
        "provider_kind": "municipal", "municipality": TOWN, "category": "technical",
        "age_min": "7", "age_max": "12", "price_per_month": "2500", "hours_per_month": "8",
        "start_date": "2026-09-01", "end_date": "2027-05-31", "address": "ул. Ленина, 1",
        "schedule": "Пн 16:00", "seats": "10", "funding": "certificate", "description": "",
    }
    base.update({key: str(value) for key, value in overrides.items()})
    return base


async def load(db, clock, *rows: dict) -> None:
    await import_rows(db, list(rows), clock, new_municipalities=True)


async def find(db, clock, page: int = 0, **filters: object):
    async with db.read() as session:
        return await search(session, SearchFilters(**filters), page=page, clock=clock)


async def town_id(db, name: str = TOWN) -> int:
    async with db.read() as session:
        from sqlalchemy import select
        return (await session.execute(select(Municipality.id).where(Municipality.name == name))).scalar_one()


def titles(found) -> list[str]:
    return [program.title for program in found.items]


# --- words ------------------------------------------------------------------

async def test_russian_words_match_whatever_their_case_and_ending(any_db, clock):
    await load(any_db, clock,
               row("a", title="Робототехника для начинающих"),
               row("b", title="Кружок по робототехнике"),
               row("c", title="Шахматы"))
    for query in ("робототехника", "РОБОТОТЕХНИКЕ", "Робототехнику"):
        found = await find(any_db, clock, words=query)
        assert titles(found) == ["Кружок по робототехнике", "Робототехника для начинающих"], query


async def test_every_search_word_must_match(any_db, clock):
    await load(any_db, clock,
               row("a", title="Робототехника для начинающих"),
               row("b", title="Робототехника для продолжающих"))
    assert titles(await find(any_db, clock, words="робототехника начинающие")) == ["Робототехника для начинающих"]
    assert (await find(any_db, clock, words="робототехника шахматы")).total == 0


async def test_words_match_the_start_of_a_word_only(any_db, clock):
    await load(any_db, clock, row("a", title="Авиамоделирование"), row("b", title="Моделирование одежды"))
    assert titles(await find(any_db, clock, words="модел")) == ["Моделирование одежды"]


async def test_yo_and_ye_are_the_same_letter(any_db, clock):
    await load(any_db, clock, row("a", title="Ёлочные игрушки своими руками"))
    assert (await find(any_db, clock, words="елочные")).total == 1
    assert (await find(any_db, clock, words="ЁЛОЧНАЯ")).total == 1


async def test_words_are_found_in_provider_description_and_address(any_db, clock):
    await load(any_db, clock, row("a", title="Студия", provider="ООО «Роботлаб»",
                                  description="Собираем квадрокоптеры", address="ул. Университетская, 7"))
    for query in ("роботлаб", "квадрокоптер", "университетской"):
        assert (await find(any_db, clock, words=query)).total == 1, query


async def test_search_wildcards_typed_by_a_parent_are_plain_punctuation(any_db, clock):
    await load(any_db, clock, row("a", title="Шахматы"), row("b", title="Шашки"))
    # Not "anything, then хмат" (and two letters from шахмат: more than a typo).
    assert (await find(any_db, clock, words="%хматы")).total == 0
    assert (await find(any_db, clock, words="_хматы")).total == 0
    assert (await find(any_db, clock, words="%")).total == 2   # no words at all: no word filter
    assert all("%" not in term and "_" not in term for term in query_terms("50% ш_а_х"))


def test_stored_search_text_puts_a_space_before_every_stem_then_the_thesaurus_groups():
    assert program_search_text("Шахматный клуб", "ЦДТ", "Играем в шашки", "") == " шахматн клуб цдт игра в шашк ~шахмат "
    assert program_search_text("Клуб", "ЦДТ", "Играем в шашки", "") == " клуб цдт игра в шашк "   # title, provider only


# --- filters ----------------------------------------------------------------

async def test_municipality_filter_shows_only_that_municipality(any_db, clock):
    await load(any_db, clock, row("a", title="Здесь"), row("b", title="Там", municipality=OTHER_TOWN))
    assert titles(await find(any_db, clock, municipality_id=await town_id(any_db))) == ["Здесь"]
    assert titles(await find(any_db, clock, municipality_id=await town_id(any_db, OTHER_TOWN))) == ["Там"]


async def test_age_filter_keeps_programs_whose_range_holds_the_age(any_db, clock):
    await load(any_db, clock,
               row("a", title="Малыши", age_min=5, age_max=7),
               row("b", title="Школьники", age_min=7, age_max=12),
               row("c", title="Подростки", age_min=13, age_max=17))
    assert titles(await find(any_db, clock, age=7)) == ["Малыши", "Школьники"]
    assert titles(await find(any_db, clock, age=12)) == ["Школьники"]
    assert titles(await find(any_db, clock, age=17)) == ["Подростки"]


async def test_category_filter(any_db, clock):
    await load(any_db, clock, row("a", title="Футбол", category="sport"), row("b", title="Роботы"))
    assert titles(await find(any_db, clock, category=Category.SPORT)) == ["Футбол"]
    assert titles(await find(any_db, clock, category=Category.TECHNICAL)) == ["Роботы"]
    assert (await find(any_db, clock, category=Category.ART)).total == 0


async def test_certificate_only_hides_municipal_and_paid_programs(any_db, clock):
    await load(any_db, clock,
               row("a", title="Сертификат", funding="certificate"),
               row("b", title="Бесплатно", funding="municipal"),
               row("c", title="Платно", funding="paid"))
    assert titles(await find(any_db, clock, certificate_only=True)) == ["Сертификат"]
    assert (await find(any_db, clock)).total == 3


async def test_filters_combine(any_db, clock):
    await load(any_db, clock,
               row("a", title="Робототехника", age_min=10, age_max=14),
               row("b", title="Робототехника для малышей", age_min=5, age_max=7),
               row("c", title="Робототехника", municipality=OTHER_TOWN, age_min=10, age_max=14))
    found = await find(any_db, clock, municipality_id=await town_id(any_db), age=11, words="робототехника",
                       category=Category.TECHNICAL, certificate_only=True)
    assert [p.external_id for p in found.items] == ["a"]


async def test_finished_programs_are_not_shown(any_db, clock):
    today = clock.today()
    await load(any_db, clock,
               row("a", title="Закончилась вчера", start_date="2026-01-10",
                   end_date=(today - dt.timedelta(days=1)).isoformat()),
               row("b", title="Заканчивается сегодня", start_date="2026-01-10", end_date=today.isoformat()),
               row("c", title="Начнётся в январе", start_date="2027-01-10", end_date="2027-05-31"))
    assert titles(await find(any_db, clock)) == ["Заканчивается сегодня", "Начнётся в январе"]
    async with any_db.read() as session:
        assert (await search(session, SearchFilters())).total == 3   # no clock: no date filter


# --- pages ------------------------------------------------------------------

async def test_results_come_five_per_page_sorted_by_title(any_db, clock):
    await load(any_db, clock, *[row(f"p{n:02d}", title=f"Программа {n:02d}") for n in range(12, 0, -1)])
    first = await find(any_db, clock)
    assert (first.total, first.pages, first.page) == (12, 3, 0)
    assert titles(first) == [f"Программа {n:02d}" for n in range(1, 6)]
    assert not first.has_prev and first.has_next
    last = await find(any_db, clock, page=2)
    assert titles(last) == ["Программа 11", "Программа 12"]
    assert last.has_prev and not last.has_next


async def test_a_page_out_of_range_is_clamped(any_db, clock):
    await load(any_db, clock, *[row(f"p{n}", title=f"Программа {n}") for n in range(1, 8)])
    assert (await find(any_db, clock, page=99)).page == 1
    assert (await find(any_db, clock, page=-3)).page == 0


async def test_an_empty_result_is_one_empty_page(any_db, clock):
    found = await find(any_db, clock, words="ничегонет")
    assert (found.items, found.total, found.page, found.pages) == ([], 0, 0, 1)
    async with any_db.read() as session:   # a page of one (PostgreSQL was told OFFSET -1)
        alone = await search(session, SearchFilters(words="ничегонет"), page=3, page_size=1, clock=clock)
    assert (alone.items, alone.total, alone.page, alone.pages) == ([], 0, 0, 1)


async def test_warming_up_builds_the_statements_of_the_common_searches(any_db, clock):
    """The bot runs every common search statement once at start (matching nothing), so a
    parent's first search of a kind does not wait for it to be built."""
    await load(any_db, clock, row("a", title="Шахматы"))
    builders = (catalog._worded_page_statement, catalog._drive_counts_statement, catalog._count_statement,
                catalog._sorted_page_statement, catalog._title_walk_statement)
    for builder in builders:
        builder.cache_clear()
    async with any_db.read() as session:
        assert await catalog.warm_up(session, clock) == 60
    built = [builder.cache_info().currsize for builder in builders]
    town = await town_id(any_db)
    await find(any_db, clock, words="шахматы", municipality_id=town, age=9, category=Category.TECHNICAL,
               certificate_only=True)
    await find(any_db, clock, words="шахматы для")
    await find(any_db, clock, age=9, certificate_only=True)
    await find(any_db, clock, municipality_id=town, category=Category.ART)
    assert [builder.cache_info().currsize for builder in builders] == built


async def test_equal_titles_are_ordered_by_id(any_db, clock):
    await load(any_db, clock, row("x1", title="Шахматы"), row("x2", title="Шахматы"))
    found = await find(any_db, clock)
    assert [p.id for p in found.items] == sorted(p.id for p in found.items)


# --- one program, municipalities ---------------------------------------------

async def test_get_program_returns_it_or_refuses_with_program_not_found(any_db, clock):
    await load(any_db, clock, row("a", title="Шахматы"))
    found = await find(any_db, clock)
    async with any_db.read() as session:
        program = await get_program(session, found.items[0].id)
        assert program.title == "Шахматы" and program.municipality.name == TOWN
        with pytest.raises(NotFound) as refusal:
            await get_program(session, 999_999)
    assert refusal.value.reason == "program_not_found"


async def test_parents_are_offered_the_registered_municipalities_only(any_db, clock):
    await load(any_db, clock, row("a"))             # registers TOWN (--new-municipalities)
    async with any_db.write() as session:
        await register(session, "г. Пустой")        # no programs or nominal yet, but registered
    with pytest.raises(DomainError):
        async with any_db.write() as session:
            await set_nominal(session, "Пятигорск", 2026, 72, Unit.HOURS)   # a typo registers nothing
    async with any_db.read() as session:
        names = [m.name for m in await list_municipalities(session)]
    assert sorted(names) == sorted([TOWN, "г. Пустой"])


# --- coded values ---------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("technical", Category.TECHNICAL), ("Техническая", Category.TECHNICAL),
    ("ФИЗКУЛЬТУРНО-СПОРТИВНАЯ", Category.SPORT), (" художественная ", Category.ART),
    ("естественнонаучная", Category.SCIENCE), ("туристско-краеведческая", Category.TOURISM),
    ("социально-гуманитарная", Category.SOCIAL), ("social", Category.SOCIAL),
])
def test_category_is_read_from_its_code_or_russian_name(raw, expected):
    assert parse_category(raw) is expected


def test_unknown_codes_are_refused_with_a_reason():
    for parser, reason in ((parse_category, "category_invalid"), (parse_funding, "funding_invalid"),
                           (parse_provider_kind, "provider_kind_invalid")):
        with pytest.raises(DomainError) as refusal:
            parser("спорт")
        assert refusal.value.reason == reason


def test_funding_and_provider_kind_accept_codes_and_russian_names():
    assert parse_funding("certificate") is Funding.CERTIFICATE
    assert parse_funding("Платная") is Funding.PAID
    assert parse_provider_kind("ip") is ProviderKind.IP
    assert parse_provider_kind("ИП") is ProviderKind.IP
    assert parse_provider_kind("private") is ProviderKind.PRIVATE


# --- broad searches and the plans of a search --------------------------------

async def test_a_broad_search_says_more_than_the_limit_and_pages_on_in_title_order(any_db, clock, monkeypatch):
    monkeypatch.setattr(catalog, "COUNT_LIMIT", 7)
    await load(any_db, clock, *[row(f"p{n:02d}", title=f"Программа {n:02d}",
                                    municipality=TOWN if n % 2 else OTHER_TOWN) for n in range(12, 0, -1)])
    first = await find(any_db, clock)   # no municipality, no words: more than 7 is not counted out
    assert first.more and first.total > 7 and first.has_next and not first.has_prev
    assert titles(first) == [f"Программа {n:02d}" for n in range(1, 6)]
    second = await find(any_db, clock, page=1)
    assert titles(second) == [f"Программа {n:02d}" for n in range(6, 11)] and second.has_next
    third = await find(any_db, clock, page=2)
    assert titles(third) == ["Программа 11", "Программа 12"] and not third.has_next and third.pages == 3
    assert titles(await find(any_db, clock, page=40)) == ["Программа 11", "Программа 12"]   # clamped
    town = await town_id(any_db)
    narrow = await find(any_db, clock, municipality_id=town)   # a municipality: counted
    assert (narrow.more, narrow.total) == (False, 6)
    worded = await find(any_db, clock, words="программа")     # words: counted, sorted by title
    assert (worded.more, worded.total) == (False, 12)
    assert titles(worded) == [f"Программа {n:02d}" for n in range(1, 6)]
    assert titles(await find(any_db, clock, words="программа", page=2)) == ["Программа 11", "Программа 12"]


async def test_a_filter_changed_by_an_import_is_searched_by_its_new_value(any_db, clock):
    """The word index carries each program's filter columns: an import that moves a program
    (another municipality, ages, funding, dates) must move its words with it."""
    await load(any_db, clock, row("a", title="Шахматы"), row("b", title="Шахматы для всех"))
    town = await town_id(any_db)
    await load(any_db, clock, row("a", title="Шахматы", municipality=OTHER_TOWN, age_min=14, age_max=17,
                                  funding="paid", end_date="2026-11-01"))
    other = await town_id(any_db, OTHER_TOWN)
    assert titles(await find(any_db, clock, words="шахматы", municipality_id=town)) == ["Шахматы для всех"]
    assert titles(await find(any_db, clock, words="шахматы", municipality_id=other)) == []   # it has ended
    await load(any_db, clock, row("a", title="Шахматы", municipality=OTHER_TOWN, age_min=14, age_max=17,
                                  funding="paid"))
    assert titles(await find(any_db, clock, words="шахматы", municipality_id=other, age=15)) == ["Шахматы"]
    assert titles(await find(any_db, clock, words="шахматы", age=15, certificate_only=True)) == []
    assert titles(await find(any_db, clock, words="шахматы", age=9)) == ["Шахматы для всех"]
    # Only the title's letters change (its words stay): the index sorts by the new title.
    await load(any_db, clock, row("b", title="ШАХМАТЫ для всех"))
    assert titles(await find(any_db, clock, words="шахматы")) == ["ШАХМАТЫ для всех", "Шахматы"]


@pytest.mark.parametrize("plan", ["first word drives", "last word drives", "the others as sets"])
async def test_every_plan_finds_the_same_programs(any_db, clock, monkeypatch, plan):
    """Which word's index range is read, and whether the others are probed or read as sets,
    depends on counts; each plan gives the same page."""
    async def driving(session, shape, values):
        drive = 0 if plan == "first word drives" else len(shape.terms) - 1
        sets = tuple(i for i in range(len(shape.terms)) if i != drive) if plan == "the others as sets" else ()
        return replace(shape, drive=drive, sets=sets)

    monkeypatch.setattr(catalog, "_driving", driving)
    await load(any_db, clock,
               row("a", title="Робототехника", description="Собираем роботов", age_min=10, age_max=14),
               row("b", title="Роботы и шахматы", category="social"),
               row("c", title="Робототехника", municipality=OTHER_TOWN),
               row("d", title="Шахматы", description="Играем в шахматы"),
               row("e", title="Лего-роботы", funding="paid"))
    town = await town_id(any_db)
    assert titles(await find(any_db, clock, words="робот")) == [
        "Лего-роботы", "Робототехника", "Робототехника", "Роботы и шахматы"]
    assert titles(await find(any_db, clock, words="робот шахматы")) == ["Роботы и шахматы"]
    assert titles(await find(any_db, clock, words="робот", municipality_id=town, certificate_only=True)) == [
        "Робототехника", "Роботы и шахматы"]
    assert titles(await find(any_db, clock, words="робот", category=Category.TECHNICAL, age=8)) == [
        "Лего-роботы", "Робототехника"]
    assert (await find(any_db, clock, words="робот шахматы", municipality_id=town, age=13)).total == 0


async def test_titles_sort_by_letter_code_on_both_databases(any_db, clock, monkeypatch):
    monkeypatch.setattr(catalog, "COUNT_LIMIT", 2)
    expected = ["Ёлочка", "Абака", "Яхта", "абака", "ёжик"]   # Ё, А…Я, а…я, ё: by code point
    await load(any_db, clock, *[row(f"t{n}", title=title, description="кружок")
                                for n, title in enumerate(reversed(expected))])
    assert titles(await find(any_db, clock)) == expected                      # walked by title
    assert titles(await find(any_db, clock, words="кружок")) == expected      # sorted in the word index
    assert titles(await find(any_db, clock, municipality_id=await town_id(any_db))) == expected


def reference_levels(programs, words: list[tuple[str, int]]) -> dict[int, int | None]:
    """How each program matches a search, worked out from its stored text alone (None: not
    at all): each word EXACT if it starts one of the program's stems, SYNONYM if the program
    has the marker of one of the word's thesaurus groups, FUZZY (words and their stems of
    FUZZY_LENGTH letters or more) if a stem of the program, or a one-word entry of one of its groups, is
    one edit from the word's stem; the program's level is its worst word's."""
    synonyms = synonym_markers([term for term, _length in words])
    near_groups = [{group.marker for group in GROUPS for entry in group.asked
                    if len(entry) == 1 and Levenshtein.distance(term, entry[0]) == 1} for term, _length in words]
    levels: dict[int, int | None] = {}
    for program in programs:
        stored = program.search_text.split()
        stems = [term for term in stored if not term.startswith(MARKER)]
        markers = {term for term in stored if term.startswith(MARKER)}
        worst: int | None = EXACT
        for (term, length), groups, near in zip(words, synonyms, near_groups):
            if any(stem.startswith(term) for stem in stems):
                continue
            if markers & set(groups):
                worst = max(worst, SYNONYM)
            elif min(length, len(term)) >= FUZZY_LENGTH and (any(Levenshtein.distance(term, stem) <= 1 for stem in stems)
                                             or markers & near):
                worst = FUZZY
            else:
                worst = None
                break
        levels[program.id] = worst
    return levels


def with_a_typo(rng, word: str) -> str:
    """The word with one letter changed, dropped or added (somewhere after the first)."""
    at = rng.randrange(1, len(word))
    letter = rng.choice("абвгдеиклмнопрстуя")
    return rng.choice([word[:at] + letter + word[at + 1:], word[:at] + word[at + 1:], word[:at] + letter + word[at:]])


async def test_a_search_finds_exactly_what_reading_every_program_finds(any_db, clock):
    """Whichever index drives it, a search's count and page are those of a plain scan of the
    catalog, filtered, matched (exact, synonym, one typo: reference_levels) and sorted in
    Python: 160 random searches (one, two and three words, typos, the thesaurus's words,
    filters, pages) over 300 generated programs."""
    import random

    from sqlalchemy import select

    from bench import data
    from bench.catalog import random_filters
    from core.models import Program

    await import_rows(any_db, data.program_rows(300, clock.today()), clock, new_municipalities=True)
    async with any_db.read() as session:
        towns = list((await session.execute(select(Municipality.id))).scalars())
        programs = list((await session.execute(select(Program))).scalars())
    rng = random.Random(20261202)
    seen_levels: set[int] = set()
    asked = data.QUERIES + ["музыка", "изо", "хореография", "живопись", "танцы", "поход", "единоборства"]
    for _ in range(160):
        filters = random_filters(rng, towns)
        if rng.random() < 0.3:
            filters = replace(filters, words=" ".join(rng.sample(asked, 3)))
        elif rng.random() < 0.3:
            filters = replace(filters, words=rng.choice(asked))
        if filters.words and rng.random() < 0.4:
            filters = replace(filters, words=" ".join(with_a_typo(rng, word) if len(word) > 1 else word
                                                      for word in filters.words.split()))
        words = query_words(filters.words)
        levels = reference_levels(programs, words)
        expected = sorted((p for p in programs
                           if filters.municipality_id in (None, p.municipality_id)
                           and filters.category in (None, p.category)
                           and (not filters.certificate_only or p.funding is Funding.CERTIFICATE)
                           and (filters.age is None or p.age_min <= filters.age <= p.age_max)
                           and p.end_date >= clock.today()
                           and levels[p.id] is not None),
                          key=lambda p: (levels[p.id], p.title, p.id))
        seen_levels |= {levels[p.id] for p in expected}
        page = rng.choice([0, 0, 1, 3])
        found = await find(any_db, clock, page=page, **filters.__dict__)
        last = max(0, (len(expected) - 1) // 5)
        assert (found.total, found.page) == (len(expected), min(page, last)), filters
        assert [p.id for p in found.items] == [p.id for p in expected[found.page * 5:found.page * 5 + 5]], filters
    assert seen_levels == {EXACT, SYNONYM, FUZZY}   # every kind of match was compared
