"""The program catalog: search with filters and pages, one program, municipalities.
(The parsers of its coded values are in core/catalog_codes.py.)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import product

from sqlalchemy import Integer, bindparam, case, exists, func, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from core import municipalities
from core.clock import Clock
from core.errors import NotFound
from core.models import Category, Funding, Municipality, Program, ProgramTerm
from core.search_text import FUZZY_LENGTH, TERM_LENGTH, like_pattern, query_words, term_range
from core.search_vocabulary import near_terms
from core.thesaurus import near_markers, synonym_markers

MAX_PAGE_SIZE = 50

@dataclass(frozen=True)
class SearchFilters:
    municipality_id: int | None = None
    age: int | None = None
    category: Category | None = None
    certificate_only: bool = False
    words: str = ""


@dataclass
class SearchPage:
    items: list[Program]
    total: int    # exact, or COUNT_LIMIT + 1 when there are more than COUNT_LIMIT (see `more`)
    page: int     # 0-based, clamped into [0, pages-1]
    pages: int    # at least 1, even when nothing was found; a lower bound when `more`
    more: bool = False   # more than COUNT_LIMIT matches: `total` and `pages` are not counted out

    @property
    def has_prev(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page < self.pages - 1


# A search with neither a municipality nor words can match most of the
# catalog; past this many matches it is not counted out: the parent is told
# "more than 1000" and pages on, the page read in title order from an index.
# Counting and sorting tens of thousands of programs took 100-350 ms on
# 100 000 programs (bench/, benchmark 4), and a parent narrows such a search
# rather than reads it. A worded search is always counted out: its word
# index holds the titles and filters (migration 0006), so even a word in
# every fifth program is counted and sorted there in a few milliseconds.
COUNT_LIMIT = 1000
# A search of several words counts, up to this many, each word's programs
# (filters applied, in the word index alone); the rarest word's are read. A
# word with at most SET_SPREAD times as many is read as a set to look each of
# them up in; a commoner one is probed for each (one index seek a program:
# reading its set costs more). Two words of 2 000 programs each took 12 ms on
# PostgreSQL probed, 2 ms as a set (bench/, benchmark 4).
DRIVE_COUNT_LIMIT = 5000
SET_SPREAD = 10


@dataclass(frozen=True)
class _Shape:
    """What a search's statements depend on; the values are bound at execution.

    Built once per shape (lru_cache): building SQLAlchemy expressions cost
    more than running them on most searches.
    """
    municipality: bool
    category: bool
    certificate_only: bool
    age: bool
    dated: bool
    terms: tuple[tuple[bool, bool], ...] = ()   # per word: (its range has an end, longer than the index)
    drive: int = 0      # the word whose index range is read …
    sets: tuple[int, ...] = ()   # … the words whose programs are read as a set to look up in,
    sqlite: bool = False         # the other words probed per program (_driving)

    @property
    def capped(self) -> bool:
        """Not counted out past COUNT_LIMIT (see there)."""
        return not self.terms and not self.municipality


def _shape(filters: SearchFilters, clock: Clock | None, terms: list[str], sqlite: bool) -> _Shape:
    municipality = filters.municipality_id is not None
    if terms:   # every filter is in a worded search's statements (_word_filters)
        return _Shape(municipality=municipality, category=False, certificate_only=False, age=False,
                      dated=False, sqlite=sqlite,
                      terms=tuple((term_range(term)[1] is not None, len(term) > TERM_LENGTH) for term in terms))
    return _Shape(municipality=municipality, category=filters.category is not None,
                  certificate_only=filters.certificate_only, age=filters.age is not None,
                  dated=clock is not None, sqlite=sqlite)


# What a worded search binds for a filter not asked for: everything passes.
_ANY_AGE = (0, 1000)


# How well a program matches a search word (and a search: its worst word's), the first
# key of a worded search's order: the word itself starts one of the program's stems; a
# word of the word's thesaurus group is in the program's title or provider (its marker);
# a stem one typo away, or the group of an entry one typo away.
EXACT, SYNONYM, FUZZY = 0, 1, 2
# What an empty list of a word's other terms is bound as: no stored term is empty.
_NO_TERMS = [""]


@dataclass(frozen=True)
class _Alternatives:
    """A search word's stored terms besides its own range: markers of its groups (SYNONYM)
    and all of them, the near ones (FUZZY) too."""
    synonyms: tuple[str, ...] = ()
    others: tuple[str, ...] = ()


async def _alternatives(session: AsyncSession, words: list[tuple[str, int]]) -> list[_Alternatives]:
    stems = [stem for stem, _length in words]
    synonyms = synonym_markers(stems)
    # A typo is looked for when the word and its stem have FUZZY_LENGTH letters or more: one edit
    # to a shorter stem ("танци" → "танц") reaches unrelated words ("станц", of «Станция юных
    # туристов») that are two edits from what was typed.
    typo = [i for i, (stem, length) in enumerate(words)
            if min(length, len(stem)) >= FUZZY_LENGTH and len(stem) <= TERM_LENGTH]
    near = dict(zip(typo, await near_terms(session, [stems[i] for i in typo]))) if typo else {}
    found = []
    for i, stem in enumerate(stems):
        if len(stem) > TERM_LENGTH:   # checked whole in search_text: its own word only
            found.append(_Alternatives())
            continue
        fuzzy = (*near[i], *near_markers(stem)) if i in near else ()
        found.append(_Alternatives(tuple(synonyms[i]), tuple(dict.fromkeys((*synonyms[i], *fuzzy)))))
    return found


def _values(filters: SearchFilters, clock: Clock | None, terms: list[str],
            alternatives: list[_Alternatives] | None = None) -> dict[str, object]:
    today = clock.today() if clock is not None else None
    values: dict[str, object] = {
        "municipality": filters.municipality_id, "category": filters.category, "age": filters.age,
        "funding": Funding.CERTIFICATE, "today": today,
        "count_limit": COUNT_LIMIT + 1, "drive_limit": DRIVE_COUNT_LIMIT + 1}
    if terms:
        values.update(
            categories=[filters.category] if filters.category else list(Category),
            fundings=[Funding.CERTIFICATE] if filters.certificate_only else list(Funding),
            age_low=filters.age if filters.age is not None else _ANY_AGE[0],
            age_high=filters.age if filters.age is not None else _ANY_AGE[1],
            from_date=today or dt.date.min)
    for i, term in enumerate(terms):
        values[f"low{i}"], values[f"high{i}"] = term_range(term)
        values[f"like{i}"] = like_pattern(term)
        other = alternatives[i] if alternatives else _Alternatives()
        values[f"synonyms{i}"] = list(other.synonyms) or _NO_TERMS
        values[f"others{i}"] = list(other.others) or _NO_TERMS
    return values


def _unindexed(column):  # type: ignore[no-untyped-def]
    """SQLite's `+column`: the same value, but no index is chosen for it."""
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def _plain(column):  # type: ignore[no-untyped-def]
    return column


def _word_range(i: int, has_end: bool, terms=ProgramTerm):  # type: ignore[no-untyped-def]
    condition = terms.term >= bindparam(f"low{i}", type_=ProgramTerm.term.type)
    if has_end:
        condition = condition & (terms.term < bindparam(f"high{i}", type_=ProgramTerm.term.type))
    return condition


def _filters(shape: _Shape, hide=_plain) -> list:  # type: ignore[no-untyped-def]
    """The filters of a search without words, on Program."""
    conditions = []
    if shape.municipality:
        conditions.append(hide(Program.municipality_id) == bindparam("municipality", type_=Integer))
    if shape.category:
        conditions.append(hide(Program.category) == bindparam("category", type_=Program.category.type))
    if shape.certificate_only:
        conditions.append(hide(Program.funding) == bindparam("funding", type_=Program.funding.type))
    if shape.age:
        conditions.append(Program.age_min <= bindparam("age", type_=Integer))
        conditions.append(Program.age_max >= bindparam("age", type_=Integer))
    if shape.dated:
        conditions.append(Program.end_date >= bindparam("today", type_=Program.end_date.type))
    return conditions


def _word_filters(shape: _Shape, rows=ProgramTerm) -> list:  # type: ignore[no-untyped-def]
    """The filters of a worded search, on the word index's rows. All of them are always
    there, one not asked for bound to let everything pass (_values): the statements differ
    only by municipality and words, not by every combination of filters. Building and
    compiling a new statement costs 6-13 ms, and first sights of the 16 combinations were
    most of the slowest twentieth of the searches (bench/, benchmark 4). The range of
    words (or of the municipality's words) is what an index reads; these are checked on
    the rows it reads either way."""
    conditions = [rows.category.in_(bindparam("categories", expanding=True)),
                  rows.funding.in_(bindparam("fundings", expanding=True)),
                  rows.age_min <= bindparam("age_high", type_=Integer),
                  rows.age_max >= bindparam("age_low", type_=Integer),
                  rows.end_date >= bindparam("from_date", type_=Program.end_date.type)]
    if shape.municipality:
        conditions.insert(0, rows.municipality_id == bindparam("municipality", type_=Integer))
    return conditions


def _in_list(name: str, terms=ProgramTerm):  # type: ignore[no-untyped-def]
    return terms.term.in_(bindparam(name, expanding=True, type_=ProgramTerm.term.type))


def _other_level(i: int, terms=ProgramTerm):  # type: ignore[no-untyped-def]
    """The level of a row found among word i's other terms."""
    return case((_in_list(f"synonyms{i}", terms), SYNONYM), else_=FUZZY)


def _word_rows(shape: _Shape, i: int) -> list[Select]:
    """Word i's rows in the word index, filters checked beside them: (program id, title,
    level, i), from its own range and from its other terms (two index reads)."""
    own, other = aliased(ProgramTerm), aliased(ProgramTerm)
    return [select(own.program_id, own.title, literal_column(str(EXACT), Integer).label("level"),
                   literal_column(str(i), Integer).label("word"))
            .where(_word_range(i, shape.terms[i][0], own), *_word_filters(shape, own)),
            select(other.program_id, other.title, _other_level(i, other).label("level"),
                   literal_column(str(i), Integer).label("word"))
            .where(_in_list(f"others{i}", other), *_word_filters(shape, other))]


def _probed_level(i: int, has_end: bool, program_id):  # type: ignore[no-untyped-def]
    """Word i's level in the program `program_id` (NULL: not there). One probe of the
    index (program_id, term); OFFSET 0 keeps PostgreSQL from turning the probe into a join
    that reads the word's whole range."""
    other = aliased(ProgramTerm)
    own = _word_range(i, has_end, other)
    return (select(func.min(case((own, EXACT), else_=_other_level(i, other))))
            .where(other.program_id == program_id, or_(own, _in_list(f"others{i}", other)))
            .offset(0).scalar_subquery())


def _long_word(i: int, program_id):  # type: ignore[no-untyped-def]
    """A word longer than the index keeps: its whole stem is checked in search_text."""
    program = aliased(Program)
    return exists(select(program.id).where(
        program.id == program_id, program.search_text.like(bindparam(f"like{i}", type_=Program.search_text.type))))


def _word_matches(shape: _Shape) -> Select:
    """(program id, title, level) of the programs matching a worded search, each once, from
    the word index: the rows of the driving word and of the words read as sets, grouped by
    program (a hash or a sort on both databases, never a join a planner might run as a
    nested loop, PostgreSQL's estimate of a prefix range being a row or two): a program
    has each of those words at its best level, and all of them; then each other word
    probed. A program's level is its worst word's."""
    read = (shape.drive, *shape.sets)
    rows = union_all(*[part for i in read for part in _word_rows(shape, i)]).subquery("word_rows")
    if len(read) == 1:
        found = select(rows.c.program_id, rows.c.title, func.min(rows.c.level).label("level")) \
            .group_by(rows.c.program_id, rows.c.title)
    else:
        best = select(rows.c.program_id, rows.c.title, rows.c.word, func.min(rows.c.level).label("level")) \
            .group_by(rows.c.program_id, rows.c.title, rows.c.word).subquery("best")
        found = select(best.c.program_id, best.c.title, func.max(best.c.level).label("level")) \
            .group_by(best.c.program_id, best.c.title).having(func.count() == len(read))
    found = found.subquery("found")
    probed = [i for i in range(len(shape.terms)) if i not in read]
    longs = [i for i, (_has_end, long) in enumerate(shape.terms) if long]
    if not probed:
        return select(found.c.program_id, found.c.title, found.c.level).where(
            *[_long_word(i, found.c.program_id) for i in longs])
    # OFFSET 0: each probe runs once a program, not again where its level is used.
    levels = select(found.c.program_id, found.c.title, found.c.level, *[
        _probed_level(i, shape.terms[i][0], found.c.program_id).label(f"level{i}") for i in probed]) \
        .offset(0).subquery("levels")
    worst = (func.max if shape.sqlite else func.greatest)(
        levels.c.level, *[levels.c[f"level{i}"] for i in probed])
    return select(levels.c.program_id, levels.c.title, worst.label("level")).where(
        *[levels.c[f"level{i}"].is_not(None) for i in probed],
        *[_long_word(i, levels.c.program_id) for i in longs])


def _conditions(shape: _Shape, title_walk: bool = False) -> list:
    """The WHERE clauses of a search without words, on Program. On SQLite's walk by title
    the filters' indexes are hidden, so that the title index drives."""
    return _filters(shape, _unindexed if shape.sqlite and title_walk else _plain)


@lru_cache(maxsize=512)
def _drive_counts_statement(shape: _Shape) -> Select:
    """Each word's programs passing the filters, from the word index, each counted up to
    DRIVE_COUNT_LIMIT + 1 (a program counted once per stem of the range: an estimate)."""
    return select(*[
        select(func.count()).select_from(
            union_all(*[part.with_only_columns(part.selected_columns[0]) for part in _word_rows(shape, i)])
            .limit(bindparam("drive_limit", type_=Integer)).subquery()).scalar_subquery()
        for i in range(len(shape.terms))])


@lru_cache(maxsize=512)
def _count_statement(shape: _Shape, capped: bool) -> Select:
    """The number of matches of a search without words; with `capped`, at most COUNT_LIMIT + 1."""
    hits = select(Program.id).where(*_conditions(shape))
    if capped:
        hits = hits.limit(bindparam("count_limit", type_=Integer))
    return select(func.count()).select_from(hits.subquery())


@lru_cache(maxsize=512)
def _sorted_page_statement(shape: _Shape) -> Select:
    """The page's ids of a search without words, sorted in the database."""
    return (select(Program.id).where(*_conditions(shape)).order_by(_title(shape, Program.title), Program.id)
            .offset(bindparam("offset", type_=Integer)).limit(bindparam("size", type_=Integer)))


@lru_cache(maxsize=512)
def _worded_page_statement(shape: _Shape) -> Select:
    """(id, total) of a worded search's page, by level (EXACT, SYNONYM, FUZZY), title, id;
    past the last page, the last page's. The matches are read from the word index once, counted and sorted there:
    only the page's ids leave the database."""
    matches = _word_matches(shape).cte("matches").prefix_with("MATERIALIZED")
    total = select(func.count()).select_from(matches).scalar_subquery()
    offset, size = bindparam("offset", type_=Integer), bindparam("size", type_=Integer)
    first = case((offset < total, offset), (total > 0, (total - 1) // size * size), else_=0)
    return (select(matches.c.program_id, total)
            .order_by(matches.c.level, _title(shape, matches.c.title), matches.c.program_id)
            .offset(first).limit(size))


def _title(shape: _Shape, title):  # type: ignore[no-untyped-def]
    """A title to sort by: by code point, as SQLite compares text, on
    PostgreSQL too (its index by title, migration 0004, is COLLATE "C")."""
    return title if shape.sqlite else title.collate("C")


@lru_cache(maxsize=512)
def _title_walk_statement(shape: _Shape) -> Select:
    """A page of a broad search, and one row more, walking the index by title."""
    return (select(Program.id).where(*_conditions(shape, title_walk=True))
            .order_by(_title(shape, Program.title), Program.id)
            .offset(bindparam("offset", type_=Integer)).limit(bindparam("size", type_=Integer)))


async def _run(session: AsyncSession, statement: Select, values: dict[str, object]):  # type: ignore[no-untyped-def]
    """A Core statement on the session's connection: the ORM's execute
    costs about 0.5 ms a statement more (profile of bench/, benchmark 4)."""
    return await (await session.connection()).execute(statement, values)


async def _driving(session: AsyncSession, shape: _Shape, values: dict[str, object]) -> _Shape:
    """The shape with the word whose programs are fewest driving, and the sets to look up
    in (see DRIVE_COUNT_LIMIT)."""
    if len(shape.terms) < 2:
        return shape
    counts = list((await _run(session, _drive_counts_statement(shape), values)).one())
    drive = counts.index(min(counts))
    sets = tuple(i for i, count in enumerate(counts) if i != drive and count <= DRIVE_COUNT_LIMIT
                 and count <= SET_SPREAD * max(counts[drive], 1))
    return replace(shape, drive=drive, sets=sets)


async def search(session: AsyncSession, filters: SearchFilters, page: int = 0,
                 page_size: int = 5, clock: Clock | None = None) -> SearchPage:
    """One page of programs matching every filter, by title then id; a worded search's
    first the programs with every word itself, then those with a word's synonym (the
    thesaurus, core/thesaurus_data.py), then those with a word one typo away.

    A worded search counts its matches and returns the page in one statement
    (the last page when `page` is past the end), from the word index, driven
    by its rarest word (_driving). A search with neither a municipality nor
    words counts at most COUNT_LIMIT + 1 matches; past that its page is read
    from the index by title, without sorting.
    """
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    page = max(int(page), 0)
    words = query_words(filters.words)
    terms = [stem for stem, _length in words]
    values = _values(filters, clock, terms, await _alternatives(session, words) if words else None)
    shape = _shape(filters, clock, terms, sqlite=session.bind.dialect.name == "sqlite")
    shape = await _driving(session, shape, values)
    bounds = {"offset": page * page_size, "size": page_size}
    more = False
    if shape.terms:
        rows = (await _run(session, _worded_page_statement(shape), {**values, **bounds})).all()
        total = rows[0][1] if rows else 0
        page = min(page, max(0, (total - 1) // page_size))
        ids = [row[0] for row in rows]
    else:
        total = (await _run(session, _count_statement(shape, shape.capped), values)).scalar_one()
        more = shape.capped and total > COUNT_LIMIT
        if not more:
            page = min(page, max(0, (total - 1) // page_size))
            ids = list((await _run(session, _sorted_page_statement(shape), {
                **values, "offset": page * page_size, "size": page_size})).scalars()) if total else []
    if more:
        ids = await _title_walk(session, shape, values, page, page_size)
        if not ids and page:   # past the end of a broad search (an old button): count it all, once
            count = (await _run(session, _count_statement(shape, False), values)).scalar_one()
            page = max(0, -(-count // page_size) - 1)
            ids = await _title_walk(session, shape, values, page, page_size)
        pages = page + (2 if len(ids) > page_size else 1)
        ids = ids[:page_size]
    else:
        pages = max(1, -(-total // page_size))
    by_id = {p.id: p for p in (await session.execute(
        select(Program).where(Program.id.in_(ids)))).scalars()} if ids else {}
    items = [by_id[i] for i in ids if i in by_id]
    return SearchPage(items=items, total=total, page=page, pages=pages, more=more)


async def _title_walk(session: AsyncSession, shape: _Shape, values: dict[str, object],
                      page: int, page_size: int) -> list[int]:
    return list((await _run(session, _title_walk_statement(shape), {
        **values, "offset": page * page_size, "size": page_size + 1})).scalars())


# What warm_up() searches for: no program is in municipality 0, aged 0, or has this word.
_NOTHING = SearchFilters(municipality_id=0, category=Category.TECHNICAL, age=0, certificate_only=True)
_NO_SUCH_WORDS = ("ъъъъ", "ыыыы")


async def warm_up(session: AsyncSession, clock: Clock) -> int:
    """Run each statement the common searches use once, matching nothing (or counting at
    most COUNT_LIMIT programs), so that no parent's search waits for SQLAlchemy to build
    and compile it: 3-13 ms a statement, paid at the first search of each combination of
    filters and number of words (bench/, benchmark 4); and read the word index's words
    the typos are looked for in. The bot calls it at start; it takes well under a second.
    Returns how many statements ran."""
    sqlite = session.bind.dialect.name == "sqlite"
    ran = 0

    async def execute(statement: Select, values: dict[str, object]) -> None:
        nonlocal ran
        await _run(session, statement, {**values, "offset": 0, "size": 1})
        ran += 1

    await near_terms(session, [])   # the index's words, for typos (core/search_vocabulary.py)
    values = _values(_NOTHING, clock, [])
    for municipality, category, certificate_only, age in product((False, True), repeat=4):
        shape = _Shape(municipality=municipality, category=category, certificate_only=certificate_only,
                       age=age, dated=True, sqlite=sqlite)
        await execute(_count_statement(shape, shape.capped), values)
        await execute(_sorted_page_statement(shape), values)
        if shape.capped:
            await execute(_count_statement(shape, False), values)
            await execute(_title_walk_statement(shape), values)
    for municipality in (False, True):
        for words in (1, 2):
            terms = list(_NO_SUCH_WORDS[:words])
            shape = _shape(replace(_NOTHING, words=" ".join(terms)), clock, terms, sqlite)
            shape = replace(shape, municipality=municipality)
            values = _values(_NOTHING, clock, terms)
            if words == 1:
                await execute(_worded_page_statement(shape), values)
                continue
            await execute(_drive_counts_statement(shape), values)
            for drive in (0, 1):
                for sets in ((), (1 - drive,)):
                    await execute(_worded_page_statement(replace(shape, drive=drive, sets=sets)), values)
    return ran


async def get_program(session: AsyncSession, program_id: int) -> Program:
    program = await session.get(Program, program_id)
    if program is None:
        raise NotFound("program", program_id=program_id)
    return program


async def list_municipalities(session: AsyncSession) -> list[Municipality]:
    """Municipalities a parent can pick: the operator's registry (core/municipalities.py)."""
    return await municipalities.list_all(session)
