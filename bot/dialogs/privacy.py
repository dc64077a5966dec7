"""The parent's rights over their data: /mydata (what is stored, 152-ФЗ ст. 14) and
/forget (withdrawing consent: first what will happen, then, on confirmation, the erase)."""
from __future__ import annotations

import datetime as dt

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.children import first_name
from bot.dialogs.review_card import stars
from bot.dialogs.screen import Button, Reply, Screen
from bot.dialogs.state import Ctx, Stale, action, command, rows, step
from bot.dialogs.subscribe import subscription_summary
from core import family, parents, personal_data
from core.models import Child, EnrollmentStatus, Review


def _day(ctx: Ctx, moment: dt.datetime | None) -> str:
    return fmt.date(moment.astimezone(ctx.clock.tz) if moment is not None else None)


def _platform(name: str) -> str:
    return texts.PLATFORM_LABEL.get(name, name)


# --- /mydata -------------------------------------------------------------------------
def _child_lines(ctx: Ctx, n: int, child: Child) -> list[str]:
    lines = [texts.MYDATA_CHILD.format(
        n=n, name=child.full_name or "—", birth=fmt.date(child.birth_date), snils=fmt.snils_masked(child.snils),
        muni=child.municipality.name,
        added=fmt.for_child(texts.MYDATA_ADDED, child.full_name).format(date=_day(ctx, child.created_at)))]
    certificate = child.certificate
    if certificate is None:
        lines.append(texts.MYDATA_NO_CERTIFICATE)
    else:
        lines.append(texts.MYDATA_CERTIFICATE.format(
            number=certificate.number, status=texts.STATUS_LABEL[certificate.status],
            issued=_day(ctx, certificate.issued_at), until=fmt.date(certificate.valid_until)))
    return lines


async def mydata_messages(ctx: Ctx) -> list[str]:
    """What is stored, as a few chat messages: the account, the children, the rest."""
    parent = await ctx.require_parent()
    data = await personal_data.stored_about(ctx.session, parent)
    account = [texts.MYDATA_TITLE, texts.MYDATA_ACCOUNT.format(
        platform=_platform(parent.platform), external_id=parent.external_id, created=_day(ctx, parent.created_at))]
    if data.consents:
        # Every agreement, oldest first: each version the parent accepted, and when.
        account.extend(texts.MYDATA_CONSENT.format(version=c.version, given=_day(ctx, c.given_at),
                                                   platform=_platform(c.platform)) for c in data.consents)
    else:
        account.append(texts.MYDATA_CONSENT_NONE)
    if data.linked:
        assert data.alerts_to is not None
        account.append(texts.MYDATA_LINKED.format(accounts=", ".join(_platform(a.platform) for a in data.linked),
                                                  alerts=_platform(data.alerts_to.platform)))
    else:
        account.append(texts.MYDATA_NOT_LINKED)
    kids = [texts.MYDATA_CHILDREN_TITLE] if data.children else [texts.MYDATA_NO_CHILDREN]
    for n, child in enumerate(data.children, 1):
        kids.extend(_child_lines(ctx, n, child))
    rest: list[str] = []
    if data.enrollments:
        rest.append(texts.MYDATA_ENROLLMENTS_TITLE)
        for item in data.enrollments:
            line = texts.MYDATA_ENROLLMENT.format(
                title=fmt.quoted(item.program.title), child=first_name(item.child),
                status=texts.ENROLLMENT_STATUS[item.status],
                enrolled=fmt.for_child(texts.MYDATA_ENROLLED, item.child.full_name).format(
                    date=_day(ctx, item.enrolled_at)))
            if item.status is EnrollmentStatus.CANCELLED and item.cancelled_at is not None:
                line += texts.MYDATA_ENROLLMENT_CANCELLED.format(date=_day(ctx, item.cancelled_at))
            rest.append(line)
    else:
        rest.append(texts.MYDATA_NO_ENROLLMENTS)
    if data.waiting:
        rest.append("\n" + texts.MYDATA_WAITING_TITLE)
        rest.extend(texts.MYDATA_WAITING.format(title=fmt.quoted(entry.program.title), child=first_name(entry.child),
                                                date=_day(ctx, entry.created_at)) for entry in data.waiting)
    else:
        rest.append(texts.MYDATA_NO_WAITING)
    if data.subscriptions:
        rest.append("\n" + texts.MYDATA_SUBS_TITLE)
        rest.extend(texts.MYDATA_SUB.format(summary=subscription_summary(sub), date=_day(ctx, sub.created_at))
                    for sub in data.subscriptions)
    else:
        rest.append(texts.MYDATA_NO_SUBS)
    rest.extend(_review_lines(ctx, data.reviews))
    return ["\n".join(account), "\n".join(kids), "\n".join(rest)]


def _review_lines(ctx: Ctx, reviews: list[Review]) -> list[str]:
    """The parent's ratings of programs, each with its comment (theirs to see in full)."""
    if not reviews:
        return [texts.MYDATA_NO_REVIEWS]
    lines = [texts.MYDATA_REVIEWS_TITLE]
    for review in reviews:
        line = texts.MYDATA_REVIEW.format(title=fmt.quoted(review.program.title), child=first_name(review.child),
                                          stars=stars(review.rating), date=_day(ctx, review.updated_at))
        if review.hidden_at is not None:
            line += texts.MYDATA_REVIEW_HIDDEN
        if review.comment:
            line += texts.MYDATA_REVIEW_COMMENT.format(comment=review.comment)
        lines.append(line)
    return lines


@step("mydata")
async def mydata_screen(ctx: Ctx) -> Screen:
    return Screen(text=texts.MYDATA_TAIL, rows=rows(
        [Button(texts.BTN_FORGET, "cmd:forget"), Button(texts.BTN_MENU, "cmd:menu")]))


@command("mydata")
async def mydata(ctx: Ctx, words: str) -> Reply:
    messages = await mydata_messages(ctx)
    tail = await ctx.show("mydata")
    return Reply(screens=[Screen(text=text) for text in messages] + [tail])


# --- /forget -------------------------------------------------------------------------
async def _forgettable(ctx: Ctx):  # type: ignore[no-untyped-def]
    """The parent, if they ever agreed (to any version: withdrawing never needs the new one)."""
    parent = await ctx.parent()
    return parent if parents.has_consent(parent) else None


@step("forget.ask")
async def forget_screen(ctx: Ctx) -> Screen:
    parent = await _forgettable(ctx)
    if parent is None:
        raise Stale()
    plan = await personal_data.forget_plan(ctx.session, parent, ctx.clock)
    lines = [texts.FORGET_PLAN_TITLE]
    if plan.family_keeps:   # a linked account (/link): the family keeps its data
        lines += [texts.FORGET_PLAN_LINKED.format(others=", ".join(_platform(p) for p in plan.family_keeps)),
                  texts.FORGET_PLAN_ASK]
        return Screen(text="\n\n".join(lines), rows=rows([Button(texts.BTN_FORGET_YES, "forget:yes"),
                                                          Button(texts.BTN_NO, "cmd:menu")]))
    if plan.cancellations:
        lines.append(texts.FORGET_PLAN_CANCEL_TITLE)
        for quote in plan.cancellations:
            item = quote.enrollment
            if quote.unit is None and not quote.refund:
                lines.append(texts.FORGET_PLAN_CANCEL_FREE.format(title=fmt.quoted(item.program.title),
                                                                  child=first_name(item.child)))
            else:
                lines.append(texts.FORGET_PLAN_CANCEL.format(title=fmt.quoted(item.program.title), child=first_name(item.child),
                                                             refund=fmt.amount(quote.refund, quote.unit)))
    if plan.waiting:
        lines.append(texts.FORGET_PLAN_WAITING.format(count=len(plan.waiting)))
    if plan.subscriptions:
        lines.append(texts.FORGET_PLAN_SUBS.format(count=plan.subscriptions))
    if plan.comments:
        lines.append(texts.FORGET_PLAN_COMMENTS.format(count=plan.comments))
    if plan.children:
        lines.append(texts.FORGET_PLAN_CHILDREN.format(names=", ".join(first_name(c) for c in plan.children)))
    else:
        lines.append(texts.FORGET_PLAN_NO_CHILDREN)
    lines += [texts.FORGET_PLAN_MONEY, texts.FORGET_PLAN_ASK]
    back = Button(texts.BTN_NO, "cmd:menu")
    return Screen(text="\n\n".join(lines), rows=rows([Button(texts.BTN_FORGET_YES, "forget:yes"), back]))


@command("forget", consent=False)
async def forget(ctx: Ctx, words: str) -> Screen:
    if await _forgettable(ctx) is None:
        return Screen(text=texts.FORGET_NOTHING, rows=rows(Button(texts.BTN_TO_START, "cmd:start")))
    return await ctx.show("forget.ask")


@action("forget", consent=False)
async def press_forget(ctx: Ctx, args: list[str]) -> Screen:
    parent = await _forgettable(ctx)
    if args != ["yes"] or ctx.step_name != "forget.ask" or parent is None:
        raise Stale()
    # A linked account leaves its family first: the family's enrollments stay as they are.
    linked = await family.is_linked(ctx.session, parent)
    cancelled = 0 if linked else len(await parents.active_enrollment_ids(ctx.session, parent))
    await parents.forget_parent(ctx.session, parent, ctx.clock)
    # forget_parent removed the DialogState row; a later message starts afresh.
    ctx.drop_state = True
    text = texts.FORGET_DONE
    if cancelled:
        text += "\n" + texts.FORGET_DONE_CANCELLED.format(count=cancelled)
    return Screen(text=text, rows=rows(Button(texts.BTN_START_AGAIN, "cmd:start")))
