"""«Движение средств»: from /balance, every ledger row of one certificate in plain words,
newest first, a page at a time (◀/▶). Every press re-checks that the certificate is
one of the parent's children's, and that the page exists."""
from __future__ import annotations

import datetime as dt

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import Ctx, Stale, action, int_arg, rows, step
from core import history
from core.models import Certificate, LedgerKind


def entry_text(entry: history.HistoryEntry, tz: dt.tzinfo) -> str:
    """One ledger row as a parent reads it: '02.12.2026 · зачислено 12 000 ₽ на 2026 год'."""
    day = entry.created_at.astimezone(tz)
    amount = fmt.amount(entry.amount, entry.unit)
    month = ""
    if entry.month is not None:
        month = texts.MONTHS[entry.month - 1]
        if entry.year != day.year:
            month = texts.HISTORY_MONTH_OF_YEAR.format(month=month, year=entry.year)
    program = texts.HISTORY_PROGRAM.format(title=fmt.quoted(entry.program_title)) if entry.program_title else ""
    if entry.kind is LedgerKind.CREDIT:
        what = texts.HISTORY_CREDIT.format(amount=amount, year=entry.year)
    elif entry.kind is LedgerKind.RESERVE:
        what = texts.HISTORY_RESERVE.format(amount=amount, month=month, program=program)
    elif entry.kind is LedgerKind.SETTLE:
        what = texts.HISTORY_SETTLE.format(amount=amount, month=month, program=program)
    elif entry.kind is LedgerKind.REFUND:
        what = texts.HISTORY_REFUND.format(amount=amount, month=month, program=program)
    else:
        what = texts.HISTORY_EXPIRE.format(amount=amount, year=entry.year)
    return texts.HISTORY_LINE.format(date=fmt.date(day), what=what)


def history_button(certificate_id: int, name: str) -> Button:
    return Button(fmt.short(texts.BTN_HISTORY.format(name=name), 40), f"hist:{certificate_id}:0")


async def _page(ctx: Ctx, certificate: Certificate, page: int) -> history.HistoryPage:
    return await ctx.once(("hist", certificate.id, page),
                          lambda: history.history_page(ctx.session, certificate, page))


@step("hist")
async def history_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    certificate = await history.own_certificate(ctx.session, parent, int(ctx.data["certificate"]))
    page = await _page(ctx, certificate, int(ctx.data.get("page") or 0))
    child = certificate.child
    lines = [texts.HISTORY_TITLE.format(name=child.full_name or "—", number=certificate.number)]
    if not page.entries:
        lines.append(texts.HISTORY_EMPTY)
    lines.extend(entry_text(entry, ctx.clock.tz) for entry in page.entries)
    if page.pages > 1:
        lines.append("")
        lines.append(texts.HISTORY_PAGE.format(page=page.page + 1, pages=page.pages, total=page.total))
    nav = []
    if page.has_prev:
        nav.append(Button(texts.BTN_PREV, f"hist:{certificate.id}:{page.page - 1}"))
    if page.has_next:
        nav.append(Button(texts.BTN_NEXT, f"hist:{certificate.id}:{page.page + 1}"))
    return Screen(text="\n".join(lines), rows=rows(
        nav, [Button(texts.BTN_TO_BALANCE, "cmd:balance"), Button(texts.BTN_MENU, "cmd:menu")]))


@action("hist")
async def press_history(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    if len(args) != 2:
        raise Stale()
    certificate = await history.own_certificate(ctx.session, parent, int_arg(args, 0))
    page = int_arg(args, 1)
    await _page(ctx, certificate, page)   # a page that does not exist is refused before moving there
    return await ctx.show("hist", certificate=certificate.id, page=page)

