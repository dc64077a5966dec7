"""/subscribe: new-program alerts. List; create (municipality → categories →
age → «только за сертификат» → save); view; delete with confirmation.
`unsub:<id>` (the button under every digest) works from any screen."""
from __future__ import annotations

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.children import first_name
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, Stale, action, chunked, command, int_arg, paged, rows, step
from core import catalog, municipalities, subscriptions
from core import children as core_children
from core.errors import DomainError
from core.models import Category, Subscription

BACK = Button(texts.BTN_TO_SUBSCRIPTIONS, "cmd:subscribe")


def summary(muni: str, categories: list[str], age: int | None, cert: bool) -> str:
    cats = ", ".join(texts.CATEGORY_LABEL[Category(c)].lower() for c in categories) or texts.SUB_ALL_CATS
    return texts.SUB_SUMMARY.format(
        muni=muni, cats=cats,
        age=texts.SUB_AGE.format(age=fmt.years(age)) if age is not None else texts.SUB_ANY_AGE,
        cert=texts.SUB_CERT if cert else texts.SUB_ANY_FUNDING)


def subscription_summary(sub: Subscription) -> str:
    return summary(sub.municipality.name, [c.category.value for c in sub.categories], sub.age,
                   sub.certificate_only)


async def draft_summary(ctx: Ctx) -> str:
    data = ctx.data
    muni = await municipalities.get(ctx.session, int(data["muni"]))
    return summary(muni.name, list(data.get("cats", [])), data.get("age"), bool(data.get("cert")))


@step("subs")
async def list_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    subs = await subscriptions.list_subscriptions(ctx.session, parent)
    if not subs:
        text = texts.SUBS_EMPTY
    else:
        text = texts.SUBS_TITLE + "\n" + "\n".join(
            texts.SUB_LINE.format(n=n, summary=subscription_summary(sub)) for n, sub in enumerate(subs, 1))
    views = [Button(str(n), f"sub:view:{sub.id}") for n, sub in enumerate(subs, 1)]
    return Screen(text=text, rows=rows(*chunked(views, 5), Button(texts.BTN_NEW_SUBSCRIPTION, "sub:new"),
                                       Button(texts.BTN_MENU, "cmd:menu")))


@step("sub.muni")
async def muni_screen(ctx: Ctx) -> Screen:
    munis = await catalog.list_municipalities(ctx.session)
    buttons = [Button(fmt.short(m.name, 30), f"sub:muni:{m.id}") for m in munis]
    return Screen(text=texts.SUB_PICK_MUNI,
                  rows=rows(*paged(buttons, int(ctx.data.get("mpage", 0)), "sub:mp"), BACK))


@step("sub.cats")
async def categories_screen(ctx: Ctx) -> Screen:
    chosen = set(ctx.data.get("cats", []))
    buttons = [Button(("✅ " if c.value in chosen else "") + texts.CATEGORY_LABEL[c], f"sub:cat:{c.value}")
               for c in Category]
    return Screen(text=texts.SUB_PICK_CATS, rows=rows(
        *chunked(buttons, 2), [Button(texts.BTN_NEXT_STEP, "sub:next")], BACK))


@step("sub.age")
async def age_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    kids = [Button(first_name(child), f"sub:age:{child.id}")
            for child in await core_children.list_children(ctx.session, parent) if child.birth_date]
    return Screen(text=texts.SUB_PICK_AGE, rows=rows(
        *chunked(kids, 3), Button(texts.BTN_ANY_AGE, "sub:age:any"), BACK))


@step("sub.opts")
async def options_screen(ctx: Ctx) -> Screen:
    cert = texts.BTN_CERT_ONLY_ON if ctx.data.get("cert") else texts.BTN_CERT_ONLY_OFF
    return Screen(text=texts.SUB_OPTIONS.format(summary=await draft_summary(ctx)), rows=rows(
        Button(cert, "sub:cert"), Button(texts.BTN_SAVE, "sub:save"), BACK))


@step("sub.view")
async def view_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    sub = await subscriptions.get_subscription(ctx.session, parent, int(ctx.data["sub"]))
    text = texts.SUB_VIEW.format(summary=subscription_summary(sub),
                                 date=fmt.date(sub.created_at.astimezone(ctx.clock.tz)))
    return Screen(text=text, rows=rows(Button(texts.BTN_DELETE, f"sub:del:{sub.id}"), BACK))


@step("sub.del")
async def delete_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    sub = await subscriptions.get_subscription(ctx.session, parent, int(ctx.data["sub"]))
    return Screen(text=texts.SUB_DELETE_ASK.format(summary=subscription_summary(sub)), rows=rows(
        [Button(texts.BTN_YES_DELETE, f"sub:delok:{sub.id}"), Button(texts.BTN_NO, f"sub:view:{sub.id}")]))


@command("subscribe")
async def subscribe_command(ctx: Ctx, words: str) -> Screen:
    return await ctx.show("subs")


@action("unsub")
async def press_unsubscribe(ctx: Ctx, args: list[str]) -> Screen:
    """The digest's button: one press, from any screen."""
    parent = await ctx.require_parent()
    if len(args) != 1:
        raise Stale()
    await subscriptions.delete_subscription(ctx.session, parent, int_arg(args, 0))
    return await ctx.show("subs", texts.SUB_DELETED)


@action("sub")
async def press_subscription(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    what, rest = (args[0] if args else ""), args[1:]
    here = ctx.step_name
    if what == "new" and not rest:
        return await ctx.show("sub.muni")
    if what == "view" and len(rest) == 1:
        sub = await subscriptions.get_subscription(ctx.session, parent, int_arg(rest, 0))
        return await ctx.show("sub.view", sub=sub.id)
    if what == "del" and len(rest) == 1:
        sub = await subscriptions.get_subscription(ctx.session, parent, int_arg(rest, 0))
        return await ctx.show("sub.del", sub=sub.id)
    if what == "delok" and len(rest) == 1:
        await subscriptions.delete_subscription(ctx.session, parent, int_arg(rest, 0))
        return await ctx.show("subs", texts.SUB_DELETED)
    if what == "mp" and len(rest) == 1 and here == "sub.muni":
        return await ctx.show("sub.muni", mpage=int_arg(rest, 0))
    if what == "muni" and len(rest) == 1 and here == "sub.muni":
        muni = await municipalities.get(ctx.session, int_arg(rest, 0))
        return await ctx.show("sub.cats", muni=muni.id, cats=[], age=None, cert=False)
    if what == "cat" and len(rest) == 1 and here == "sub.cats":
        try:
            category = Category(rest[0]).value
        except ValueError:
            raise DomainError("category_invalid") from None
        chosen = list(ctx.data.get("cats", []))
        if category in chosen:
            chosen.remove(category)
        else:
            chosen.append(category)
        order = [c.value for c in Category]
        return await ctx.advance("sub.cats", cats=sorted(chosen, key=order.index))
    if what == "next" and not rest and here == "sub.cats":
        return await ctx.advance("sub.age")
    if what == "age" and len(rest) == 1 and here == "sub.age":
        age = None
        if rest[0] != "any":
            child = await core_children.get_child(ctx.session, parent, int_arg(rest, 0))
            if child.birth_date is None:
                raise Stale()
            age = core_children.age_on(child.birth_date, ctx.today())
        return await ctx.advance("sub.opts", age=age)
    if what == "cert" and not rest and here == "sub.opts":
        return await ctx.advance("sub.opts", cert=not ctx.data.get("cert"))
    if what == "save" and not rest and here == "sub.opts":
        data = ctx.data
        await subscriptions.create_subscription(
            ctx.session, parent, municipality_id=int(data["muni"]),
            categories=[Category(c) for c in data.get("cats", [])], age=data.get("age"),
            certificate_only=bool(data.get("cert")), clock=ctx.clock)
        return await ctx.show("subs", texts.SUB_SAVED)
    raise Stale()
