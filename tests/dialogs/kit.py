"""A test kit for the dialogs, in the spirit of aiogram-dialog's BotClient:

    client = DialogClient(dialogs, user_id="1")
    await client.send("/start")
    await client.click("Даю согласие")
    assert "Главное меню" in client.last.text

plus helpers that build a small world (municipalities, nominals, programs)
straight through the models and core services, and count rows to prove that
a refusal wrote nothing.
"""
from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import func, select

from bot.config import Settings
from bot.dialogs.engine import Dialogs
from bot.dialogs.screen import Button, Input, Reply, Screen
from core import municipalities
from core.certificates import set_nominal
from core.db import Database
from core.models import (
    Category,
    Certificate,
    Charge,
    Child,
    DialogState,
    Enrollment,
    Funding,
    LedgerEntry,
    Parent,
    Program,
    ProviderKind,
    Subscription,
    Unit,
    WaitlistEntry,
)
from core.search_text import program_search_text

# Valid SNILS numbers (checksums verified by core.snils).
SNILS_1 = "112-233-445 95"
SNILS_2 = "123-456-789 64"
SNILS_3 = "987-654-321 83"
SNILS_BAD = "112-233-445 96"
SNILS_EXEMPT = "001-001-001 00"   # below 001-001-998: no checksum, cannot be confirmed


class DialogClient:
    """One parent talking to the dialogs; remembers the last reply."""

    def __init__(self, dialogs: Dialogs, platform: str = "test", user_id: str = "1") -> None:
        self.dialogs = dialogs
        self.platform = platform
        self.user_id = user_id
        self.replies: list[Reply] = []

    @property
    def reply(self) -> Reply:
        assert self.replies, "nothing was sent yet"
        return self.replies[-1]

    @property
    def last(self) -> Screen:
        assert self.reply.screens, "the last reply has no screen"
        return self.reply.screens[-1]

    @property
    def text(self) -> str:
        """The last screen's text with no-break spaces as plain ones (easier to assert on)."""
        return self.last.text.replace("\u00a0", " ")

    def buttons(self) -> list[Button]:
        return [b for screen in self.reply.screens for b in screen.buttons]

    def labels(self) -> list[str]:
        return [b.label for b in self.buttons()]

    def button(self, label: str) -> Button:
        found = [b for b in self.buttons() if label in b.label]
        if not found:
            raise AssertionError(f"no button {label!r} on the last screen; buttons: {self.labels()}\n"
                                 f"text: {self.last.text}")
        return found[0]

    def has_button(self, label: str) -> bool:
        return any(label in b.label for b in self.buttons())

    async def _do(self, inp: Input) -> Reply:
        reply = await self.dialogs.handle(self.platform, self.user_id, inp)
        assert isinstance(reply, Reply) and reply.screens, "every input gets a screen"
        for screen in reply.screens:
            assert screen.text.strip(), "a screen always says something"
            # VK keyboards: at most 5 buttons a row and 10 rows.
            assert len(screen.rows) <= 10 and all(len(row) <= 5 for row in screen.rows), screen.rows
        self.replies.append(reply)
        return reply

    async def send(self, text: str) -> Reply:
        return await self._do(Input.from_text(text))

    async def click(self, label: str) -> Reply:
        return await self._do(Input.press(self.button(label).action))

    async def press(self, action: str) -> Reply:
        """Press a button by its raw action id (e.g. a forged or stale one)."""
        return await self._do(Input.press(action))

    async def start(self) -> Reply:
        """/start and consent: the parent ends on the main menu."""
        await self.send("/start")
        return await self.click("Даю согласие")

    async def add_child(self, name: str, birth: str, snils: str, municipality: str) -> Reply:
        await self.send("/children")
        await self.click("Добавить ребёнка")
        await self.send(name)
        await self.send(birth)
        await self.send(snils)
        await self.click(municipality)
        return await self.click("Сохранить")


def make_dialogs(db: Database, clock) -> Dialogs:  # type: ignore[no-untyped-def]
    return Dialogs(db, clock, Settings(_env_file=None))


_ids = itertools.count(1)


async def add_program(db: Database, clock, *, municipality: str = "Город Тест", title: str = "Робототехника",  # type: ignore[no-untyped-def]
                      funding: Funding = Funding.CERTIFICATE, price: int | None = 150_000,
                      hours: int | None = None, age_min: int = 5, age_max: int = 17, seats: int = 10,
                      start: dt.date | None = None, end: dt.date | None = None,
                      category: Category = Category.TECHNICAL, provider: str = "ДДТ «Радуга»",
                      description: str = "Собираем роботов", months: str | None = None) -> int:
    today = clock.today()
    async with db.write() as session:
        muni = await municipalities.register(session, municipality)
        program = Program(
            external_id=f"T-{next(_ids)}", title=title, provider=provider, provider_kind=ProviderKind.MUNICIPAL,
            municipality_id=muni.id, category=category, age_min=age_min, age_max=age_max,
            price_per_month=price, hours_per_month=hours,
            start_date=start or dt.date(today.year, 9, 1), end_date=end or dt.date(today.year + 1, 5, 31),
            address="ул. Ленина, 1", schedule="Вт, Чт 16:00", seats=seats, funding=funding,
            description=description, study_months=months,
            search_text=program_search_text(title, provider, description, "ул. Ленина, 1"),
            published_at=clock.now(), updated_at=clock.now())
        session.add(program)
        await session.flush()
        return program.id


async def add_nominal(db: Database, municipality: str, year: int, amount: int, unit: Unit = Unit.RUB) -> None:
    async with db.write() as session:
        await municipalities.register(session, municipality)   # set_nominal itself never registers a town
        await set_nominal(session, municipality, year, amount, unit)


async def count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


DOMAIN_TABLES = (Parent, Child, Certificate, LedgerEntry, Enrollment, Charge, WaitlistEntry, Subscription)


async def snapshot(db: Database) -> dict[str, int]:
    """Row counts of every domain table (a refusal must leave them unchanged)."""
    return {model.__tablename__: await count(db, model) for model in DOMAIN_TABLES}


async def dialog_state(db: Database, platform: str = "test", user_id: str = "1") -> dict | None:
    async with db.read() as session:
        row = await session.get(DialogState, (platform, user_id))
        return None if row is None else dict(row.state)


async def children_of(db: Database, platform: str = "test", user_id: str = "1") -> list[Child]:
    async with db.read() as session:
        parent = (await session.execute(select(Parent).where(
            Parent.platform == platform, Parent.external_id == user_id))).scalar_one()
        return list((await session.execute(
            select(Child).where(Child.parent_id == parent.id).order_by(Child.id))).scalars())
