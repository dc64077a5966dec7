"""Enrolling a child from a program card: pick the child (only eligible ones as
buttons, the others with the reason), see the breakdown, confirm. A full
program offers the waiting list instead (bot/dialogs/waitlist.py)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.dialogs import format as fmt
from bot.dialogs import program_info as info
from bot.dialogs import texts
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, Stale, action, int_arg, rows, step
from core import catalog, enrollment, timetable
from core.costing import YearEstimate
from core.enrollment import Quote
from core.errors import DomainError
from core.models import Child, Funding, Parent, Program, Unit


def child_label(child) -> str:  # type: ignore[no-untyped-def]
    return fmt.short(child.full_name or "—", 30)


def months_runs(months: list[int]) -> str:
    """Consecutive months as 'январь — май'; runs of one or two are listed."""
    pieces: list[str] = []
    i = 0
    while i < len(months):
        j = i
        while j + 1 < len(months) and months[j + 1] % 12 == (months[j] + 1) % 12:
            j += 1
        if j - i >= 2:
            pieces.append(texts.MONTHS_RANGE.format(first=texts.MONTHS[months[i] - 1],
                                                    last=texts.MONTHS[months[j] - 1]))
        else:
            pieces.extend(texts.MONTHS[m - 1] for m in months[i:j + 1])
        i = j + 1
    return ", ".join(pieces) or "—"


def _months(months: list[int]) -> str:
    """A year's months in calendar order: [1..5, 9..12] → 'январь — май, сентябрь — декабрь'."""
    return months_runs(sorted(months))


def study_months_text(months: frozenset[int]) -> str:
    """A program's study months from the first after a break: 'сентябрь — май', 'ноябрь — март'."""
    if len(months) == 12:
        return months_runs(list(range(1, 13)))
    first = next(m for m in range(1, 13) if m in months and (m - 2) % 12 + 1 not in months)
    return months_runs([(first - 1 + k) % 12 + 1 for k in range(12) if (first - 1 + k) % 12 + 1 in months])


def later_years_text(estimates: Sequence[YearEstimate], unit, end_year: int) -> str:  # type: ignore[no-untyped-def]
    """One line per later year: its months, cost and the certificate's estimated share."""
    text = "".join(texts.QUOTE_LATER_LINE.format(
        year=e.year, months=texts.MONTHS_COUNT.format(months=_months(e.months), count=len(e.months)),
        cost=fmt.amount(e.cost, unit), covered=fmt.amount(e.covered, unit),
        copay=texts.copay_part(e.copay, unit, texts.COPAY_ESTIMATE_PART))
        for e in estimates)
    if estimates and end_year > estimates[-1].year:
        text += texts.QUOTE_LATER_MORE.format(year=end_year)
    return text


def elsewhere_text(q: Quote) -> str:
    """For a program in another municipality than the child's: that the certificate serves
    the whole region (seed 004), and in which unit the cost is counted; else nothing."""
    if q.program.municipality_id == q.child.municipality_id:
        return ""
    text = texts.QUOTE_ELSEWHERE.format(program_municipality=fmt.quoted(q.program.municipality.name),
                                        child_municipality=fmt.quoted(q.child.municipality.name))
    if q.program.funding is Funding.CERTIFICATE and q.unit is not None:
        text += texts.QUOTE_ELSEWHERE_UNIT[q.unit]
    return text


def quote_text(q: Quote) -> str:
    child = q.child.full_name or "—"
    if q.program.funding is Funding.MUNICIPAL:
        text = texts.QUOTE_FREE.format(child=child, title=fmt.quoted(q.program.title))
    elif not q.months:
        # Nothing to pay this year (the program starts next year): never "Стоимость: 0 ₽".
        text = texts.QUOTE_NOT_THIS_YEAR.format(child=child, title=fmt.quoted(q.program.title), year=q.year,
                                                before=fmt.amount(q.balance_before, q.unit))
    else:
        text = texts.QUOTE.format(
            child=child, title=fmt.quoted(q.program.title), year=q.year, months=_months(q.months),
            cost=fmt.amount(q.cost, q.unit), covered=fmt.amount(q.covered, q.unit),
            copay=fmt.amount(q.copay, q.unit) if q.copay else texts.NO_COPAY,
            before=fmt.amount(q.balance_before, q.unit),
            after=fmt.amount(q.balance_after, q.unit))
        if q.copay:
            text += texts.QUOTE_COPAY[q.unit or Unit.RUB].format(copay=fmt.amount(q.copay, q.unit))
    text += elsewhere_text(q)
    if q.issues_certificate and q.status_after is not None:
        text += texts.QUOTE_ISSUES.format(status=texts.STATUS_LABEL[q.status_after])
    if q.budget_warning is not None:
        text += texts.BUDGET_WARNING.format(
            needed=fmt.amount(q.budget_warning.needed_from_september, q.unit),
            left=fmt.amount(q.budget_warning.left_after, q.unit))
    if q.later_years:
        text += texts.QUOTE_LATER_TITLE.format(year=q.year)
        text += later_years_text(q.later_years, q.unit, q.program.end_date.year)
    return text


async def quote(ctx: Ctx, parent, child_id: int, program_id: int) -> Quote:  # type: ignore[no-untyped-def]
    return await ctx.once(("quote", child_id, program_id), lambda: enrollment.quote(
        ctx.session, parent, child_id, program_id, ctx.clock))


@dataclass(frozen=True)
class ChildChoice:
    """What choosing a child for a program needs: the program, the way back to its card, and
    each of the parent's children with the reason they cannot enroll (None: they can)."""
    parent: Parent
    program: Program
    back: Button
    verdicts: list[tuple[Child, DomainError | None]]

    def no_children(self) -> Screen | None:
        """The screen for a parent with no child yet, else None."""
        if self.verdicts:
            return None
        return Screen(text=texts.ENROLL_NO_CHILDREN, rows=rows(Button(texts.BTN_ADD_CHILD, "ch:add"), self.back))


async def child_choice(ctx: Ctx) -> ChildChoice:
    """For the pick screens of enrolling and of the waiting list (the program in ctx.data)."""
    parent = await ctx.require_parent()
    program = await catalog.get_program(ctx.session, int(ctx.data["program"]))
    verdicts = await enrollment.eligibility(ctx.session, parent, program.id, ctx.clock)
    return ChildChoice(parent, program, Button(texts.BTN_BACK, f"card:{program.id}"), verdicts)


@step("enr.pick")
async def pick_screen(ctx: Ctx) -> Screen:
    choice = await child_choice(ctx)
    if (empty := choice.no_children()) is not None:
        return empty
    program, program_id, back, verdicts = choice.program, choice.program.id, choice.back, choice.verdicts
    lines = [texts.ENROLL_PICK.format(title=fmt.quoted(program.title))]
    pick, waitlist, refused = [], [], []
    for child, refusal in verdicts:
        if refusal is None:
            pick.append(Button(child_label(child), f"enr:pick:{program_id}:{child.id}"))
            continue
        refused.append(texts.ENROLL_NOT_ELIGIBLE.format(name=child.full_name or "—",
                                                        reason=texts.refusal_short(refusal)))
        if refusal.reason == "no_seats":
            waitlist.append(Button(fmt.short(texts.BTN_WAITLIST.format(name=child_label(child)), 40),
                                   f"wl:{program_id}:{child.id}"))
    if not pick:
        lines.append(texts.ENROLL_NOBODY)
    if refused:
        lines.append(texts.ENROLL_NOT_ELIGIBLE_TITLE + "\n" + "\n".join(refused))
    return Screen(text="\n\n".join(lines),
                  rows=rows(*[[b] for b in pick], *[[b] for b in waitlist], back))


@step("enr.confirm")
async def confirm_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    program_id, child_id = int(ctx.data["program"]), int(ctx.data["child"])
    q = await quote(ctx, parent, child_id, program_id)
    # A warning, never a refusal: the parent knows whether the child can make both.
    clash = info.clash_text(await timetable.clashes(ctx.session, q.child.id, q.program))
    return Screen(text=quote_text(q) + clash + texts.QUOTE_ASK, rows=rows(
        Button(texts.BTN_CONFIRM, f"enr:ok:{program_id}:{child_id}"),
        Button(texts.BTN_BACK, f"enr:start:{program_id}")))


@action("enr")
async def press_enroll(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    what = args[0] if args else ""
    if what == "start" and len(args) == 2:
        program = await catalog.get_program(ctx.session, int_arg(args, 1))
        return await ctx.show("enr.pick", program=program.id)
    if what == "pick" and len(args) == 3:
        program_id, child_id = int_arg(args, 1), int_arg(args, 2)
        # Checks ownership and every precondition before showing anything.
        await quote(ctx, parent, child_id, program_id)
        return await ctx.show("enr.confirm", program=program_id, child=child_id)
    if what == "ok" and len(args) == 3:
        program_id, child_id = int_arg(args, 1), int_arg(args, 2)
        result = await enrollment.enroll(ctx.session, parent, child_id, program_id, ctx.clock)
        return done_screen(ctx, result)
    raise Stale()


def done_screen(ctx: Ctx, result: enrollment.EnrollResult) -> Screen:
    q = result.quote
    text = fmt.for_child(texts.ENROLLED, q.child.full_name).format(
        child=q.child.full_name or "—", title=fmt.quoted(q.program.title))
    certificate = result.certificate
    template = texts.ENROLLED_CERT_ISSUED if result.certificate_issued else texts.ENROLLED_CERT_USED
    text += template.format(number=certificate.number, status=texts.STATUS_LABEL[certificate.status])
    if result.balance is not None and result.balance.unit is not None:
        text += texts.ENROLLED_BALANCE.format(
            available=fmt.amount(result.balance.available, result.balance.unit),
            reserved=fmt.amount(result.balance.reserved, result.balance.unit))
    if q.copay:
        text += texts.ENROLLED_COPAY.format(copay=fmt.amount(q.copay, q.unit))
    text += info.what_next_text(q.program, ctx.today(), certificate.number)
    # The confirmation is a one-off message; what comes next starts from the menu.
    ctx.state.update(step="menu", data={})
    return Screen(text=text, rows=rows([Button(texts.BTN_ENROLLMENTS, "cmd:enrollments"),
                                        Button(texts.BTN_MENU, "cmd:menu")]))

