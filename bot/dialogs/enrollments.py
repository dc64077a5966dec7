"""/enrollments: the parent's enrollments and waiting places, a page at a time →
details → cancel (with the refund shown first) → done, with the refund and the
new balance. Leaving a waiting list and answering a held seat: bot/dialogs/waitlist.py."""
from __future__ import annotations

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.children import first_name
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, Stale, action, command, int_arg, rows, step
from bot.dialogs.enroll import later_years_text
from bot.dialogs.review_card import enrollment_rate_button
from core import enrollment, estimates, waitlist
from core.models import Enrollment, EnrollmentStatus, Funding


PAGE_SIZE = 6   # entries a page: one button row each, plus ◀/▶ and «В меню» (VK: ≤ 10 rows)


@step("enrollments")
async def list_screen(ctx: Ctx) -> Screen:
    """Active enrollments, then waiting places, then the cancelled ones, a page at a time:
    every active enrollment and every waiting place gets its buttons on its page."""
    parent = await ctx.require_parent()
    items = await enrollment.list_enrollments(ctx.session, parent)
    places = await waitlist.places(ctx.session, parent)
    if not items and not places:
        return Screen(text=texts.ENROLLMENTS_EMPTY, rows=rows(
            Button(texts.BTN_FIND, "cmd:find"), Button(texts.BTN_MENU, "cmd:menu")))
    active = [item for item in items if item.status is EnrollmentStatus.ACTIVE]
    entries: list[Enrollment | waitlist.Place] = [
        *active, *places, *[item for item in items if item.status is not EnrollmentStatus.ACTIVE]]
    pages = -(-len(entries) // PAGE_SIZE)
    page = min(max(int(ctx.data.get("page") or 0), 0), pages - 1)
    first = page * PAGE_SIZE
    lines = [texts.ENROLLMENTS_TITLE]
    buttons: list[list[Button]] = []
    for n, entry in enumerate(entries[first:first + PAGE_SIZE], first + 1):
        if isinstance(entry, waitlist.Place):
            line, row = _place(ctx, n, entry)
        else:
            line, row = await _enrollment(ctx, n, entry)
        lines.append(line)
        if row:
            buttons.append(row)
    if pages > 1:
        lines.append(texts.ENROLLMENTS_PAGE.format(page=page + 1, pages=pages))
    nav = []
    if page > 0:
        nav.append(Button(texts.BTN_PREV, f"enl:p:{page - 1}"))
    if page < pages - 1:
        nav.append(Button(texts.BTN_NEXT, f"enl:p:{page + 1}"))
    return Screen(text="\n".join(lines), rows=rows(*buttons, nav, Button(texts.BTN_MENU, "cmd:menu")))


async def _enrollment(ctx: Ctx, n: int, item: Enrollment) -> tuple[str, list[Button]]:
    """Its line with each year's cost and co-payment (its Charge rows, in the certificate's
    unit), and a button for an active one."""
    line = texts.ENROLLMENT_LINE.format(n=n, title=item.program.title, child=item.child.full_name or "—",
                                        status=texts.ENROLLMENT_STATUS[item.status])
    charges = await enrollment.charges_for(ctx.session, item)
    for charge in charges:
        line += "\n" + texts.ENROLLMENT_YEAR.format(year=charge.year, cost=fmt.amount(charge.cost, charge.unit),
                                                     copay=texts.copay_part(charge.copay, charge.unit))
    if not charges and item.program.funding is Funding.MUNICIPAL:
        line += "\n" + texts.ENROLLMENT_FREE
    if item.status is not EnrollmentStatus.ACTIVE:
        # A cancelled enrollment has nothing left to do but rating the program it was in.
        rate = await enrollment_rate_button(
            ctx, item, fmt.short(texts.BTN_RATE_LINE.format(n=n, title=item.program.title), 40))
        return line, [rate] if rate else []
    label = fmt.short(f"{n}. {item.program.title} — {first_name(item.child)}", 40)
    return line, [Button(label, f"enl:view:{item.id}")]


def _place(ctx: Ctx, n: int, place: waitlist.Place) -> tuple[str, list[Button]]:
    entry = place.entry
    title, child = entry.program.title, entry.child.full_name or "—"
    if waitlist.hold_is_live(entry, ctx.clock.now()):
        assert entry.hold_until is not None
        line = texts.WAITING_HELD_LINE.format(n=n, title=title, child=child,
                                              until=fmt.moment(entry.hold_until, ctx.clock.tz))
        return line, [Button(texts.BTN_HOLD_ENROLL.format(n=n), f"enr:pick:{entry.program_id}:{entry.child_id}"),
                      Button(texts.BTN_HOLD_DECLINE.format(n=n), f"wl:no:{entry.id}")]
    if place.position is None:   # a hold run out, not yet passed on by the job
        line = texts.WAITING_RUN_OUT_LINE.format(n=n, title=title, child=child)
    else:
        line = texts.WAITING_LINE.format(n=n, title=title, child=child, position=place.position)
    return line, [Button(texts.BTN_LEAVE_QUEUE.format(n=n), f"wl:leave:{entry.id}")]


@step("enl.view")
async def details_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    item = await enrollment.get_enrollment(ctx.session, parent, int(ctx.data["enrollment"]))
    text = texts.ENROLLMENT_DETAILS.format(
        title=fmt.quoted(item.program.title), child=item.child.full_name or "—", provider=item.program.provider,
        status=texts.ENROLLMENT_STATUS[item.status], date=fmt.date(item.enrolled_at.astimezone(ctx.clock.tz)))
    if item.cancelled_at is not None:
        text += texts.ENROLLMENT_CANCELLED_AT.format(date=fmt.date(item.cancelled_at.astimezone(ctx.clock.tz)))
    for charge in await enrollment.charges_for(ctx.session, item):
        if not charge.months:
            continue  # enrolled ahead of a program's first year: nothing charged, nothing to show
        text += texts.ENROLLMENT_CHARGE.format(
            year=charge.year, months=charge.months, cost=fmt.amount(charge.cost, charge.unit),
            covered=fmt.amount(charge.covered, charge.unit), copay=texts.copay_part(charge.copay, charge.unit))
    year = ctx.clock.today().year
    unit, later = await estimates.enrollment_later_years(ctx.session, item, year)
    if later:
        text += texts.ENROLLMENT_LATER_TITLE.format(year=year) + later_years_text(
            later, unit, item.program.end_date.year)
    cancel = None
    if item.status is EnrollmentStatus.ACTIVE:
        cancel = Button(texts.BTN_CANCEL_ENROLLMENT, f"cancel:ask:{item.id}")
    return Screen(text=text, rows=rows(await enrollment_rate_button(ctx, item), cancel, [Button(texts.BTN_TO_ENROLLMENTS, "cmd:enrollments"),
                                                Button(texts.BTN_MENU, "cmd:menu")]))


async def cancel_quote(ctx: Ctx, parent, enrollment_id: int) -> enrollment.CancelQuote:  # type: ignore[no-untyped-def]
    return await ctx.once(("cancel", enrollment_id), lambda: enrollment.cancel_quote(
        ctx.session, parent, enrollment_id, ctx.clock))


@step("cancel.ask")
async def cancel_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    enrollment_id = int(ctx.data["enrollment"])
    q = await cancel_quote(ctx, parent, enrollment_id)
    title, child = fmt.quoted(q.enrollment.program.title), q.enrollment.child.full_name or "—"
    if q.unit is None or (q.refund == 0 and q.balance_before == q.balance_after == 0):
        text = texts.CANCEL_ASK_FREE.format(title=title, child=child)
    else:
        text = texts.CANCEL_ASK.format(title=title, child=child, refund=fmt.amount(q.refund, q.unit),
                                       before=fmt.amount(q.balance_before, q.unit),
                                       after=fmt.amount(q.balance_after, q.unit))
        if q.covers:
            text += texts.CANCEL_ASK_COVERS + "".join(
                (texts.CANCEL_COVER_LINE if c.copay else texts.CANCEL_COVER_LINE_ALL).format(
                    title=fmt.quoted(c.title), copay=fmt.amount(c.copay, c.unit),
                    before=fmt.amount(c.copay + c.covered, c.unit))
                for c in q.covers)
    return Screen(text=text, rows=rows([Button(texts.BTN_YES_CANCEL, f"cancel:yes:{enrollment_id}"),
                                        Button(texts.BTN_NO_KEEP, f"enl:view:{enrollment_id}")]))


@command("enrollments")
async def enrollments_command(ctx: Ctx, words: str) -> Screen:
    return await ctx.show("enrollments")


@action("enl")
async def press_view(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    if len(args) == 2 and args[0] == "p":
        return await ctx.show("enrollments", page=int_arg(args, 1))
    if len(args) != 2 or args[0] != "view":
        raise Stale()
    item = await enrollment.get_enrollment(ctx.session, parent, int_arg(args, 1))
    return await ctx.show("enl.view", enrollment=item.id)


@action("cancel")
async def press_cancel(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    if len(args) != 2:
        raise Stale()
    enrollment_id = int_arg(args, 1)
    if args[0] == "ask":
        await cancel_quote(ctx, parent, enrollment_id)
        return await ctx.show("cancel.ask", enrollment=enrollment_id)
    if args[0] == "yes":
        result = await enrollment.cancel(ctx.session, parent, enrollment_id, ctx.clock)
        text = (texts.CANCELLED_DONE.format(refund=fmt.amount(result.refund, result.unit))
                if result.unit is not None and result.enrollment.program.funding is not Funding.MUNICIPAL
                else texts.CANCELLED_DONE_NOTHING)
        if result.covered:
            text += texts.CANCELLED_COVERED + "".join(
                (texts.CANCELLED_COVER_LINE if c.copay else texts.CANCELLED_COVER_LINE_ALL).format(
                    title=fmt.quoted(c.title), copay=fmt.amount(c.copay, c.unit)) for c in result.covered)
        if result.balance is not None and result.balance.unit is not None:
            text += texts.CANCELLED_BALANCE.format(
                available=fmt.amount(result.balance.available, result.balance.unit),
                reserved=fmt.amount(result.balance.reserved, result.balance.unit))
        return await ctx.show("enrollments", text)
    raise Stale()
