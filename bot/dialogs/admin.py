"""Operator commands in the chat, for the ids in ADMIN_IDS only.

To anybody else /stats does not exist: it answers like any unknown command.
"""
from __future__ import annotations

from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, command
from bot.dialogs import texts
from core.errors import DomainError


@command("stats", consent=False)
async def stats(ctx: Ctx, words: str) -> Screen:
    if not ctx.settings.is_admin(ctx.platform, ctx.user_id):
        raise DomainError("unknown_command")
    from bot.stats import stats_screen

    screen = await stats_screen(ctx.session)
    return Screen(text=screen.text, rows=((Button(texts.BTN_MENU, "cmd:menu"),),))
