"""Parents rate the programs their children attended (seed 004: «по итогам обучения»).

Rating opens after the child's first settled month in the program: the month's SETTLE
ledger entry (core/settlement.py, on the 1st of the month after), or, for a month with no
reservation to settle (a free municipal program, a month the parent co-paid in full), the
1st of the month after it. An enrollment cancelled before its first study month began (or
on the day it was made, everything refunded) was never attended. Each child rates each
program once (1–5 and an optional comment of at most 1 000 characters); rating again
replaces it. An operator may hide a review: the card then neither counts nor shows it.

The comment is free text and may name people, so it is personal data: stored encrypted
(Review.comment, core/pd.py) and erased by /forget (core/parents.py); the rating stays
as an anonymous figure. Cards never say who wrote a review.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.children import get_child
from core.clock import Clock
from core.costing import payable_months
from core.errors import DomainError, NotFound
from core.models import Child, Enrollment, EnrollmentStatus, LedgerEntry, LedgerKind, Parent, Program, Review
from core.parents import require_consent

RATINGS = range(1, 6)
COMMENT_LIMIT = 1000
LATEST = 3   # comments a card shows


@dataclass(frozen=True)
class Standing:
    """Whether a child may rate a program now; if not yet, from which day (None: never)."""
    attended: bool                 # an enrollment that was (or is being) attended
    open: bool
    opens_on: dt.date | None = None


NEVER = Standing(attended=False, open=False)


def first_study_month(program: Program, enrolled_on: dt.date) -> tuple[int, int] | None:
    """The first month the program is taught in from the enrollment's month on."""
    for year in range(enrolled_on.year, program.end_date.year + 1):
        months = payable_months(program, year, enrolled_on.month if year == enrolled_on.year else 1)
        if months:
            return year, months[0]
    return None


def month_after(year: int, month: int) -> dt.date:
    return dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)


def _enrollment_standing(enrollment: Enrollment, settled: bool, reserved: set[tuple[int, int]],
                         clock: Clock) -> Standing:
    """One enrollment's standing: `settled` if it has a SETTLE entry; `reserved` the months
    it holds a reservation for (those wait for the settlement job, not the calendar)."""
    if settled:
        return Standing(attended=True, open=True)
    enrolled_on = enrollment.enrolled_at.astimezone(clock.tz).date()
    first = first_study_month(enrollment.program, enrolled_on)
    if first is None:
        return NEVER
    if enrollment.status is EnrollmentStatus.CANCELLED and enrollment.cancelled_at is not None:
        cancelled_on = enrollment.cancelled_at.astimezone(clock.tz).date()
        if cancelled_on == enrolled_on or cancelled_on < dt.date(first[0], first[1], 1):
            return NEVER   # everything refunded: not a lesson attended
    opens_on = month_after(*first)
    if first not in reserved and clock.today() >= opens_on:
        return Standing(attended=True, open=True, opens_on=opens_on)
    return Standing(attended=True, open=False, opens_on=opens_on)


def _combine(standings: Sequence[Standing]) -> Standing:
    """A child's standing in a program from their enrollments in it (re-enrolled after a cancel)."""
    if any(s.open for s in standings):
        return Standing(attended=True, open=True)
    days = [s.opens_on for s in standings if s.attended and s.opens_on is not None]
    return Standing(attended=True, open=False, opens_on=min(days)) if days else NEVER


async def _standings(session: AsyncSession, enrollments: Sequence[Enrollment], clock: Clock) -> dict[int, Standing]:
    """Each child's standing in the program of `enrollments` (all of one program), by child id."""
    if not enrollments:
        return {}
    ids = [enrollment.id for enrollment in enrollments]
    rows = (await session.execute(
        select(LedgerEntry.enrollment_id, LedgerEntry.kind, LedgerEntry.year, LedgerEntry.month)
        .where(LedgerEntry.enrollment_id.in_(ids), LedgerEntry.kind.in_([LedgerKind.SETTLE, LedgerKind.RESERVE]))
        .distinct())).all()
    settled = {row.enrollment_id for row in rows if row.kind is LedgerKind.SETTLE}
    reserved: dict[int, set[tuple[int, int]]] = {}
    for row in rows:
        if row.kind is LedgerKind.RESERVE and row.month is not None:
            reserved.setdefault(row.enrollment_id, set()).add((row.year, row.month))
    by_child: dict[int, list[Standing]] = {}
    for enrollment in enrollments:
        by_child.setdefault(enrollment.child_id, []).append(_enrollment_standing(
            enrollment, enrollment.id in settled, reserved.get(enrollment.id, set()), clock))
    return {child_id: _combine(found) for child_id, found in by_child.items()}


async def standing(session: AsyncSession, parent: Parent | None, child_id: int, program_id: int,
                   clock: Clock) -> Standing:
    """May the parent's child rate the program now? (Anybody else's child is "not found".)"""
    child = await get_child(session, require_consent(parent), child_id)
    enrollments = (await session.execute(
        select(Enrollment).where(Enrollment.child_id == child.id, Enrollment.program_id == program_id)
    )).scalars().unique().all()
    return (await _standings(session, enrollments, clock)).get(child.id, NEVER)


async def raters(session: AsyncSession, parent: Parent | None, program_id: int,
                 clock: Clock) -> list[tuple[Child, Standing]]:
    """The parent's children who attended the program (or are attending it), with their standing."""
    if parent is None or parent.consent_at is None or parent.forgotten_at is not None:
        return []
    enrollments = (await session.execute(
        select(Enrollment).join(Child, Enrollment.child_id == Child.id)
        .where(Child.parent_id == parent.owner_id, Child.forgotten_at.is_(None), Enrollment.program_id == program_id)
        .order_by(Child.id, Enrollment.id))).scalars().unique().all()
    found = await _standings(session, enrollments, clock)
    children = {enrollment.child_id: enrollment.child for enrollment in enrollments}
    return [(children[child_id], found[child_id]) for child_id in sorted(found) if found[child_id].attended]


# --- writing -----------------------------------------------------------------------------
def check_rating(rating: object) -> int:
    if not isinstance(rating, int) or isinstance(rating, bool) or rating not in RATINGS:
        raise DomainError("rating_invalid", min=RATINGS.start, max=RATINGS.stop - 1)
    return rating


def clean_comment(comment: str | None) -> str | None:
    """The comment as stored: trimmed, None when empty; refused over COMMENT_LIMIT characters."""
    if comment is None:
        return None
    text = comment.strip()
    if len(text) > COMMENT_LIMIT:
        raise DomainError("comment_too_long", limit=COMMENT_LIMIT, length=len(text))
    return text or None


async def review_of(session: AsyncSession, child_id: int, program_id: int) -> Review | None:
    return (await session.execute(select(Review).where(
        Review.child_id == child_id, Review.program_id == program_id))).scalar_one_or_none()


async def rate(session: AsyncSession, parent: Parent | None, child_id: int, program_id: int, rating: object,
               comment: str | None, clock: Clock) -> Review:
    """Store (or replace) the child's review of the program; refused, writing nothing, for a
    rating outside 1–5, a comment too long, a program not attended or not yet rateable."""
    parent = require_consent(parent)
    rating = check_rating(rating)
    comment = clean_comment(comment)
    child = await get_child(session, parent, child_id)
    if await session.get(Program, program_id) is None:
        raise NotFound("program", program_id=program_id)
    found = await standing(session, parent, child.id, program_id, clock)
    if not found.attended:
        raise DomainError("never_attended")
    if not found.open:
        raise DomainError("rating_not_open", opens_on=found.opens_on)
    review = await review_of(session, child.id, program_id)
    now = clock.now()
    if review is None:
        review = Review(program_id=program_id, child_id=child.id, rating=rating, created_at=now, updated_at=now)
        review.comment = comment
        session.add(review)
    else:
        # A hidden review stays hidden when changed: only an operator shows it again.
        review.rating = rating
        review.comment = comment
        review.updated_at = now
    await session.flush()
    return review


# --- what a card shows ---------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    count: int
    total: int          # the sum of the ratings

    @property
    def average_tenths(self) -> int:
        """The average in tenths, rounded half up (4,65 → 47): integers, no float."""
        return (self.total * 20 + self.count) // (2 * self.count) if self.count else 0


async def summary(session: AsyncSession, program_id: int) -> Summary:
    count, total = (await session.execute(
        select(func.count(), func.coalesce(func.sum(Review.rating), 0))
        .where(Review.program_id == program_id, Review.hidden_at.is_(None)))).one()
    return Summary(count=int(count), total=int(total))


async def latest_comments(session: AsyncSession, program_id: int, limit: int = LATEST) -> list[tuple[int, str]]:
    """The newest shown comments of the program, as (rating, comment); never who wrote them."""
    rows = (await session.execute(
        select(Review).where(Review.program_id == program_id, Review.hidden_at.is_(None),
                             Review.comment_enc.is_not(None))
        .order_by(Review.updated_at.desc(), Review.id.desc()).limit(limit))).scalars().all()
    return [(review.rating, review.comment or "") for review in rows]


async def of_parent(session: AsyncSession, parent: Parent) -> list[Review]:
    """The reviews of the parent's family's (not forgotten) children, for /mydata."""
    return list((await session.execute(
        select(Review).join(Child, Review.child_id == Child.id)
        .where(Child.parent_id == parent.owner_id, Child.forgotten_at.is_(None))
        .order_by(Review.created_at, Review.id))).scalars().unique())


# --- the operator ---------------------------------------------------------------------------
async def get_review(session: AsyncSession, review_id: int) -> Review:
    review = await session.get(Review, review_id)
    if review is None:
        raise NotFound("review", review_id=review_id)
    return review


async def hide(session: AsyncSession, review_id: int, clock: Clock) -> tuple[Review, bool]:
    """Hide a review from the cards; (the review, whether it was shown until now)."""
    review = await get_review(session, review_id)
    if review.hidden_at is not None:
        return review, False
    review.hidden_at = clock.now()
    await session.flush()
    return review, True


async def unhide(session: AsyncSession, review_id: int) -> tuple[Review, bool]:
    """Show a hidden review again; (the review, whether it was hidden until now)."""
    review = await get_review(session, review_id)
    if review.hidden_at is None:
        return review, False
    review.hidden_at = None
    await session.flush()
    return review, True


async def for_operator(session: AsyncSession, program_id: int | None = None, limit: int = 100) -> list[Review]:
    """The newest reviews (of one program), for `python -m bot reviews list`."""
    stmt = select(Review).order_by(Review.id.desc()).limit(limit)
    if program_id is not None:
        stmt = stmt.where(Review.program_id == program_id)
    return list((await session.execute(stmt)).scalars().unique())
