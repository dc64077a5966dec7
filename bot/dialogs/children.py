"""/children: the parent's children with their certificates, and adding a child
(ФИО → birth date → SNILS → municipality → summary → save), each answer checked by core."""
from __future__ import annotations

import datetime as dt
from typing import Any

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, Stale, action, command, int_arg, on_text, paged, rows, step
from core import children as core_children
from core import catalog, municipalities
from core.models import Certificate, Child
from core.snils import normalize_snils

CANCEL = Button(texts.BTN_CANCEL, "cmd:children")


def certificate_label(child: Child) -> str:
    certificate: Certificate | None = child.certificate
    if certificate is None:
        return texts.NOT_ISSUED
    return texts.CERTIFICATE_LINE.format(number=certificate.number,
                                         status=texts.STATUS_LABEL[certificate.status])


def child_name(child: Child) -> str:
    return child.full_name or "—"


def first_name(child: Child) -> str:
    """The given name alone, for buttons (ФИО: surname first)."""
    parts = (child.full_name or "").split()
    return parts[1] if len(parts) > 1 else (parts[0] if parts else "—")


def child_draft(ctx: Ctx) -> dict[str, Any]:
    """The add-child answers so far. They wait in the dialog state sealed (core.children.seal_draft),
    so the database holds no child's data in clear text even between two questions."""
    data = ctx.data
    return {"name": core_children.open_draft(data["name"]),
            "birth": dt.date.fromisoformat(core_children.open_draft(data["birth"])),
            "snils": core_children.open_draft(data["snils"])}


@step("children")
async def children_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    kids = await core_children.list_children(ctx.session, parent)
    if not kids:
        text = texts.CHILDREN_EMPTY
    else:
        lines = [texts.CHILDREN_TITLE]
        for n, child in enumerate(kids, 1):
            age = core_children.age_on(child.birth_date, ctx.today()) if child.birth_date else 0
            lines.append(texts.CHILD_LINE.format(
                n=n, name=child_name(child), birth=fmt.date(child.birth_date), age=fmt.years(age),
                snils=fmt.snils(child.snils), certificate=certificate_label(child)))
            if not child.snils_confirmed:
                lines.append(texts.CHILD_SNILS_UNCONFIRMED)
        text = "\n".join(lines)
    return Screen(text=text, rows=rows(Button(texts.BTN_ADD_CHILD, "ch:add"),
                                       Button(texts.BTN_MENU, "cmd:menu")))


@step("ch.name")
async def ask_name(ctx: Ctx) -> Screen:
    return Screen(text=texts.CHILD_ASK_NAME, rows=rows(CANCEL))


@step("ch.birth")
async def ask_birth(ctx: Ctx) -> Screen:
    return Screen(text=texts.CHILD_ASK_BIRTH, rows=rows(Button(texts.BTN_BACK, "ch:add"), CANCEL))


@step("ch.snils")
async def ask_snils(ctx: Ctx) -> Screen:
    return Screen(text=texts.CHILD_ASK_SNILS, rows=rows(Button(texts.BTN_BACK, "ch:add"), CANCEL))


@step("ch.muni")
async def ask_muni(ctx: Ctx) -> Screen:
    munis = await catalog.list_municipalities(ctx.session)
    if not munis:
        return Screen(text=texts.CHILD_NO_MUNIS, rows=rows(CANCEL))
    buttons = [Button(fmt.short(m.name, 30), f"ch:muni:{m.id}") for m in munis]
    return Screen(text=texts.CHILD_ASK_MUNI,
                  rows=rows(*paged(buttons, int(ctx.data.get("mpage", 0)), "ch:mp"), CANCEL))


@step("ch.confirm")
async def confirm_screen(ctx: Ctx) -> Screen:
    draft = child_draft(ctx)
    muni = await municipalities.get(ctx.session, int(ctx.data["muni"]))
    birth = draft["birth"]
    text = texts.CHILD_SUMMARY.format(
        name=draft["name"], birth=fmt.date(birth), age=fmt.years(core_children.age_on(birth, ctx.today())),
        snils=fmt.snils_masked(draft["snils"]), muni=muni.name)
    return Screen(text=text, rows=rows(Button(texts.BTN_SAVE, "ch:save"),
                                       Button(texts.BTN_EDIT_AGAIN, "ch:add"), CANCEL))


@command("children")
async def children_command(ctx: Ctx, words: str) -> Screen:
    return await ctx.show("children")


@action("ch")
async def press(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    what = args[0] if args else ""
    if what == "add" and len(args) == 1:
        return await ctx.show("ch.name")
    if what == "muni" and ctx.step_name == "ch.muni" and {"name", "birth", "snils"} <= ctx.data.keys():
        muni = await municipalities.get(ctx.session, int_arg(args, 1))
        return await ctx.advance("ch.confirm", muni=muni.id)
    if what == "mp" and ctx.step_name == "ch.muni" and len(args) == 2:
        return await ctx.advance("ch.muni", mpage=int_arg(args, 1))
    if what == "save" and ctx.step_name == "ch.confirm":
        draft = child_draft(ctx)
        child = await core_children.register_child(
            ctx.session, parent, full_name=draft["name"], birth_date=draft["birth"],
            snils=draft["snils"], municipality_id=int(ctx.data["muni"]), clock=ctx.clock)
        note = texts.CHILD_SAVED if child.snils_confirmed else texts.CHILD_SAVED_UNCONFIRMED
        return await ctx.show("children", note)
    raise Stale()


@on_text("ch.name")
async def name_text(ctx: Ctx, text: str) -> Screen:
    name = core_children.validate_full_name(text)
    return await ctx.show("ch.birth", name=core_children.seal_draft(name))


@on_text("ch.birth")
async def birth_text(ctx: Ctx, text: str) -> Screen:
    birth = core_children.parse_birth_date(text, ctx.clock)
    core_children.check_age(birth, ctx.clock)
    return await ctx.advance("ch.snils", birth=core_children.seal_draft(birth.isoformat()))


@on_text("ch.snils")
async def snils_text(ctx: Ctx, text: str) -> Screen:
    digits = normalize_snils(text)
    # Refused here, not at the final save: a SNILS another parent's child has (saying nothing
    # about that child). A forgotten child's comes back with its certificate when saved.
    await core_children.snils_status(ctx.session, await ctx.require_parent(), digits)
    return await ctx.advance("ch.muni", snils=core_children.seal_draft(digits))
