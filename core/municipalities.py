"""Municipalities: a registry kept by the operator (SPEC §1), referred to by id
(short enough for a button).

A municipality exists only once registered: `python -m bot municipality add`,
`import-programs --new-municipalities` (a region's first load) or the demo
seed. Everything else looks names up and refuses an unknown one, naming the
closest registered name, so an operator's typo cannot create a town that
parents then pick. A typo already in the registry is fixed by `rename`, which
can merge it into the right municipality.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import DomainError, NotFound
from core.models import Child, Municipality, Nominal, Program, ProgramTerm, Subscription

# How alike (difflib's ratio of the normalised names, 0..1) a registered name
# must be to be offered as "did you mean"; "Пятигорск" ~ "г. Пятигорск" is 0.86,
# "Шпаковский округ" ~ "Шпаковский муниципальный округ" 0.70, unrelated towns < 0.45.
CLOSE_ENOUGH = 0.6


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 200:
        raise DomainError("municipality_invalid", name=name[:50])
    return cleaned


def _key(name: str) -> str:
    """What a human would not tell apart: case, ё/е, runs of spaces."""
    return " ".join(name.casefold().replace("ё", "е").split())


def closest_name(name: str, registered: Iterable[str]) -> str | None:
    """The registered name most like `name`, or None when none is close."""
    by_key: dict[str, str] = {}
    for candidate in sorted(registered):
        by_key.setdefault(_key(candidate), candidate)
    found = difflib.get_close_matches(_key(name), list(by_key), n=1, cutoff=CLOSE_ENOUGH)
    return by_key[found[0]] if found else None


async def names(session: AsyncSession) -> list[str]:
    return list((await session.execute(select(Municipality.name).order_by(Municipality.name))).scalars())


async def _by_name(session: AsyncSession, name: str, *, for_update: bool = False) -> Municipality | None:
    stmt = select(Municipality).where(Municipality.name == name)
    if for_update:
        # PostgreSQL: a child or program added to it meanwhile waits for the rename.
        # SQLite: the write transaction already holds the database lock.
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def _unknown(session: AsyncSession, name: str) -> DomainError:
    return DomainError("municipality_unknown", name=name,
                       closest=closest_name(name, await names(session)) or "")


async def find(session: AsyncSession, name: str, *, for_update: bool = False) -> Municipality:
    """A registered municipality by its exact name; refuses an unknown name
    (`municipality_unknown`, with the closest registered name or "")."""
    cleaned = clean_name(name)
    found = await _by_name(session, cleaned, for_update=for_update)
    if found is None:
        raise await _unknown(session, cleaned)
    return found


async def register(session: AsyncSession, name: str) -> Municipality:
    """The municipality of this name, registered now if it was not. Only for the
    operator's own registrations (import --new-municipalities, the demo seed)."""
    cleaned = clean_name(name)
    found = await _by_name(session, cleaned)
    if found is None:
        found = Municipality(name=cleaned)
        session.add(found)
        await session.flush()
    return found



async def add(session: AsyncSession, name: str) -> Municipality:
    """`municipality add`: a new name; refuses one already registered, also when
    it differs from a registered name only in case, ё/е or spaces."""
    cleaned = clean_name(name)
    same = [existing for existing in await names(session) if _key(existing) == _key(cleaned)]
    if same:
        raise DomainError("municipality_exists", name=cleaned, existing=same[0])
    municipality = Municipality(name=cleaned)
    session.add(municipality)
    await session.flush()
    return municipality


async def get(session: AsyncSession, municipality_id: int) -> Municipality:
    found = await session.get(Municipality, municipality_id)
    if found is None:
        raise NotFound("municipality", municipality_id=municipality_id)
    return found


async def list_all(session: AsyncSession) -> list[Municipality]:
    return list((await session.execute(
        select(Municipality).order_by(Municipality.name, Municipality.id))).scalars())


# --- the operator's view ----------------------------------------------------

@dataclass(frozen=True)
class Summary:
    id: int
    name: str
    programs: int
    children: int
    subscriptions: int
    nominal_years: tuple[int, ...]


async def summaries(session: AsyncSession) -> list[Summary]:
    """Every registered municipality with what refers to it (`municipality list`)."""
    async def counts(column) -> dict[int, int]:  # type: ignore[no-untyped-def]
        return dict((await session.execute(select(column, func.count()).group_by(column))).all())

    programs = await counts(Program.municipality_id)
    children = await counts(Child.municipality_id)
    subscriptions = await counts(Subscription.municipality_id)
    years: dict[int, list[int]] = {}
    for municipality_id, year in await session.execute(
            select(Nominal.municipality_id, Nominal.year).order_by(Nominal.year)):
        years.setdefault(municipality_id, []).append(year)
    return [Summary(m.id, m.name, programs.get(m.id, 0), children.get(m.id, 0), subscriptions.get(m.id, 0),
                    tuple(years.get(m.id, ()))) for m in await list_all(session)]


# --- rename and merge -------------------------------------------------------

@dataclass(frozen=True)
class Renamed:
    old: str
    new: str
    merged: bool
    programs: int = 0
    children: int = 0
    subscriptions: int = 0
    nominals: int = 0


async def rename(session: AsyncSession, old: str, new: str, *, merge: bool = False) -> Renamed:
    """Fix a name. When `new` is already registered, only with `merge`: then
    everything of `old` (programs and their word-index rows, children,
    subscriptions, nominals) moves to `new` and `old` is removed. Refusals
    raise before anything is written; the caller's transaction holds it all."""
    source = await find(session, old, for_update=True)
    target_name = clean_name(new)
    if target_name == source.name:
        raise DomainError("municipality_same_name", name=source.name)
    target = await _by_name(session, target_name, for_update=True)
    if target is None:
        like = [name for name in await names(session)
                if name != source.name and _key(name) == _key(target_name)]
        if like:
            # "г. пятигорск" beside "г. Пятигорск" would be the same town twice.
            raise DomainError("municipality_exists", name=target_name, existing=like[0])
        old_name, source.name = source.name, target_name
        await session.flush()
        return Renamed(old=old_name, new=target_name, merged=False)
    if not merge:
        raise DomainError("municipality_merge_needed", old=source.name, new=target.name)
    return await _merge(session, source, target)


async def _merge(session: AsyncSession, source: Municipality, target: Municipality) -> Renamed:
    old_name, new_name = source.name, target.name
    nominals = {row.year: row for row in (await session.execute(
        select(Nominal).where(Nominal.municipality_id == target.id))).scalars()}
    moving = list((await session.execute(
        select(Nominal).where(Nominal.municipality_id == source.id))).scalars())
    clashes = [n.year for n in moving
               if n.year in nominals and (n.amount, n.unit) != (nominals[n.year].amount, nominals[n.year].unit)]
    if clashes:
        raise DomainError("municipality_nominals_differ", old=old_name, new=new_name,
                          years=", ".join(str(year) for year in sorted(clashes)))
    duplicate_years = [n.year for n in moving if n.year in nominals]

    async def move(model, column) -> int:  # type: ignore[no-untyped-def]
        result = await session.execute(
            update(model).where(column == source.id).values({column.key: target.id})
            .execution_options(synchronize_session=False))
        return result.rowcount

    if duplicate_years:
        await session.execute(delete(Nominal).where(
            Nominal.municipality_id == source.id, Nominal.year.in_(duplicate_years)))
    nominals_moved = await move(Nominal, Nominal.municipality_id)
    programs = await move(Program, Program.municipality_id)
    await move(ProgramTerm, ProgramTerm.municipality_id)
    children = await move(Child, Child.municipality_id)
    subscriptions = await move(Subscription, Subscription.municipality_id)
    await session.execute(delete(Municipality).where(Municipality.id == source.id))
    # Objects already loaded in this session still point at the removed row.
    session.expire_all()
    return Renamed(old=old_name, new=new_name, merged=True, programs=programs, children=children,
                   subscriptions=subscriptions, nominals=nominals_moved + len(duplicate_years))
