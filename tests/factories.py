"""Building blocks for domain tests: a consenting parent, a child, a program, a nominal."""
from __future__ import annotations

import datetime as dt
import itertools

from core import municipalities
from core.certificates import set_nominal
from core.children import register_child
from core.clock import Clock
from core.models import Category, Funding, Parent, Program, ProviderKind, Unit
from core.parents import ensure_parent, give_consent
from core.subscriptions import create_subscription

TOWN = "г. Пятигорск"
VALID_SNILS = "112-233-445 95"
_counter = itertools.count(1)


def snils_for(n: int) -> str:
    """A valid SNILS built from a number (checksum computed)."""
    from core.snils import control_number

    first = f"{100_000_000 + n:09d}"
    return first + f"{control_number(first):02d}"


async def parent(session, clock: Clock, external_id: str | None = None, platform: str = "test") -> Parent:
    p = await ensure_parent(session, platform, external_id or str(next(_counter)))
    await give_consent(session, p, clock)
    return p


async def child(session, parent_: Parent, clock: Clock, *, birth_date: dt.date = dt.date(2015, 3, 10),
                snils: str | None = None, town: str = TOWN, name: str = "Иванов Пётр Сергеевич"):
    town_row = await municipalities.register(session, town)
    return await register_child(session, parent_, full_name=name, birth_date=birth_date,
                                snils=snils or snils_for(next(_counter)), municipality_id=town_row.id,
                                clock=clock)


async def program(session, clock: Clock, *, funding: Funding = Funding.CERTIFICATE,
                  price_rub: int | None = 3000, hours: int | None = None, seats: int = 20,
                  start: dt.date = dt.date(2026, 9, 1), end: dt.date = dt.date(2027, 5, 31),
                  age_min: int = 5, age_max: int = 17, town: str = TOWN, title: str = "Робототехника",
                  category: Category = Category.TECHNICAL) -> Program:
    town_row = await municipalities.register(session, town)
    n = next(_counter)
    p = Program(external_id=f"P-{n}", title=f"{title} {n}", provider="МБУ ДО «ЦДТ»",
                provider_kind=ProviderKind.MUNICIPAL, municipality_id=town_row.id, category=category,
                age_min=age_min, age_max=age_max,
                price_per_month=price_rub * 100 if price_rub is not None else None,
                hours_per_month=hours, start_date=start, end_date=end, address="ул. Ленина, 1",
                schedule="Пн, Ср 16:00", seats=seats, funding=funding, description="",
                search_text="", published_at=clock.now(), updated_at=clock.now())
    session.add(p)
    await session.flush()
    return p


async def nominal(session, year: int = 2026, rubles: int | None = 12000, hours: int | None = None,
                  town: str = TOWN):
    await municipalities.register(session, town)   # set_nominal itself never registers a town
    if hours is not None:
        return await set_nominal(session, town, year, hours, Unit.HOURS)
    return await set_nominal(session, town, year, rubles * 100, Unit.RUB)


async def telegram_subscribers(session, users: list[int], town: str, clock: Clock) -> None:
    """Telegram parents (by chat id) who consented and subscribed to `town`'s new programs."""
    muni = await municipalities.register(session, town)
    for user in users:
        parent = await ensure_parent(session, "telegram", str(user))
        await give_consent(session, parent, clock)
        await create_subscription(session, parent, municipality_id=muni.id, categories=[], age=None,
                                  certificate_only=False, clock=clock)
