"""Sharing a program: a card's «Поделиться» gives a link that opens the card.

Telegram: https://t.me/<bot>?start=p_<id> (the message "/start p_<id>"); VK: the
community's https://vk.me/club<id>?ref=p_<id> (VK puts `ref` in the first message; the
adapter makes it "/start p_<id>"); MAX: https://max.ru/<bot>?start=p_<id> (`bot_started`
with that payload, made "/start p_<id>" by the adapter). Opening one needs no consent:
browsing never does. The terminal chat shows the Telegram link when the bot's Telegram name
is known, otherwise it says sharing works in the messengers.
"""
from __future__ import annotations

import re

from bot.config import Settings
from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, action, int_arg, rows, step
from core import catalog
from core.errors import DomainError

PAYLOAD_PREFIX = "p_"
_PAYLOAD = re.compile(r"^p_(\d{1,12})$")
# A bot's username (Telegram, MAX): letters, digits, underscores.
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def payload(program_id: int) -> str:
    return f"{PAYLOAD_PREFIX}{program_id}"


def shared_program_id(words: str) -> int | None:
    """The program of a deep link's payload ("p_42"); None for anything else."""
    found = _PAYLOAD.match((words or "").strip())
    return int(found.group(1)) if found else None


def looks_shared(words: str) -> bool:
    """A payload meant as a shared program's ("p_…"), working or not."""
    return (words or "").strip().startswith(PAYLOAD_PREFIX)


def share_link(settings: Settings, platform: str, program_id: int) -> str | None:
    """The link that opens the program's card in the bot on `platform`; None when the bot's
    name there is not known (yet)."""
    if platform == "vk":
        group = str(settings.vk_group_id or "").strip().lstrip("-")
        return f"https://vk.me/club{group}?ref={payload(program_id)}" if group.isdigit() else None
    if platform == "max":
        name = settings.max_bot_username.strip().lstrip("@")
        return f"https://max.ru/{name}?start={payload(program_id)}" if _USERNAME.match(name) else None
    name = settings.telegram_bot_username.strip().lstrip("@")
    return f"https://t.me/{name}?start={payload(program_id)}" if _USERNAME.match(name) else None


def share_row(program_id: int) -> list[Button]:
    """The card's button row."""
    return [Button(texts.BTN_SHARE, f"share:{program_id}")]


async def open_shared(ctx: Ctx, words: str) -> Screen | None:
    """/start p_<id>: the program's card; None for any other payload or a program that is
    not in the catalog (/start then says the link does not work and starts as usual)."""
    program_id = shared_program_id(words)
    if program_id is None:
        return None
    try:
        program = await catalog.get_program(ctx.session, program_id)
    except DomainError:
        return None
    return await ctx.show("card", program=program.id)


@step("share")
async def share_screen(ctx: Ctx) -> Screen:
    program = await catalog.get_program(ctx.session, int(ctx.data["program"]))
    link = share_link(ctx.settings, ctx.platform, program.id)
    title = fmt.quoted(program.title)
    text = texts.SHARE_TEXT.format(title=title, link=link) if link else texts.SHARE_NOWHERE.format(title=title)
    return Screen(text=text, rows=rows(Button(texts.BTN_TO_CARD, f"card:{program.id}"),
                                       Button(texts.BTN_MENU, "cmd:menu")))


@action("share", consent=False)
async def press_share(ctx: Ctx, args: list[str]) -> Screen:
    program = await catalog.get_program(ctx.session, int_arg(args, 0))
    return await ctx.show("share", program=program.id)
