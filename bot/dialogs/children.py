"""/children: the parent's children with their certificates, and adding a child
(ФИО → birth date → SNILS → municipality → summary → save), each answer checked by core;
and a child's own screen: correct the name, the birth date, the municipality, or delete."""
from __future__ import annotations

import datetime as dt
from typing import Any

from bot.dialogs import format as fmt
from bot.dialogs import program_info as info
from bot.dialogs import texts
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, Stale, action, command, int_arg, on_text, paged, rows, step
from core import children as core_children
from core import catalog, municipalities, timetable
from core.errors import DomainError
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
        lines.append("\n" + texts.CHILDREN_PICK_HINT)
        text = "\n".join(lines)
    buttons = [Button(fmt.short(texts.BTN_CHILD.format(n=n, name=first_name(child)), 30), f"ch:v:{child.id}")
               for n, child in enumerate(kids, 1)]
    return Screen(text=text, rows=rows(*paged(buttons, int(ctx.data.get("page", 0)), "ch:p"),
                                       Button(texts.BTN_ADD_CHILD, "ch:add"),
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
    if what in EDIT_ACTIONS:
        return await EDIT_ACTIONS[what](ctx, args)
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


# --- a child's screen: correct the name, the birth date, the municipality; delete -------------
# Every press names its child and is checked against the presser (core.children.get_child):
# a forged or stale id is "not found" and nothing is written.

@step("ch.view")
async def child_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    child_id = int(ctx.data["child"])
    child = await core_children.get_child(ctx.session, parent, child_id)
    ties = await core_children.ties(ctx.session, child)
    age = core_children.age_on(child.birth_date, ctx.today()) if child.birth_date else 0
    lines = [texts.CHILD_CARD.format(name=child_name(child), birth=fmt.date(child.birth_date),
                                     age=fmt.years(age), snils=fmt.snils_masked(child.snils),
                                     muni=child.municipality.name, certificate=certificate_label(child))]
    fixed = ties.data_lock()
    if fixed:
        lines.append(texts.CHILD_CARD_DATA_FIXED.format(why=texts.CHILD_DATA_FIXED_WHY[fixed]))
    lines.append(texts.CHILD_CARD_SNILS_FIXED_FOR_GOOD if ties.delete_lock() else texts.CHILD_CARD_SNILS_FIXED)
    return Screen(text="\n\n".join(lines), rows=rows(
        Button(texts.BTN_EDIT_NAME, f"ch:en:{child_id}"),
        [Button(texts.BTN_EDIT_BIRTH, f"ch:eb:{child_id}"), Button(texts.BTN_EDIT_MUNI, f"ch:em:{child_id}")],
        Button(texts.BTN_WEEK, f"ch:w:{child_id}"),
        Button(texts.BTN_DELETE_CHILD, f"ch:d:{child_id}"),
        Button(texts.BTN_TO_CHILDREN, "cmd:children")))


@step("ch.week")
async def week_screen(ctx: Ctx) -> Screen:
    """The lessons of the child's active enrollments, day by day; a schedule the catalog
    gave as free text is listed apart, as written."""
    child = await core_children.get_child(ctx.session, await ctx.require_parent(), int(ctx.data["child"]))
    week = await timetable.week(ctx.session, child.id)
    text = texts.WEEK_TITLE.format(name=child_name(child))
    if not week.programs:
        text += texts.WEEK_NO_LESSONS
    for weekday, lessons in week.days.items():
        text += texts.WEEK_DAY.format(weekday=texts.WEEKDAYS[weekday - 1].capitalize())
        text += "".join(texts.WEEK_LESSON.format(time=info.time_text(lesson.start, lesson.end),
                                                 title=fmt.quoted(program.title)) for lesson, program in lessons)
    if week.days:
        free = [texts.WEEKDAYS_SHORT[day - 1] for day in range(1, 8) if day not in week.days]
        if free:
            text += texts.WEEK_FREE_DAYS.format(days=", ".join(free))
    if week.unparsed:
        text += texts.WEEK_UNPARSED_TITLE + "".join(
            texts.WEEK_UNPARSED.format(title=fmt.quoted(program.title), schedule=program.schedule)
            for program in week.unparsed)
    return Screen(text=text, rows=rows(back_to_child(ctx)))


def back_to_child(ctx: Ctx) -> Button:
    return Button(texts.BTN_TO_CHILD, f"ch:v:{int(ctx.data['child'])}")


@step("ch.ename")
async def ask_new_name(ctx: Ctx) -> Screen:
    child = await core_children.get_child(ctx.session, await ctx.require_parent(), int(ctx.data["child"]))
    return Screen(text=texts.CHILD_ASK_NEW_NAME.format(name=child_name(child)), rows=rows(back_to_child(ctx)))


@step("ch.ebirth")
async def ask_new_birth(ctx: Ctx) -> Screen:
    child = await core_children.get_child(ctx.session, await ctx.require_parent(), int(ctx.data["child"]))
    return Screen(text=texts.CHILD_ASK_NEW_BIRTH.format(birth=fmt.date(child.birth_date)),
                  rows=rows(back_to_child(ctx)))


@step("ch.emuni")
async def ask_new_muni(ctx: Ctx) -> Screen:
    child_id = int(ctx.data["child"])
    child = await core_children.get_child(ctx.session, await ctx.require_parent(), child_id)
    buttons = [Button(fmt.short(m.name, 30), f"ch:m:{child_id}:{m.id}")
               for m in await catalog.list_municipalities(ctx.session)]
    return Screen(text=texts.CHILD_ASK_NEW_MUNI.format(muni=child.municipality.name),
                  rows=rows(*paged(buttons, int(ctx.data.get("mpage", 0)), f"ch:emp:{child_id}"),
                            back_to_child(ctx)))


@step("ch.del")
async def ask_delete(ctx: Ctx) -> Screen:
    child_id = int(ctx.data["child"])
    child = await core_children.get_child(ctx.session, await ctx.require_parent(), child_id)
    return Screen(text=texts.CHILD_DELETE_ASK.format(name=child_name(child)),
                  rows=rows([Button(texts.BTN_YES_DELETE, f"ch:dy:{child_id}"), back_to_child(ctx)]))


async def _own_child_id(ctx: Ctx, args: list[str]) -> int:
    child_id = int_arg(args, 1)
    await core_children.get_child(ctx.session, await ctx.require_parent(), child_id)
    return child_id


async def view_press(ctx: Ctx, args: list[str]) -> Screen:
    return await ctx.show("ch.view", child=await _own_child_id(ctx, args))


async def week_press(ctx: Ctx, args: list[str]) -> Screen:
    return await ctx.show("ch.week", child=await _own_child_id(ctx, args))


async def page_press(ctx: Ctx, args: list[str]) -> Screen:
    if ctx.step_name != "children" or len(args) != 2:
        raise Stale()
    return await ctx.advance("children", page=int_arg(args, 1))


async def edit_name_press(ctx: Ctx, args: list[str]) -> Screen:
    return await ctx.show("ch.ename", child=await _own_child_id(ctx, args))


async def edit_birth_press(ctx: Ctx, args: list[str]) -> Screen:
    child_id = int_arg(args, 1)
    # Refused before asking for a date that could not be saved.
    await core_children.require_data_editable(ctx.session, await ctx.require_parent(), child_id)
    return await ctx.show("ch.ebirth", child=child_id)


async def edit_muni_press(ctx: Ctx, args: list[str]) -> Screen:
    child_id = int_arg(args, 1)
    await core_children.require_data_editable(ctx.session, await ctx.require_parent(), child_id)
    return await ctx.show("ch.emuni", child=child_id)


async def muni_page_press(ctx: Ctx, args: list[str]) -> Screen:
    child_id = int_arg(args, 1)
    if ctx.step_name != "ch.emuni" or ctx.data.get("child") != child_id:
        raise Stale()
    return await ctx.advance("ch.emuni", mpage=int_arg(args, 2))


async def set_muni_press(ctx: Ctx, args: list[str]) -> Screen:
    child_id = int_arg(args, 1)
    await core_children.change_municipality(ctx.session, await ctx.require_parent(), child_id, int_arg(args, 2))
    return await ctx.show("ch.view", texts.CHILD_MUNI_CHANGED, child=child_id)


async def delete_press(ctx: Ctx, args: list[str]) -> Screen:
    child_id = int_arg(args, 1)
    child = await core_children.get_child(ctx.session, await ctx.require_parent(), child_id)
    reason = (await core_children.ties(ctx.session, child)).delete_lock()
    if reason:   # refused before asking; core refuses again at the confirmation
        raise DomainError(reason)
    return await ctx.show("ch.del", child=child_id)


async def delete_yes_press(ctx: Ctx, args: list[str]) -> Screen:
    child_id = int_arg(args, 1)
    # Only from its own confirmation: an old «Да, удалить» pressed later is stale.
    if ctx.step_name != "ch.del" or ctx.data.get("child") != child_id:
        raise Stale()
    await core_children.delete_child(ctx.session, await ctx.require_parent(), child_id)
    return await ctx.show("children", texts.CHILD_DELETED)


EDIT_ACTIONS = {"v": view_press, "w": week_press, "p": page_press, "en": edit_name_press, "eb": edit_birth_press,
                "em": edit_muni_press, "emp": muni_page_press, "m": set_muni_press,
                "d": delete_press, "dy": delete_yes_press}


@on_text("ch.ename")
async def new_name_text(ctx: Ctx, text: str) -> Screen:
    child_id = int(ctx.data["child"])
    await core_children.rename_child(ctx.session, await ctx.require_parent(), child_id, text)
    return await ctx.show("ch.view", texts.CHILD_RENAMED, child=child_id)


@on_text("ch.ebirth")
async def new_birth_text(ctx: Ctx, text: str) -> Screen:
    child_id = int(ctx.data["child"])
    birth = core_children.parse_birth_date(text, ctx.clock)
    await core_children.change_birth_date(ctx.session, await ctx.require_parent(), child_id, birth, ctx.clock)
    return await ctx.show("ch.view", texts.CHILD_BIRTH_CHANGED, child=child_id)
