"""The waiting list in the conversations: a full program's card → choose the child →
a place in the line; /enrollments → «Покинуть очередь» (asked first); a seat held for
the child (the job's message, or /enrollments) → «Записать ребёнка», which is the usual
preview and confirmation (`enr:pick`), or «Не нужно», which passes it to the next in line."""
from __future__ import annotations

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.enroll import child_choice, child_label
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, Stale, action, int_arg, rows, step
from core import catalog, enrollment, waitlist
from core import children as core_children
from core.errors import DomainError
from core.models import WaitlistStatus


@step("wl.pick")
async def pick_screen(ctx: Ctx) -> Screen:
    choice = await child_choice(ctx)
    if (empty := choice.no_children()) is not None:
        return empty
    parent, program, back, verdicts = choice.parent, choice.program, choice.back, choice.verdicts
    program_id = program.id
    waiting = {place.entry.child_id for place in await waitlist.places(ctx.session, parent)
               if place.entry.program_id == program_id}
    join, enroll_now, refused = [], [], []
    for child, refusal in verdicts:
        name = child.full_name or "—"
        if refusal is None:   # a seat is free for this child (or held for them)
            enroll_now.append(Button(child_label(child), f"enr:pick:{program_id}:{child.id}"))
        elif child.id in waiting:
            refused.append(texts.WAITLIST_ALREADY.format(name=name))
        elif refusal.reason == "no_seats":
            join.append(Button(fmt.short(texts.BTN_WAITLIST.format(name=child_label(child)), 40),
                               f"wl:{program_id}:{child.id}"))
        else:
            refused.append(texts.ENROLL_NOT_ELIGIBLE.format(name=name, reason=texts.refusal_short(refusal)))
    lines = [texts.WAITLIST_PICK.format(title=fmt.quoted(program.title))]
    if not join:
        lines.append(texts.WAITLIST_PICK_NOBODY)
    if enroll_now:
        lines.append(texts.WAITLIST_CAN_ENROLL)
    if refused:
        lines.append(texts.ENROLL_NOT_ELIGIBLE_TITLE + "\n" + "\n".join(refused))
    return Screen(text="\n\n".join(lines), rows=rows(*[[b] for b in join], *[[b] for b in enroll_now], back))


@step("wl.leave")
async def leave_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    entry = await waitlist.get_place(ctx.session, parent, int(ctx.data["entry"]))
    if entry.status not in waitlist.OPEN:
        return await ctx.show("enrollments")
    template = texts.LEAVE_ASK_HELD if entry.status is WaitlistStatus.OFFERED else texts.LEAVE_ASK
    text = template.format(title=fmt.quoted(entry.program.title), child=entry.child.full_name or "—")
    return Screen(text=text, rows=rows([Button(texts.BTN_YES_LEAVE, f"wl:out:{entry.id}"),
                                        Button(texts.BTN_NO_KEEP, "cmd:enrollments")]))


@action("wl")
async def press_waitlist(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    what = args[0] if args else ""
    if what == "start" and len(args) == 2:
        program = await catalog.get_program(ctx.session, int_arg(args, 1))
        return await ctx.show("wl.pick", program=program.id)
    if what == "leave" and len(args) == 2:
        entry = await waitlist.get_place(ctx.session, parent, int_arg(args, 1))
        if entry.status not in waitlist.OPEN:
            raise DomainError("not_waiting")
        return await ctx.show("wl.leave", entry=entry.id)
    if what == "out" and len(args) == 2:
        entry = await waitlist.leave(ctx.session, parent, int_arg(args, 1), ctx.clock)
        return await ctx.show("enrollments", texts.LEFT_QUEUE.format(
            child=entry.child.full_name or "—", title=fmt.quoted(entry.program.title)))
    if what == "no" and len(args) == 2:
        entry = await waitlist.decline(ctx.session, parent, int_arg(args, 1), ctx.clock)
        return await ctx.show("enrollments", texts.HOLD_DECLINED.format(
            child=entry.child.full_name or "—", title=fmt.quoted(entry.program.title)))
    if len(args) == 2:   # wl:<program>:<child> — join the line
        return await join(ctx, parent, int_arg(args, 0), int_arg(args, 1))
    raise Stale()


async def join(ctx: Ctx, parent, program_id: int, child_id: int) -> Screen:  # type: ignore[no-untyped-def]
    entry = await enrollment.join_waitlist(ctx.session, parent, child_id, program_id, ctx.clock)
    position = await waitlist.position(ctx.session, entry)
    child = await core_children.get_child(ctx.session, parent, child_id)
    program = await catalog.get_program(ctx.session, program_id)
    ctx.state.update(step="menu", data={})
    text = texts.WAITLIST_JOINED.format(child=child.full_name or "—", title=fmt.quoted(program.title), position=position)
    return Screen(text=text, rows=rows([Button(texts.BTN_TO_RESULTS, "find:back"),
                                        Button(texts.BTN_MENU, "cmd:menu")]))
