"""Where the rating dialog shows on other screens: the ratings section of a program's card
(«★ 4,6 · 12 оценок» and the latest comments, never who wrote them) and the «Оценить
программу» button of an enrollment. The dialog itself: bot/dialogs/reviews.py."""
from __future__ import annotations

from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.screen import Button
from bot.dialogs.state import Ctx
from core import reviews
from core.models import Enrollment, Program

# ctx.extra key: the card's rating button, found while its section was written.
CARD_BUTTON = "reviews.card_button"


def stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


def cut(comment: str, limit: int = texts.REVIEWS_COMMENT_CUT) -> str:
    text = " ".join(comment.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- the card ---------------------------------------------------------------------------
async def reviews_section(ctx: Ctx, program: Program) -> str:
    """The card's ratings: «★ 4,6 · 12 оценок» and the latest comments, without names.
    Remembers the rating button for the card (bot/dialogs/reviews.py adds it) when one of the
    parent's children attended the program."""
    found = await reviews.summary(ctx.session, program.id)
    if not found.count:
        text = texts.REVIEWS_SECTION_NONE
    else:
        text = texts.REVIEWS_SECTION.format(average=fmt.tenths(found.average_tenths), count=found.count,
                                            word=fmt.plural(found.count, texts.RATINGS_WORD))
        for rating, comment in await reviews.latest_comments(ctx.session, program.id):
            text += texts.REVIEWS_COMMENT.format(stars=stars(rating), comment=cut(comment))
    if await reviews.raters(ctx.session, await ctx.parent(), program.id, ctx.clock):
        ctx.extra[CARD_BUTTON] = Button(texts.BTN_RATE, f"rv:p:{program.id}")
    return text


# --- an enrollment's screen (/enrollments) --------------------------------------------------
async def enrollment_rate_button(ctx: Ctx, item: Enrollment, label: str = texts.BTN_RATE) -> Button | None:
    """«Оценить программу» for an enrollment whose child attended (or attends) the program."""
    parent = await ctx.require_parent()
    found = await reviews.standing(ctx.session, parent, item.child_id, item.program_id, ctx.clock)
    return Button(label, f"rv:e:{item.id}") if found.attended else None
