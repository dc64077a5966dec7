"""The program catalog: search with filters and pages, one program, municipalities.

Also the parsers of the catalog's coded values (category, funding, provider
kind), shared by the import and the operator's tools: they accept the code
("technical") or the Russian name ("Техническая").
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

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
    total: int
    page: int     # 0-based, clamped into [0, pages-1]
    pages: int    # at least 1, even when nothing was found

    @property
    def has_prev(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page < self.pages - 1


def search_conditions(filters: SearchFilters, clock: Clock | None = None) -> list:
    """The WHERE clauses of a search (also usable to count or to explain)."""
    conditions = []
    if filters.municipality_id is not None:
        conditions.append(Program.municipality_id == filters.municipality_id)
    if filters.category is not None:
        conditions.append(Program.category == filters.category)
    if filters.certificate_only:
        conditions.append(Program.funding == Funding.CERTIFICATE)
    if filters.age is not None:
        conditions.append(Program.age_min <= filters.age)
        conditions.append(Program.age_max >= filters.age)
    if clock is not None:
        conditions.append(Program.end_date >= clock.today())
    # Every word must match (AND), each at the start of some stored word: found
    # in the word index (a range of its key), not by reading every search_text.
    for term in query_terms(filters.words):
        low, high = term_range(term)
        matching = select(ProgramTerm.program_id).where(ProgramTerm.term >= low)
        if high is not None:
            matching = matching.where(ProgramTerm.term < high)
        # With a municipality its index range is the smaller set: the word
        # only filters it (`id + 0` keeps a planner from driving by the word).
        program_id = Program.id + 0 if filters.municipality_id is not None else Program.id
        conditions.append(program_id.in_(matching))
        if len(term) > TERM_LENGTH:  # the index holds only its first letters
            conditions.append(Program.search_text.like(like_pattern(term)))
    return conditions


def search_statement(filters: SearchFilters, clock: Clock | None = None) -> Select:
    return select(Program).where(*search_conditions(filters, clock))


async def search(session: AsyncSession, filters: SearchFilters, page: int = 0,
                 page_size: int = 5, clock: Clock | None = None) -> SearchPage:
    """One page of programs matching every filter, by title then id."""
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    conditions = search_conditions(filters, clock)
    total = (await session.execute(
        select(func.count()).select_from(Program).where(*conditions))).scalar_one()
    pages = max(1, -(-total // page_size))
    page = min(max(int(page), 0), pages - 1)
    items: list[Program] = []
    if total:
        # Ids first (an index holding the filter columns and the title can
        # answer this alone), then only this page's rows.
        ids = list((await session.execute(
            select(Program.id).where(*conditions)
            .order_by(Program.title, Program.id)
            .offset(page * page_size).limit(page_size))).scalars())
        by_id = {p.id: p for p in (await session.execute(
            select(Program).where(Program.id.in_(ids)))).scalars()}
        items = [by_id[i] for i in ids if i in by_id]
    return SearchPage(items=items, total=total, page=page, pages=pages)


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
