"""/start (greeting and consent), the main menu, /help, /cancel and /forget."""
from __future__ import annotations

from bot.dialogs import texts
from bot.dialogs.screen import Button, Reply, Screen
from bot.dialogs.state import COMMAND_HANDLERS, Ctx, Stale, action, command, on_text, rows, step
from core import parents


def menu_button() -> Button:
    return Button(texts.BTN_MENU, "cmd:menu")


# --- screens ---------------------------------------------------------------------
@step("consent")
async def consent_screen(ctx: Ctx) -> Screen:
    return Screen(
        text=f"{texts.GREETING}\n\n{texts.CONSENT}",
        rows=rows(Button(texts.BTN_AGREE, "consent:yes"), Button(texts.BTN_DISAGREE, "consent:no"),
                  Button(texts.BTN_HELP, "cmd:help")),
    )


@step("declined")
async def declined_screen(ctx: Ctx) -> Screen:
    return Screen(text=texts.CONSENT_DECLINED,
                  rows=rows(Button(texts.BTN_START_AGAIN, "cmd:start"), Button(texts.BTN_HELP, "cmd:help")))


@step("menu")
async def menu_screen(ctx: Ctx) -> Screen:
    return Screen(
        text=texts.MENU,
        rows=rows(
            [Button(texts.BTN_FIND, "cmd:find"), Button(texts.BTN_CHILDREN, "cmd:children")],
            [Button(texts.BTN_BALANCE, "cmd:balance"), Button(texts.BTN_ENROLLMENTS, "cmd:enrollments")],
            [Button(texts.BTN_SUBSCRIPTIONS, "cmd:subscribe"), Button(texts.BTN_HELP, "cmd:help")],
        ),
    )


@step("help")
async def help_screen(ctx: Ctx) -> Screen:
    back = menu_button() if await ctx.consented() else Button(texts.BTN_BACK, "cmd:start")
    return Screen(text=texts.HELP, rows=rows(back))


@step("forget.ask")
async def forget_screen(ctx: Ctx) -> Screen:
    return Screen(text=texts.FORGET_ASK,
                  rows=rows(Button(texts.BTN_FORGET_YES, "forget:yes"), Button(texts.BTN_NO, "cmd:menu")))


# --- commands ---------------------------------------------------------------------
@command("start", consent=False)
async def start(ctx: Ctx, words: str) -> Screen:
    if await ctx.consented():
        return await ctx.show("menu", texts.GREETING)
    return await ctx.show("consent")


@command("menu")
async def menu(ctx: Ctx, words: str) -> Screen:
    return await ctx.show("menu")


@command("help", consent=False)
async def help_(ctx: Ctx, words: str) -> Screen:
    return await ctx.show("help")


@command("cancel", consent=False)
async def cancel(ctx: Ctx, words: str) -> Screen:
    if not await ctx.consented():
        return await ctx.show("consent", texts.CANCELLED)
    return await ctx.show("menu", texts.CANCELLED)


@command("forget")
async def forget(ctx: Ctx, words: str) -> Screen:
    return await ctx.show("forget.ask")


# --- buttons -------------------------------------------------------------------------
@action("cmd", consent=False)
async def press_command(ctx: Ctx, args: list[str]) -> Reply | Screen:
    """A menu button: the same as typing the command."""
    if len(args) != 1 or args[0] not in COMMAND_HANDLERS:
        raise Stale()
    handler, needs_consent = COMMAND_HANDLERS[args[0]]
    if needs_consent:
        await ctx.require_parent()
    return await handler(ctx, "")


@action("consent", consent=False)
async def press_consent(ctx: Ctx, args: list[str]) -> Screen:
    if args == ["yes"]:
        parent = await parents.ensure_parent(ctx.session, ctx.platform, ctx.user_id)
        await parents.give_consent(ctx.session, parent, ctx.clock)
        ctx.set_parent(parent)
        return await ctx.show("menu", texts.CONSENT_THANKS)
    if args == ["no"]:
        if await ctx.consented():
            # An old consent screen: agreeing once is withdrawn only by /forget.
            raise Stale()
        return await ctx.show("declined")
    raise Stale()


@action("forget")
async def press_forget(ctx: Ctx, args: list[str]) -> Screen:
    if args != ["yes"] or ctx.step_name != "forget.ask":
        raise Stale()
    parent = await ctx.require_parent()
    await parents.forget_parent(ctx.session, parent, ctx.clock)
    # forget_parent removed the DialogState row; a later message starts afresh.
    ctx.drop_state = True
    return Screen(text=texts.FORGET_DONE, rows=rows(Button(texts.BTN_START_AGAIN, "cmd:start")))


@on_text("consent")
async def consent_text(ctx: Ctx, text: str) -> Screen:
    return await ctx.show("consent", texts.CHOOSE_BUTTON)
