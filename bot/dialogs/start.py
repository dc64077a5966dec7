"""/start (greeting and the consent document), the main menu, /help and /cancel."""
from __future__ import annotations

from bot.dialogs import texts
from bot.dialogs.consent_document import CONSENT_VERSION, consent_parts
from bot.dialogs.screen import Button, Reply, Screen
from bot.dialogs.share import looks_shared, open_shared
from bot.dialogs.state import COMMAND_HANDLERS, Ctx, Stale, action, command, on_text, rows, step, with_prefix
from core import consent, parents


def menu_button() -> Button:
    return Button(texts.BTN_MENU, "cmd:menu")


# --- screens ---------------------------------------------------------------------
def consent_buttons() -> tuple[tuple[Button, ...], ...]:
    return rows([Button(texts.BTN_AGREE, "consent:yes"), Button(texts.BTN_DISAGREE, "consent:no")],
                Button(texts.BTN_READ_CONSENT, "consent:read"),
                [Button(texts.BTN_BROWSE, "cmd:find"), Button(texts.BTN_HELP, "cmd:help")])


@step("consent")
async def consent_screen(ctx: Ctx) -> Screen:
    if await ctx.consent_outdated():
        text = texts.CONSENT_NEW_VERSION.format(version=CONSENT_VERSION)
    else:
        text = f"{texts.GREETING}\n\n{texts.CONSENT}"
    return Screen(text=text, rows=consent_buttons())


def document_screens(ctx: Ctx) -> list[Screen]:
    """The consent document as messages, the last one asking."""
    return [Screen(text=part) for part in consent_parts(ctx.settings)] + [
        Screen(text=texts.CONSENT_READ_TAIL, rows=consent_buttons())]


async def consent_reply(ctx: Ctx, prefix: str = "") -> Reply:
    """Where a parent without a valid consent is sent. One who agreed to an earlier version
    is shown the new document straight away, and asked."""
    screen = with_prefix(await ctx.show("consent"), prefix)
    if not await ctx.consent_outdated():
        return Reply([screen])
    return Reply([Screen(text=screen.text), *document_screens(ctx)])


@step("declined")
async def declined_screen(ctx: Ctx) -> Screen:
    text = texts.CONSENT_DECLINED_OUTDATED if await ctx.consent_outdated() else texts.CONSENT_DECLINED
    return Screen(text=text, rows=rows(Button(texts.BTN_START_AGAIN, "cmd:start"),
                                       [Button(texts.BTN_BROWSE, "cmd:find"), Button(texts.BTN_HELP, "cmd:help")]))


@step("menu")
async def menu_screen(ctx: Ctx) -> Screen:
    return Screen(
        text=texts.MENU,
        rows=rows(
            [Button(texts.BTN_FIND, "cmd:find"), Button(texts.BTN_CHILDREN, "cmd:children")],
            [Button(texts.BTN_BALANCE, "cmd:balance"), Button(texts.BTN_ENROLLMENTS, "cmd:enrollments")],
            [Button(texts.BTN_SUBSCRIPTIONS, "cmd:subscribe"), Button(texts.BTN_HELP, "cmd:help")],
            Button(texts.BTN_MYDATA, "cmd:mydata"),
        ),
    )


@step("help")
async def help_screen(ctx: Ctx) -> Screen:
    back = menu_button() if await ctx.consented() else Button(texts.BTN_BACK, "cmd:start")
    return Screen(text=texts.HELP, rows=rows(back))


# --- commands ---------------------------------------------------------------------
@command("start", consent=False)
async def start(ctx: Ctx, words: str) -> Reply | Screen:
    # A shared program's link (/start p_<id>) opens its card, before consent too; a broken
    # or forged one says so, then starts as usual.
    prefix = ""
    if looks_shared(words):
        shared = await open_shared(ctx, words)
        if shared is not None:
            return shared
        prefix = texts.SHARE_LINK_BROKEN
    if await ctx.consented():
        return await ctx.show("menu", f"{prefix}\n\n{texts.GREETING}" if prefix else texts.GREETING)
    return await consent_reply(ctx, prefix)


@command("menu", consent=False)
async def menu(ctx: Ctx, words: str) -> Reply | Screen:
    # A parent browsing the catalog before consent comes back to the consent screen.
    if not await ctx.consented():
        return await consent_reply(ctx)
    return await ctx.show("menu")


@command("help", consent=False)
async def help_(ctx: Ctx, words: str) -> Screen:
    return await ctx.show("help")


@command("cancel", consent=False)
async def cancel(ctx: Ctx, words: str) -> Screen:
    if not await ctx.consented():
        return await ctx.show("consent", texts.CANCELLED)
    return await ctx.show("menu", texts.CANCELLED)


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
async def press_consent(ctx: Ctx, args: list[str]) -> Reply | Screen:
    if args == ["read"]:
        # The document as several messages; the last one asks. The parent stays on "consent".
        ctx.state["step"], ctx.state["data"] = "consent", {}
        return Reply(screens=document_screens(ctx))
    if args == ["yes"]:
        if await ctx.consented():
            return await ctx.show("menu")
        parent = await parents.ensure_parent(ctx.session, ctx.platform, ctx.user_id)
        await consent.record_consent(ctx.session, parent, version=CONSENT_VERSION, platform=ctx.platform,
                                     clock=ctx.clock)
        ctx.set_parent(parent)
        return await ctx.show("menu", texts.CONSENT_THANKS)
    if args == ["no"]:
        if await ctx.consented():
            # An old consent screen: agreeing once is withdrawn only by /forget.
            raise Stale()
        return await ctx.show("declined")
    raise Stale()


@on_text("consent", consent=False)
async def consent_text(ctx: Ctx, text: str) -> Screen:
    return await ctx.show("consent", texts.CHOOSE_BUTTON)
