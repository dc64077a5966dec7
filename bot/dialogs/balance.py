"""/balance: each child's certificate (status, number, nominal, available,
reserved, spent) and, a press away, the year's month-by-month plan and the
money's history (bot/dialogs/history.py). From 1 December: what expires on
31 December and the programs that can still take it (bot/dialogs/year_end.py)."""
from __future__ import annotations

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs import year_end as year_end_words
from bot.dialogs.children import first_name
from bot.dialogs.chart import with_charts
from bot.dialogs.history import history_button
from bot.dialogs.screen import Button, Reply, Screen
from bot.dialogs.state import Ctx, Stale, action, command, int_arg, rows, step
from core import certificates
from core import children as core_children
from core import year_end
from core.models import Certificate, Child, Program

# VK: at most 10 keyboard rows.
MAX_ROWS = 10


@step("balance")
async def balance_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    kids = await core_children.list_children(ctx.session, parent)
    if not kids:
        return Screen(text=texts.BALANCE_EMPTY, rows=rows(
            Button(texts.BTN_ADD_CHILD, "ch:add"), Button(texts.BTN_MENU, "cmd:menu")))
    blocks: list[list[str]] = [[texts.BALANCE_TITLE]]
    plans = []
    decembers: list[tuple[list[str], year_end_words.December]] = []
    for child in kids:
        certificate = child.certificate
        name = child.full_name or "—"
        if certificate is None:
            blocks.append([texts.BALANCE_NO_CERT.format(name=name, status=texts.NOT_ISSUED)])
            continue
        lines = [texts.BALANCE_CERT.format(name=name, number=certificate.number,
                                           status=texts.STATUS_LABEL[certificate.status])]
        current = await certificates.balance(ctx.session, certificate)
        if current.unit is None or current.year is None:
            lines.append(texts.BALANCE_NO_MONEY)
        else:
            unit = current.unit
            lines.append(texts.BALANCE_LINES.format(
                year=current.year, credited=fmt.amount(current.credited, unit),
                available=fmt.amount(current.available, unit), reserved=fmt.amount(current.reserved, unit),
                spent=fmt.amount(current.spent, unit)))
            if current.expired:
                lines.append(texts.BALANCE_EXPIRED.format(expired=fmt.amount(current.expired, unit)))
            plans.append([Button(fmt.short(texts.BTN_PLAN.format(name=first_name(child)), 40),
                                 f"bal:plan:{child.id}"),
                          history_button(certificate.id, first_name(child))])
            found = await year_end_words.december(ctx.session, child, certificate, ctx.clock)
            if found is not None:
                lines.append(texts.EXPIRES_LINE.format(**year_end_words.expires_words(found.expiring)))
                decembers.append((lines, found))
        blocks.append(lines)
    suggested = _suggest(decembers, room=(MAX_ROWS - len(plans) - 1) * year_end_words.NUMBERS_PER_ROW)
    if suggested:
        blocks.append([texts.EXPIRES_HINT])
    return Screen(text="\n\n".join("\n".join(block) for block in blocks),
                  rows=rows(*plans, *year_end_words.number_rows(suggested), Button(texts.BTN_MENU, "cmd:menu")))


def _suggest(decembers: list[tuple[list[str], year_end_words.December]], room: int) -> list[Program]:
    """Add each certificate's December programs under its lines, numbered across the
    children, as many as the keyboard has buttons for; the programs numbered, in order."""
    suggested: list[Program] = []
    for lines, found in decembers:
        if not found.programs:
            lines.append(texts.EXPIRES_SUGGEST_NONE)
            continue
        shown = found.programs[:max(0, room - len(suggested))]
        if shown:
            lines.append(texts.EXPIRES_SUGGEST)
            lines.extend(year_end_words.suggestion_lines(shown, found.expiring.unit, len(suggested) + 1))
            suggested.extend(shown)
    return suggested


@step("bal.plan")
async def plan_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    child = await core_children.get_child(ctx.session, parent, int(ctx.data["child"]))
    back = rows([Button(texts.BTN_TO_BALANCE, "cmd:balance"), Button(texts.BTN_MENU, "cmd:menu")])
    certificate = child.certificate
    if certificate is None or certificate.unit is None:
        return Screen(text=texts.PLAN_NO_CERT, rows=back)
    year = ctx.today().year
    plan = await certificates.year_plan(ctx.session, certificate, year)
    unit = plan.unit
    lines = [texts.PLAN_TITLE.format(year=year, name=child.full_name or "—")]
    for month in plan.months:
        value = fmt.amount(month.reserved, unit) if month.reserved else texts.PLAN_EMPTY_MONTH
        lines.append(texts.PLAN_MONTH.format(month=texts.MONTHS[month.month - 1].capitalize(), reserved=value))
    lines.append("")
    lines.append(texts.PLAN_TOTAL.format(reserved=fmt.amount(plan.reserved_total, unit),
                                         free=fmt.amount(plan.free, unit)))
    lines.append("")
    advice, suggested = await _plan_advice(ctx, child, certificate)
    lines.extend(advice)
    return Screen(text="\n".join(lines), rows=(*year_end_words.number_rows(suggested), *back))


async def _plan_advice(ctx: Ctx, child: Child, certificate: Certificate) -> tuple[list[str], list[Program]]:
    """Before December the general advice; from 1 December what expires on 31 December
    and the programs that can still take it (numbered: their buttons go under the plan)."""
    found = await year_end_words.december(ctx.session, child, certificate, ctx.clock)
    if found is None:
        return [texts.EXPIRES_NOTHING if year_end.is_year_end(ctx.clock) else texts.PLAN_ADVICE], []
    lines = [texts.EXPIRES_LINE.format(**year_end_words.expires_words(found.expiring)).strip()]
    if not found.programs:
        return [*lines, texts.EXPIRES_SUGGEST_NONE.strip()], []
    return [*lines, texts.EXPIRES_SUGGEST.strip(),
            *year_end_words.suggestion_lines(found.programs, found.expiring.unit, 1),
            texts.EXPIRES_HINT], found.programs


@command("balance")
async def balance_command(ctx: Ctx, words: str) -> Reply:
    return await with_charts(ctx, await ctx.show("balance"))


@action("bal")
async def press_balance(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    if len(args) != 2 or args[0] != "plan":
        raise Stale()
    child = await core_children.get_child(ctx.session, parent, int_arg(args, 1))
    return await ctx.show("bal.plan", child=child.id)
