"""Issue 13, search that understands parents: the thesaurus's synonyms and one typo in a
word of five letters or more; the programs with the word itself first, then synonyms,
then typos. (Equivalence with a scan of every program: tests/unit/test_catalog.py.)"""
from __future__ import annotations

import pytest

from core.catalog import SearchFilters, search
from core.demo import seed_demo
from core.thesaurus import GROUPS, parse
from core.thesaurus_data import THESAURUS
from tests.unit.test_catalog import load, row, titles


async def find_titles(db, clock, words: str, size: int = 50) -> list[str]:
    async with db.read() as session:
        return titles(await search(session, SearchFilters(words=words), page_size=size, clock=clock))


@pytest.mark.parametrize("words, expected", [
    # No demo title says "рисование": an изостудия, a рисунок, изобразительное искусство.
    ("рисование", {"Изостудия «Палитра»", "Академический рисунок для подростков", "Изобразительное искусство"}),
    ("музыка", {"Вокальная студия «Камертон»", "Гитара для начинающих"}),
    ("танцы", {"Хореография для малышей", "Танцевальная студия «Ритм»: хип-хоп"}),
    ("програмирование", {"Программирование игр на Python", "Программирование на Python"}),   # one typo
    ("рисавание", {"Изостудия «Палитра»", "Изобразительное искусство"}),   # a typo in a thesaurus word
])
async def test_the_words_parents_type_find_the_demo_programs(any_db, clock, words, expected):
    await seed_demo(any_db, clock)
    found = await find_titles(any_db, clock, words)
    assert expected <= set(found), found


async def test_a_typo_in_a_word_of_four_letters_finds_nothing(any_db, clock):
    await load(any_db, clock, row("a", title="Лего для малышей"), row("b", title="Шахматы"))
    assert await find_titles(any_db, clock, "лего") == ["Лего для малышей"]
    assert await find_titles(any_db, clock, "леко") == []            # four letters: no typo allowed
    assert await find_titles(any_db, clock, "шахмвты") == ["Шахматы"]   # seven: one typo allowed
    assert await find_titles(any_db, clock, "шихмвты") == []          # …not two


async def test_the_word_itself_comes_before_synonyms_and_synonyms_before_typos(any_db, clock):
    await load(any_db, clock,
               row("s", title="Академия хореографии"),                        # synonym (title)
               row("f", title="Танцы", description="Клуб танцоров"),        # exact
               row("e", title="Студия", description="Народные танцы"),      # exact (description)
               row("x", title="Шахматы"))
    assert await find_titles(any_db, clock, "танцы") == [
        "Студия", "Танцы",           # the word itself, by title
        "Академия хореографии"]      # then the synonym


async def test_exact_then_synonym_then_typo_each_by_title(any_db, clock):
    await load(any_db, clock,
               row("1", title="Ямщик: гитара"),                 # exact
               row("2", title="Аккордеон для всех"),            # synonym of «гитара» (music group)
               row("3", title="Бард-клуб", description="Играем на гитаре"),   # exact (description)
               row("4", title="Гиттара", description=""),       # one typo (a doubled letter)
               row("5", title="Плавание"))
    assert await find_titles(any_db, clock, "гитара") == [
        "Бард-клуб", "Ямщик: гитара", "Аккордеон для всех", "Гиттара"]
    # With a filter and over pages the order holds.
    async with any_db.read() as session:
        second = await search(session, SearchFilters(words="гитара"), page=1, page_size=2, clock=clock)
    assert titles(second) == ["Аккордеон для всех", "Гиттара"] and second.total == 4


async def test_a_word_matches_a_thesaurus_phrase_only_whole(any_db, clock):
    await load(any_db, clock, row("a", title="Изобразительное искусство"), row("b", title="Искусство речи"))
    found = await find_titles(any_db, clock, "живопись")
    assert found == ["Изобразительное искусство"]    # «искусство» alone is not «изобразительное искусство»


async def test_a_program_renamed_by_an_import_leaves_or_joins_a_group(any_db, clock):
    await load(any_db, clock, row("a", title="Хореография"))
    assert await find_titles(any_db, clock, "танцы") == ["Хореография"]
    await load(any_db, clock, row("a", title="Шахматы"))
    assert await find_titles(any_db, clock, "танцы") == []
    assert await find_titles(any_db, clock, "шашки") == ["Шахматы"]


async def test_a_new_word_is_found_with_a_typo_at_once_after_an_import(any_db, clock):
    await load(any_db, clock, row("a", title="Шахматы"))
    assert await find_titles(any_db, clock, "керамика") == []
    await load(any_db, clock, row("b", title="Керамика"))
    assert await find_titles(any_db, clock, "керамиика") == ["Керамика"]


async def test_a_typo_is_not_looked_for_in_a_stem_shorter_than_five_letters(any_db, clock):
    # "танци" is stemmed "танц": one edit from "станц" («Станция юных туристов») but two
    # from the words typed; the dances are found by the word itself.
    await load(any_db, clock, row("a", title="Танцевальная студия"),
               row("b", title="Занимательная химия", provider="Станция юных туристов"))
    assert await find_titles(any_db, clock, "танци") == ["Танцевальная студия"]


async def test_another_processs_import_is_found_with_a_typo_once_the_counter_is_read_again(
        any_db, clock, monkeypatch):
    from sqlalchemy import text

    from core import search_vocabulary

    await load(any_db, clock, row("a", title="Шахматы"))
    assert await find_titles(any_db, clock, "шахмвты") == ["Шахматы"]   # the words are held
    # Another process's import: its rows and its move of the counter, none of this process's writes.
    async with any_db.write() as session:
        program_id = (await session.execute(text("SELECT id FROM programs"))).scalar_one()
        await session.execute(text("INSERT INTO program_terms (term, program_id, title, municipality_id, "
                                   "category, funding, age_min, age_max, end_date) SELECT 'керамик', id, "
                                   "title, municipality_id, category, funding, age_min, age_max, end_date "
                                   "FROM programs WHERE id = :id"), {"id": program_id})
        await session.execute(text("UPDATE search_state SET words = words + 1"))
    assert await find_titles(any_db, clock, "керамиика") == []      # within RECHECK_SECONDS: not read yet
    monkeypatch.setattr(search_vocabulary, "RECHECK_SECONDS", 0.0)
    assert await find_titles(any_db, clock, "керамиика") == ["Шахматы"]


def test_the_thesaurus_covers_the_six_directions_in_forty_groups_or_more():
    assert len(GROUPS) >= 40
    sections = [line for line in THESAURUS.splitlines() if line.startswith("# ---")]
    for direction in ("художественная", "техническая", "естественнонаучная", "физкультурно-спортивная",
                      "туристско-краеведческая", "социально-гуманитарная"):
        assert any(direction in section for section in sections), direction
    music = next(group for group in GROUPS if group.marker == "~музык")
    assert {("вока",), ("хор",), ("гитар",), ("фортепиа",)} <= set(music.entries)


def test_a_bad_thesaurus_line_is_refused_naming_it():
    with pytest.raises(ValueError, match="line 2"):
        parse("# comment\nтолько одно слово\n")
    with pytest.raises(ValueError, match="line 2"):
        parse("танцы, хореография\nтанцы, балет\n")
