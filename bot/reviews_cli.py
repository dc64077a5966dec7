"""`python -m bot reviews …`: the operator moderates parents' reviews of programs.

    reviews list [--program ID] [--limit N]   the newest reviews: id, program, rating, comment
    reviews hide ID                           the card no longer counts or shows it
    reviews unhide ID                         shown again

Never a parent's or a child's name: an operator sees what the card would show, and the id.
"""
from __future__ import annotations

import argparse

from bot.config import Settings
from core import reviews
from core.clock import Clock

COMMENT_SHOWN = 200


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    found = sub.add_parser("reviews", help="parents' reviews of programs: list, hide, unhide")
    actions = found.add_subparsers(dest="reviews_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the newest reviews with their ids (to hide one)")
    listing.add_argument("--program", type=int, help="only this program's reviews (its id)")
    listing.add_argument("--limit", type=int, default=50, help="how many (default 50, at most 1000)")
    hide = actions.add_parser("hide", help="hide a review from the program's card")
    hide.add_argument("id", type=int)
    unhide = actions.add_parser("unhide", help="show a hidden review again")
    unhide.add_argument("id", type=int)


def _line(review) -> str:  # type: ignore[no-untyped-def]
    comment = review.comment
    if comment is None:
        shown = "(no comment)" if review.comment_enc is None else ""
    else:
        flat = " ".join(comment.split())
        shown = "«" + (flat if len(flat) <= COMMENT_SHOWN else flat[:COMMENT_SHOWN - 1] + "…") + "»"
    state = f"hidden {review.hidden_at:%Y-%m-%d}" if review.hidden_at is not None else "shown"
    return (f"#{review.id}  program {review.program_id} «{review.program.title}»  {review.rating}/5  "
            f"{review.updated_at:%Y-%m-%d}  {state}  {shown}")


async def run(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    from bot.runtime import open_database

    if args.reviews_command == "list" and not 1 <= args.limit <= 1000:
        print("error: --limit must be between 1 and 1000")
        return 2
    db = await open_database(settings)
    try:
        if args.reviews_command == "list":
            async with db.read() as session:
                found = await reviews.for_operator(session, args.program, args.limit)
                lines = [_line(review) for review in found]
            if not lines:
                print("no reviews" + (f" of program {args.program}" if args.program is not None else "") + " yet")
            for line in lines:
                print(line)
            return 0
        async with db.write() as session:
            if args.reviews_command == "hide":
                review, changed = await reviews.hide(session, args.id, clock)
                print(f"review #{review.id} is hidden from the card of «{review.program.title}»" if changed
                      else f"review #{review.id} was hidden already")
            else:
                review, changed = await reviews.unhide(session, args.id)
                print(f"review #{review.id} is shown on the card of «{review.program.title}» again" if changed
                      else f"review #{review.id} was not hidden")
        return 0
    finally:
        await db.dispose()
