"""The program catalog: search with filters and pages, one program, municipalities.

Also the parsers of the catalog's coded values (category, funding, provider
kind), shared by the import and the operator's tools: they accept the code
("technical") or the Russian name ("Техническая").
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from sqlalchemy import Integer, bindparam, case, exists, func, intersect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from core.clock import Clock
from core.errors import DomainError, NotFound
from core.models import Category, Funding, Municipality, Nominal, Program, ProgramTerm, ProviderKind
from core.search_text import TERM_LENGTH, like_pattern, query_terms, term_range

MAX_PAGE_SIZE = 50

# Russian names as the regional navigators write them (for parsing only; the
# bot's own labels live in bot/dialogs/texts.py).
_CATEGORY_NAMES: dict[str, Category] = {
    "техническая": Category.TECHNICAL,
    "естественнонаучная": Category.SCIENCE,
    "естественно-научная": Category.SCIENCE,
    "физкультурно-спортивная": Category.SPORT,
    "художественная": Category.ART,
    "туристско-краеведческая": Category.TOURISM,
    "социально-гуманитарная": Category.SOCIAL,
    "социально-педагогическая": Category.SOCIAL,  # the pre-2019 name
}
_FUNDING_NAMES: dict[str, Funding] = {
    "сертификат": Funding.CERTIFICATE,
    "возможна оплата сертификатом": Funding.CERTIFICATE,
    "муниципальная": Funding.MUNICIPAL,
    "бесплатная": Funding.MUNICIPAL,
    "платная": Funding.PAID,
}
_PROVIDER_KIND_NAMES: dict[str, ProviderKind] = {
    "муниципальная": ProviderKind.MUNICIPAL,
    "муниципальный": ProviderKind.MUNICIPAL,
    "частная": ProviderKind.PRIVATE,
    "частный": ProviderKind.PRIVATE,
    "ип": ProviderKind.IP,
    "индивидуальный предприниматель": ProviderKind.IP,
}


def _key(raw: object) -> str:
    return " ".join(str(raw).split()).casefold().replace("ё", "е")


def _parse(raw: object, enum_cls: type, names: dict, reason: str):  # type: ignore[no-untyped-def]
    key = _key(raw) if raw is not None else ""
    for member in enum_cls:
        if key == member.value:
            return member
    if key in names:
        return names[key]
    raise DomainError(reason, value=str(raw)[:50])


def parse_category(raw: object) -> Category:
    return _parse(raw, Category, _CATEGORY_NAMES, "category_invalid")


def parse_funding(raw: object) -> Funding:
    return _parse(raw, Funding, _FUNDING_NAMES, "funding_invalid")


def parse_provider_kind(raw: object) -> ProviderKind:
    return _parse(raw, ProviderKind, _PROVIDER_KIND_NAMES, "provider_kind_invalid")


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
# "more than 1000" and pages on. Counting and sorting tens of thousands of
# programs took 100-350 ms on 100 000 programs (bench/, benchmark 4), and a
# parent narrows such a search rather than reads it.
COUNT_LIMIT = 1000
# A worded search first counts, up to this many, the index rows of each word
# and the programs its municipality or category lets through. The smallest of
# these sets drives: a word's programs are read by id and checked against the
# filters, or the filters' programs are each probed for the words. Its cost
# then follows the smallest set, not the commonest word (a street name in
# every eighth address) nor the whole municipality.
DRIVE_COUNT_LIMIT = 5000
# Sets up to this many times the smallest are intersected with it (INTERSECT);
# a larger one is cheaper to probe for each program the intersection lets through.
DRIVE_SPREAD = 2


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
    # The sets intersected to find the matches: these words' index ranges,
    # and the filters' programs when `drive_filters`; empty: the filters drive.
    drive: tuple[int, ...] = ()
    drive_filters: bool = False
    sqlite: bool = False

    @property
    def capped(self) -> bool:
        return not self.terms and not self.municipality


def _shape(filters: SearchFilters, clock: Clock | None, terms: list[str], sqlite: bool) -> _Shape:
    return _Shape(municipality=filters.municipality_id is not None, category=filters.category is not None,
                  certificate_only=filters.certificate_only, age=filters.age is not None,
                  dated=clock is not None, sqlite=sqlite,
                  terms=tuple((term_range(term)[1] is not None, len(term) > TERM_LENGTH) for term in terms))


def _values(filters: SearchFilters, clock: Clock | None, terms: list[str]) -> dict[str, object]:
    values: dict[str, object] = {
        "municipality": filters.municipality_id, "category": filters.category, "age": filters.age,
        "funding": Funding.CERTIFICATE, "today": clock.today() if clock is not None else None,
        "count_limit": COUNT_LIMIT + 1, "drive_limit": DRIVE_COUNT_LIMIT + 1}
    for i, term in enumerate(terms):
        values[f"low{i}"], values[f"high{i}"] = term_range(term)
        values[f"like{i}"] = like_pattern(term)
    return values


def _unindexed(column):  # type: ignore[no-untyped-def]
    """SQLite's `+column`: the same value, but no index is chosen for it."""
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def _word_range(i: int, has_end: bool):  # type: ignore[no-untyped-def]
    condition = ProgramTerm.term >= bindparam(f"low{i}", type_=ProgramTerm.term.type)
    if has_end:
        condition = condition & (ProgramTerm.term < bindparam(f"high{i}", type_=ProgramTerm.term.type))
    return condition


def _filters(shape: _Shape, hide) -> list:  # type: ignore[no-untyped-def]
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


def _conditions(shape: _Shape, title_walk: bool = False) -> list:
    """The WHERE clauses: every filter, and every word (AND) at the start of
    some stored word, found in the word index ProgramTerm.

    With `shape.drive`, the ids come from the intersection of those words'
    index ranges (and of the filters' programs, `drive_filters`), read as
    sets; the programs are then read by id, the filters' indexes hidden
    (SQLite) so that they do not drive instead. Any other word is probed per
    program (index (program_id, term), migration 0004), OFFSET 0 keeping
    PostgreSQL from turning the probe into a join that reads the word's
    whole range. On the walk by title (SQLite) the filters' indexes are
    hidden as well.
    """
    def plain(column):  # type: ignore[no-untyped-def]
        return column

    hide = _unindexed if shape.sqlite and (title_walk or shape.drive) else plain
    conditions = []
    if shape.drive:
        sets = [select(ProgramTerm.program_id).where(_word_range(i, shape.terms[i][0])) for i in shape.drive]
        if shape.drive_filters:   # after the words, whatever their sizes: rarely the smallest
            sets.append(select(Program.id).where(*_filters(shape, plain)))
        conditions.append(Program.id.in_(intersect(*sets) if len(sets) > 1 else sets[0]))
    if not shape.drive_filters:
        conditions += _filters(shape, hide)
    for i, (has_end, long) in enumerate(shape.terms):
        if i not in shape.drive:
            conditions.append(exists(select(ProgramTerm.program_id).where(
                ProgramTerm.program_id == Program.id, _word_range(i, has_end)).offset(0)))
        if long:  # the index holds only its first letters
            conditions.append(Program.search_text.like(bindparam(f"like{i}", type_=Program.search_text.type)))
    return conditions


@lru_cache(maxsize=512)
def _drive_counts_statement(shape: _Shape) -> Select:
    """The index rows of each word's range, then the programs the filters alone
    let through (when a municipality or a category narrows them), each counted
    up to DRIVE_COUNT_LIMIT + 1."""
    def capped(hits: Select):  # type: ignore[no-untyped-def]
        return select(func.count()).select_from(
            hits.limit(bindparam("drive_limit", type_=Integer)).subquery()).scalar_subquery()

    counts = [capped(select(ProgramTerm.program_id).where(_word_range(i, has_end)))
              for i, (has_end, _long) in enumerate(shape.terms)]
    if shape.municipality or shape.category:
        counts.append(capped(select(Program.id).where(*_conditions(replace(shape, terms=())))))
    return select(*counts)


@lru_cache(maxsize=512)
def _count_statement(shape: _Shape, capped: bool) -> Select:
    """The number of matches; with `capped`, at most COUNT_LIMIT + 1."""
    hits = select(Program.id).where(*_conditions(shape))
    if capped:
        hits = hits.limit(bindparam("count_limit", type_=Integer))
    return select(func.count()).select_from(hits.subquery())


@lru_cache(maxsize=512)
def _sorted_page_statement(shape: _Shape) -> Select:
    """The page's ids of a search without words, sorted in the database."""
    return (select(Program.id).where(*_conditions(shape)).order_by(_title(shape, Program.title), Program.id)
            .offset(bindparam("offset", type_=Integer)).limit(bindparam("size", type_=Integer)))


def _title(shape: _Shape, title):  # type: ignore[no-untyped-def]
    """A title to sort by: by code point, as SQLite compares text, on
    PostgreSQL too (its index by title, migration 0004, is COLLATE "C")."""
    return title if shape.sqlite else title.collate("C")


@lru_cache(maxsize=512)
def _worded_page_statement(shape: _Shape) -> Select:
    """(id, total) of a worded search's page, by title then id; past the
    last page, the last page's.

    The matches are read once into a materialised set, counted, and only the
    page leaves the database: a count and then a sort drove through the word
    index twice, and reading every match into Python cost more than that.
    (A window count(*) OVER () took SQLite 5 ms over 3 000 rows.)
    """
    matches = select(Program.id, Program.title).where(*_conditions(shape)).cte("matches")
    matches = matches.prefix_with("MATERIALIZED")
    total = select(func.count()).select_from(matches).scalar_subquery()
    offset, size = bindparam("offset", type_=Integer), bindparam("size", type_=Integer)
    # (0 - 1) / size is 0 on both databases: an empty search starts at 0.
    first = case((offset < total, offset), else_=(total - 1) // size * size)
    return (select(matches.c.id, total).order_by(_title(shape, matches.c.title), matches.c.id)
            .offset(first).limit(size))


@lru_cache(maxsize=512)
def _title_walk_statement(shape: _Shape) -> Select:
    """A page of a broad search, and one row more, walking the index by title."""
    return (select(Program.id).where(*_conditions(shape, title_walk=True))
            .order_by(_title(shape, Program.title), Program.id)
            .offset(bindparam("offset", type_=Integer)).limit(bindparam("size", type_=Integer)))


def search_conditions(filters: SearchFilters, clock: Clock | None = None) -> list:
    """The WHERE clauses of a search, its values in place (to count or to explain)."""
    terms = query_terms(filters.words)
    values = _values(filters, clock, terms)
    conditions = _conditions(_shape(filters, clock, terms, sqlite=False))
    return [condition.params(values) for condition in conditions]


def search_statement(filters: SearchFilters, clock: Clock | None = None) -> Select:
    return select(Program).where(*search_conditions(filters, clock))


async def _run(session: AsyncSession, statement: Select, values: dict[str, object]):  # type: ignore[no-untyped-def]
    """A Core statement on the session's connection: the ORM's execute
    costs about 0.5 ms a statement more (profile of bench/, benchmark 4)."""
    return await (await session.connection()).execute(statement, values)


async def _driving(session: AsyncSession, shape: _Shape, values: dict[str, object]) -> _Shape:
    """The shape with the sets that drive it (see DRIVE_COUNT_LIMIT): the
    smallest, and any other at most DRIVE_SPREAD times its size."""
    narrowed = shape.municipality or shape.category
    if not shape.terms or (len(shape.terms) == 1 and not narrowed):
        return replace(shape, drive=(0,)) if shape.terms else shape
    counts = list((await _run(session, _drive_counts_statement(shape), values)).one())
    smallest = min(counts)

    def drives(count: int) -> bool:   # a count past DRIVE_COUNT_LIMIT may be far larger
        return count <= smallest * DRIVE_SPREAD and (count <= DRIVE_COUNT_LIMIT or smallest > DRIVE_COUNT_LIMIT)

    # The smallest set first: SQLite keeps the left-most set of an INTERSECT in a temporary index.
    drive = tuple(sorted((i for i in range(len(shape.terms)) if drives(counts[i])), key=counts.__getitem__))
    drive_filters = bool(narrowed) and drives(counts[-1])
    if not drive:   # the filters alone let the fewest programs through: they drive
        return shape
    return replace(shape, drive=drive, drive_filters=drive_filters)


async def search(session: AsyncSession, filters: SearchFilters, page: int = 0,
                 page_size: int = 5, clock: Clock | None = None) -> SearchPage:
    """One page of programs matching every filter, by title then id.

    One statement counts the matches and returns the page (the last one when
    `page` is past the end), driven by the smallest of the words' and the
    filters' sets (_driving). A search with neither a municipality nor words
    counts at most COUNT_LIMIT + 1 matches; past that its page is read from
    the index by title, without sorting.
    """
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    page = max(int(page), 0)
    terms = query_terms(filters.words)
    values = _values(filters, clock, terms)
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


async def get_program(session: AsyncSession, program_id: int) -> Program:
    program = await session.get(Program, program_id)
    if program is None:
        raise NotFound("program", program_id=program_id)
    return program


async def list_municipalities(session: AsyncSession) -> list[Municipality]:
    """Municipalities a parent can pick: those with programs or a nominal."""
    has_programs = exists().where(Program.municipality_id == Municipality.id)
    has_nominal = exists().where(Nominal.municipality_id == Municipality.id)
    return list((await session.execute(
        select(Municipality).where(or_(has_programs, has_nominal))
        .order_by(Municipality.name, Municipality.id))).scalars())
