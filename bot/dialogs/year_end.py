"""The December words shared by /balance, the year's plan and the year-end reminder:
how much of each certificate expires on 31 December («11 500 ₽ сгорят 31 декабря»),
and the programs that can still take it this month, numbered, each with a card button."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.screen import Button
from core import year_end
from core.clock import Clock
from core.costing import price_per_month
from core.models import Certificate, Child, Program, Unit

NUMBERS_PER_ROW = 5   # VK: at most 5 buttons a row


@dataclass(frozen=True)
class December:
    """One certificate's free remainder about to expire, and where it could still go."""
    expiring: year_end.Expiring
    programs: list[Program]


async def december(session: AsyncSession, child: Child, certificate: Certificate | None,
                   clock: Clock) -> December | None:
    """None before December, or when nothing on the certificate is free."""
    if certificate is None:
        return None
    left = await year_end.expiring(session, certificate, clock)
    if left is None:
        return None
    return December(expiring=left, programs=await year_end.december_programs(session, child, left.unit, clock))


def expires_verb(value: int, unit: Unit) -> str:
    """«1 500 ₽ сгорят», «21 ч сгорит»: the verb agrees with the number said last."""
    if unit is Unit.RUB:
        if value % 100:
            return texts.EXPIRES_VERB_MANY   # «1 234,50 ₽ сгорят»
        value //= 100
    if value % 10 == 1 and value % 100 != 11:
        return texts.EXPIRES_VERB_ONE
    return texts.EXPIRES_VERB_MANY


def expires_words(left: year_end.Expiring) -> dict[str, str]:
    return {"amount": fmt.amount(left.free, left.unit), "verb": expires_verb(left.free, left.unit)}


def suggestion_lines(programs: list[Program], unit: Unit, first: int) -> list[str]:
    """The programs numbered from `first`, each with its monthly price in the certificate's unit."""
    return [texts.EXPIRES_SUGGEST_ITEM.format(n=n, title=fmt.quoted(program.title),
                                              price=fmt.amount(price_per_month(program, unit), unit))
            for n, program in enumerate(programs, first)]


def number_rows(programs: list[Program]) -> list[tuple[Button, ...]]:
    """Buttons «1», «2», … opening each program's card, five a row."""
    buttons = [Button(str(n), f"card:{program.id}") for n, program in enumerate(programs, 1)]
    return [tuple(buttons[i:i + NUMBERS_PER_ROW]) for i in range(0, len(buttons), NUMBERS_PER_ROW)]
