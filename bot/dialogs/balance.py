"""/balance: each child's certificate (status, number, nominal, available,
reserved, spent) and, a press away, the year's month-by-month plan."""
from __future__ import annotations

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.children import first_name
from bot.dialogs.chart import with_charts
from bot.dialogs.screen import Button, Reply, Screen
from bot.dialogs.state import Ctx, Stale, action, command, int_arg, rows, step
from core import certificates
from core import children as core_children


@step("balance")
async def balance_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    kids = await core_children.list_children(ctx.session, parent)
    if not kids:
        return Screen(text=texts.BALANCE_EMPTY, rows=rows(
            Button(texts.BTN_ADD_CHILD, "ch:add"), Button(texts.BTN_MENU, "cmd:menu")))
    blocks = [texts.BALANCE_TITLE]
    plans = []
    for child in kids:
        certificate = child.certificate
        name = child.full_name or "—"
        if certificate is None:
            blocks.append(texts.BALANCE_NO_CERT.format(name=name, status=texts.NOT_ISSUED))
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
            plans.append(Button(fmt.short(texts.BTN_PLAN.format(name=first_name(child)), 40),
                                f"bal:plan:{child.id}"))
        blocks.append("\n".join(lines))
    return Screen(text="\n\n".join(blocks), rows=rows(*[[b] for b in plans], Button(texts.BTN_MENU, "cmd:menu")))


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
    lines.append(texts.PLAN_ADVICE)
    return Screen(text="\n".join(lines), rows=back)


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
