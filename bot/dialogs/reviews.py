"""Rating a program the child attended: 1–5 stars, then an optional comment, then thanks.

Reached from an enrollment's screen in /enrollments («Оценить программу», also on a
cancelled enrollment's line) and from the program's card. Before the first settled month
the parent is told the day rating opens; a program the child never attended is refused.
The card's section of ratings (`reviews_section`) shows the average, the count and the
latest comments, never who wrote them (core/reviews.py).

Buttons:  rv:p:<program>  (card) · rv:e:<enrollment> · rv:c:<program>:<child>
          rv:s:<program>:<child>:<stars> · rv:none (no comment)
"""
from __future__ import annotations

import datetime as dt

from bot.dialogs import find as _find  # noqa: F401 - registers the card step wrapped below
from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.children import first_name
from bot.dialogs.review_card import CARD_BUTTON, cut, stars
from bot.dialogs.screen import Button, Screen
from bot.dialogs.state import STEPS, Ctx, Stale, action, int_arg, on_text, rows, step
from core import catalog, enrollment, reviews
from core.children import get_child
from core.errors import DomainError
from core.models import Program


_plain_card = STEPS["card"]


@step("card")
async def card_with_rating(ctx: Ctx) -> Screen:
    """The program's card (bot/dialogs/find.py), with «Оценить программу» above its way back
    when the parent's child attended the program."""
    screen = await _plain_card(ctx)
    button = ctx.extra.pop(CARD_BUTTON, None)
    if button is None or not screen.rows:
        return screen
    return Screen(text=screen.text, rows=(*screen.rows[:-1], (button,), screen.rows[-1]), image=screen.image)


# --- the dialog ------------------------------------------------------------------------------
def _back(ctx: Ctx) -> Button:
    back = str(ctx.data.get("back") or "")
    if back.startswith("enl:view:"):
        return Button(texts.BTN_TO_ENROLLMENTS, back)
    return Button(texts.BTN_TO_CARD, f"card:{int(ctx.data['program'])}")


async def _titled(ctx: Ctx) -> tuple[Program, str]:
    program = await catalog.get_program(ctx.session, int(ctx.data["program"]))
    return program, fmt.quoted(program.title)


@step("rv.child")
async def pick_child_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    program, title = await _titled(ctx)
    found = await reviews.raters(ctx.session, parent, program.id, ctx.clock)
    buttons = [Button(fmt.short(texts.BTN_RATE_FOR.format(name=first_name(child)), 40),
                      f"rv:c:{program.id}:{child.id}") for child, _standing in found]
    return Screen(text=texts.RATE_PICK_CHILD.format(title=title),
                  rows=rows(*[[b] for b in buttons], _back(ctx)))


@step("rv.stars")
async def stars_screen(ctx: Ctx) -> Screen:
    parent = await ctx.require_parent()
    program, title = await _titled(ctx)
    child_id = int(ctx.data["child"])
    child = await get_child(ctx.session, parent, child_id)
    text = texts.RATE_ASK_STARS.format(title=title, child=first_name(child))
    existing = await reviews.review_of(ctx.session, child.id, program.id)
    if existing is not None:
        text += texts.RATE_ASK_STARS_AGAIN.format(stars=stars(existing.rating))
    buttons = [Button(f"{n} ★", f"rv:s:{program.id}:{child.id}:{n}") for n in reviews.RATINGS]
    return Screen(text=text, rows=rows(buttons, _back(ctx)))


@step("rv.wait")
async def wait_screen(ctx: Ctx) -> Screen:
    _program, title = await _titled(ctx)
    opens_on = dt.date.fromisoformat(str(ctx.data["opens_on"]))
    if opens_on <= ctx.today():
        text = texts.RATE_NOT_YET_TODAY.format(title=title)
    else:
        text = texts.RATE_NOT_YET.format(title=title, date=fmt.date(opens_on))
    return Screen(text=text, rows=rows([_back(ctx), Button(texts.BTN_MENU, "cmd:menu")]))


@step("rv.comment")
async def comment_screen(ctx: Ctx) -> Screen:
    rating = reviews.check_rating(ctx.data.get("rating"))
    return Screen(text=texts.RATE_ASK_COMMENT.format(stars=stars(rating), limit=fmt.group(reviews.COMMENT_LIMIT)),
                  rows=rows(Button(texts.BTN_NO_COMMENT, "rv:none"), _back(ctx)))


@step("rv.done")
async def done_screen(ctx: Ctx) -> Screen:
    _program, title = await _titled(ctx)
    review = await reviews.review_of(ctx.session, int(ctx.data["child"]), int(ctx.data["program"]))
    if review is None:
        raise Stale()
    text = texts.RATE_THANKS.format(stars=stars(review.rating), title=title)
    if review.comment:
        text += texts.RATE_THANKS_COMMENT.format(comment=cut(review.comment))
    return Screen(text=text, rows=rows([_back(ctx), Button(texts.BTN_MENU, "cmd:menu")]))


async def _open(ctx: Ctx, program_id: int, child_id: int, back: str) -> Screen:
    """The stars, or when rating opens; a program the child never attended is refused."""
    parent = await ctx.require_parent()
    program = await catalog.get_program(ctx.session, program_id)
    found = await reviews.standing(ctx.session, parent, child_id, program.id, ctx.clock)
    if not found.attended:
        raise DomainError("never_attended")
    if not found.open:
        assert found.opens_on is not None
        return await ctx.show("rv.wait", program=program.id, child=child_id, back=back,
                              opens_on=found.opens_on.isoformat())
    return await ctx.show("rv.stars", program=program.id, child=child_id, back=back)


async def _save(ctx: Ctx, comment: str | None) -> Screen:
    if ctx.step_name != "rv.comment":
        raise Stale()
    parent = await ctx.require_parent()
    program_id, child_id = int(ctx.data["program"]), int(ctx.data["child"])
    await reviews.rate(ctx.session, parent, child_id, program_id, ctx.data.get("rating"), comment, ctx.clock)
    return await ctx.advance("rv.done")


@on_text("rv.comment")
async def comment_text(ctx: Ctx, text: str) -> Screen:
    return await _save(ctx, text)


@action("rv")
async def press_rate(ctx: Ctx, args: list[str]) -> Screen:
    parent = await ctx.require_parent()
    what, rest = (args[0] if args else ""), args[1:]
    if what == "p" and len(rest) == 1:                       # from the card
        program = await catalog.get_program(ctx.session, int_arg(rest, 0))
        found = await reviews.raters(ctx.session, parent, program.id, ctx.clock)
        if not found:
            raise DomainError("never_attended")
        if len(found) == 1:
            return await _open(ctx, program.id, found[0][0].id, f"card:{program.id}")
        return await ctx.show("rv.child", program=program.id, back=f"card:{program.id}")
    if what == "e" and len(rest) == 1:                       # from /enrollments
        item = await enrollment.get_enrollment(ctx.session, parent, int_arg(rest, 0))
        return await _open(ctx, item.program_id, item.child_id, f"enl:view:{item.id}")
    if what == "c" and len(rest) == 2:
        back = str(ctx.data.get("back") or "") if ctx.step_name == "rv.child" else ""
        return await _open(ctx, int_arg(rest, 0), int_arg(rest, 1), back or f"card:{int_arg(rest, 0)}")
    if what == "s" and len(rest) == 3:
        program_id, child_id = int_arg(rest, 0), int_arg(rest, 1)
        rating = reviews.check_rating(int_arg(rest, 2))      # a forged 0 or 9: said plainly
        found = await reviews.standing(ctx.session, parent, child_id, program_id, ctx.clock)
        if not found.attended:
            raise DomainError("never_attended")
        if not found.open:
            raise DomainError("rating_not_open")
        back = str(ctx.data.get("back") or "") or f"card:{program_id}"
        return await ctx.show("rv.comment", program=program_id, child=child_id, rating=rating, back=back)
    if what == "none" and not rest:
        return await _save(ctx, None)
    raise Stale()
