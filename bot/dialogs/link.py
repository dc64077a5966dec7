"""/link [CODE] and /unlink: one family across messengers (core/family.py).

/link shows the family's accounts and, on request, a one-time code; /link CODE (or the
code typed on the /link screen) joins this account to the code's family. A refused code
is answered on the /link screen, and the count of wrong tries is kept (the unit of work
commits): five wrong or expired codes pause linking for an hour. /unlink says what each
side keeps, then, on confirmation, this account leaves with nothing.
"""
from __future__ import annotations

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, Stale, action, command, on_text, rows, step
from core import family
from core.models import Parent


def _platform(name: str) -> str:
    return texts.PLATFORM_LABEL.get(name, name)


def _others(accounts: list[Parent], me: Parent) -> str:
    return ", ".join(_platform(account.platform) for account in accounts if account.id != me.id)


@step("link")
async def link_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    accounts = await family.members(ctx.session, parent)
    buttons: list[Button | list[Button]] = [Button(texts.BTN_LINK_NEW_CODE, "link:code")]
    if len(accounts) > 1:
        alerts = await family.alerts_account(ctx.session, parent)
        lines = [(texts.LINK_ACCOUNT_THIS if account.id == parent.id else texts.LINK_ACCOUNT_LINE)
                 .format(platform=_platform(account.platform)) for account in accounts]
        text = texts.LINK_FAMILY.format(accounts="\n".join(lines), alerts=_platform(alerts.platform))
        if alerts.id != parent.id:
            buttons.append(Button(texts.BTN_ALERTS_HERE, "link:here"))
        buttons.append(Button(texts.BTN_UNLINK, "cmd:unlink"))
    else:
        text = texts.LINK_ALONE.format(platform=_platform(parent.platform))
    buttons.append(Button(texts.BTN_MENU, "cmd:menu"))
    return Screen(text=text, rows=rows(*buttons))


async def _show_code(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    code, until = await family.issue_code(ctx.session, parent, ctx.clock)
    return await ctx.show("link", texts.LINK_CODE.format(code=code, until=fmt.moment(until, ctx.clock.tz)))


async def _join(ctx: Ctx, typed: str) -> Screen:
    parent = await ctx.require_parent()
    result = await family.join(ctx.session, parent, typed, ctx.clock)
    if result.outcome == family.JOINED:
        assert result.other is not None
        return await ctx.show("link", texts.LINK_JOINED.format(platform=_platform(result.other.platform)))
    if result.outcome == family.PAUSED:
        assert result.paused_until is not None
        said = texts.LINK_PAUSED.format(until=fmt.moment(result.paused_until, ctx.clock.tz))
    else:
        said = texts.LINK_REFUSED[result.outcome]
        if result.tries_left is not None:
            said += " " + texts.LINK_TRIES_LEFT.format(left=result.tries_left)
    return await ctx.show("link", said)


@command("link")
async def link_command(ctx: Ctx, words: str) -> Screen:
    if words.strip():
        return await _join(ctx, words)
    return await ctx.show("link")


@on_text("link")
async def link_text(ctx: Ctx, text: str) -> Screen:
    return await _join(ctx, text)


@action("link")
async def press_link(ctx: Ctx, args: list[str]) -> Screen:
    if args == ["code"]:
        return await _show_code(ctx)
    if args == ["here"]:
        parent = await ctx.require_parent()
        if not await family.is_linked(ctx.session, parent):
            raise Stale()
        await family.send_alerts_here(ctx.session, parent)
        return await ctx.show("link", texts.LINK_ALERTS_MOVED)
    raise Stale()


# --- /unlink ---------------------------------------------------------------------------
@step("unlink.ask")
async def unlink_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    accounts = await family.members(ctx.session, parent)
    if len(accounts) < 2:
        return Screen(text=texts.UNLINK_NOT_LINKED, rows=rows(Button(texts.BTN_MENU, "cmd:menu")))
    return Screen(text=texts.UNLINK_ASK.format(platform=_platform(parent.platform), others=_others(accounts, parent)),
                  rows=rows([Button(texts.BTN_UNLINK_YES, "unlink:yes"), Button(texts.BTN_NO, "cmd:menu")]))


@command("unlink")
async def unlink_command(ctx: Ctx, words: str) -> Screen:
    return await ctx.show("unlink.ask")


@action("unlink")
async def press_unlink(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    if args != ["yes"] or ctx.step_name != "unlink.ask":
        raise Stale()
    accounts = await family.members(ctx.session, parent)
    others = _others(accounts, parent)
    await family.leave(ctx.session, parent)
    return await ctx.show("menu", texts.UNLINK_DONE.format(others=others))
