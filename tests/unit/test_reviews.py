"""core/reviews.py: when a child may rate a program (after the first settled month, also after a
cancellation; never for a program not attended), one review per child and program, replaced
when rated again, hidden by an operator, and the card's average; on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.dialogs import format as fmt
from core import enrollment, reviews
from core.calendar_jobs import settle_month
from core.errors import DomainError
from core.models import Parent, Program, Review
from core.parents import ensure_parent, give_consent
from core.children import register_child
from tests.dialogs.kit import SNILS_1, add_nominal, add_program

MUNI = "Город Тест"


async def family(db, clock, **program):  # type: ignore[no-untyped-def]
    """A consenting parent, a child, a program the child is enrolled in on 21.11.2026."""
    await add_nominal(db, MUNI, 2026, 1_200_000)
    program_id = await add_program(db, clock, **program)
    async with db.write() as session:
        parent = await ensure_parent(session, "test", "1")
        await give_consent(session, parent, clock)
        muni = (await session.execute(select(Program.municipality_id).where(Program.id == program_id))).scalar_one()
        child = await register_child(session, parent, full_name="Иванова Мария Петровна",
                                     birth_date=dt.date(2016, 3, 5), snils=SNILS_1, municipality_id=muni, clock=clock)
        done = await enrollment.enroll(session, parent, child.id, program_id, clock)
        return parent.id, child.id, program_id, done.enrollment.id


async def standing(db, clock, parent_id, child_id, program_id):  # type: ignore[no-untyped-def]
    async with db.read() as session:
        parent = await session.get(Parent, parent_id)
        return await reviews.standing(session, parent, child_id, program_id, clock)


async def rate(db, clock, parent_id, child_id, program_id, rating, comment=None):  # type: ignore[no-untyped-def]
    async with db.write() as session:
        parent = await session.get(Parent, parent_id)
        return (await reviews.rate(session, parent, child_id, program_id, rating, comment, clock)).id


async def settle_november(db, clock) -> None:
    clock.set(dt.datetime(2026, 12, 1, 0, 5))
    await settle_month(db, 2026, 11, clock)


async def stored(db) -> list[tuple[int, str | None]]:
    async with db.read() as session:
        return [(r.rating, r.comment) for r in (await session.execute(select(Review).order_by(Review.id))).scalars()]


async def test_rating_opens_with_the_first_settled_month(any_db, clock):
    db = any_db
    parent_id, child_id, program_id, _ = await family(db, clock)
    before = await standing(db, clock, parent_id, child_id, program_id)
    assert before == reviews.Standing(attended=True, open=False, opens_on=dt.date(2026, 12, 1))
    with pytest.raises(DomainError) as refused:
        await rate(db, clock, parent_id, child_id, program_id, 5)
    assert refused.value.reason == "rating_not_open"
    clock.set(dt.datetime(2026, 12, 1, 0, 1))       # the 1st, the job not run yet: still waiting
    assert not (await standing(db, clock, parent_id, child_id, program_id)).open
    await settle_november(db, clock)
    assert (await standing(db, clock, parent_id, child_id, program_id)).open
    await rate(db, clock, parent_id, child_id, program_id, 5, "Хорошо")
    assert await stored(db) == [(5, "Хорошо")]


async def test_enrolled_before_the_program_starts_rating_opens_after_its_first_month(db, clock):
    parent_id, child_id, program_id, _ = await family(db, clock, start=dt.date(2027, 2, 1),
                                                      end=dt.date(2027, 5, 31))
    found = await standing(db, clock, parent_id, child_id, program_id)
    assert found == reviews.Standing(attended=True, open=False, opens_on=dt.date(2027, 3, 1))


async def test_a_cancelled_enrollment_keeps_its_settled_month_and_may_be_rated(db, clock):
    parent_id, child_id, program_id, enrollment_id = await family(db, clock)
    clock.set(dt.datetime(2026, 11, 25, 12, 0))
    async with db.write() as session:
        await enrollment.cancel(session, await session.get(Parent, parent_id), enrollment_id, clock)
    assert (await standing(db, clock, parent_id, child_id, program_id)).opens_on == dt.date(2026, 12, 1)
    await settle_november(db, clock)
    assert (await standing(db, clock, parent_id, child_id, program_id)).open


async def test_cancelled_the_day_it_was_made_is_never_attended(db, clock):
    parent_id, child_id, program_id, enrollment_id = await family(db, clock)
    async with db.write() as session:
        await enrollment.cancel(session, await session.get(Parent, parent_id), enrollment_id, clock)
    await settle_november(db, clock)
    assert await standing(db, clock, parent_id, child_id, program_id) == reviews.NEVER
    with pytest.raises(DomainError) as refused:
        await rate(db, clock, parent_id, child_id, program_id, 4)
    assert refused.value.reason == "never_attended"
    assert await stored(db) == []


async def test_a_program_never_enrolled_in_is_refused(db, clock):
    parent_id, child_id, _, _ = await family(db, clock)
    other = await add_program(db, clock, title="Шахматы")
    await settle_november(db, clock)
    with pytest.raises(DomainError) as refused:
        await rate(db, clock, parent_id, child_id, other, 4)
    assert refused.value.reason == "never_attended"


@pytest.mark.parametrize("rating", [0, 6, -1, 100, "5", 4.5, True, None])
async def test_a_rating_outside_one_to_five_is_refused_before_anything(db, clock, rating):
    parent_id, child_id, program_id, _ = await family(db, clock)
    await settle_november(db, clock)
    with pytest.raises(DomainError) as refused:
        await rate(db, clock, parent_id, child_id, program_id, rating)
    assert refused.value.reason == "rating_invalid"
    assert await stored(db) == []


async def test_a_comment_over_a_thousand_characters_is_refused(db, clock):
    parent_id, child_id, program_id, _ = await family(db, clock)
    await settle_november(db, clock)
    with pytest.raises(DomainError) as refused:
        await rate(db, clock, parent_id, child_id, program_id, 3, "я" * 1001)
    assert refused.value.reason == "comment_too_long"
    assert await stored(db) == []
    await rate(db, clock, parent_id, child_id, program_id, 3, "  " + "я" * 1000 + "\n")   # trimmed: fits
    await rate(db, clock, parent_id, child_id, program_id, 3, "   ")                       # blank: none
    assert await stored(db) == [(3, None)]


async def test_one_review_per_child_and_program_changed_by_rating_again(any_db, clock):
    db = any_db
    parent_id, child_id, program_id, _ = await family(db, clock)
    await settle_november(db, clock)
    first = await rate(db, clock, parent_id, child_id, program_id, 2, "Скучно")
    clock.advance(days=3)
    again = await rate(db, clock, parent_id, child_id, program_id, 5, "Втянулась, нравится")
    assert first == again and await stored(db) == [(5, "Втянулась, нравится")]
    async with db.read() as session:
        review = await session.get(Review, first)
        assert review.updated_at > review.created_at
    # The database itself refuses a second row.
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            session.add(Review(program_id=program_id, child_id=child_id, rating=1,
                               created_at=clock.now(), updated_at=clock.now()))


async def test_the_comment_is_stored_encrypted(db, clock):
    parent_id, child_id, program_id, _ = await family(db, clock)
    await settle_november(db, clock)
    await rate(db, clock, parent_id, child_id, program_id, 4, "Педагог Анна Сергеевна")
    async with db.read() as session:
        raw = (await session.execute(select(Review.comment_enc))).scalar_one()
    assert "Анна" not in raw and ":" in raw


async def test_hidden_reviews_are_neither_counted_nor_shown(any_db, clock):
    db = any_db
    parent_id, child_id, program_id, _ = await family(db, clock)
    await settle_november(db, clock)
    review_id = await rate(db, clock, parent_id, child_id, program_id, 1, "Спам")
    async with db.read() as session:
        assert (await reviews.summary(session, program_id)).count == 1
        assert await reviews.latest_comments(session, program_id) == [(1, "Спам")]
    async with db.write() as session:
        assert (await reviews.hide(session, review_id, clock))[1] is True
        assert (await reviews.hide(session, review_id, clock))[1] is False    # twice: nothing new
    async with db.read() as session:
        assert await reviews.summary(session, program_id) == reviews.Summary(count=0, total=0)
        assert await reviews.latest_comments(session, program_id) == []
    # The parent changing it does not bring it back; only an operator does.
    await rate(db, clock, parent_id, child_id, program_id, 2, "Спам снова")
    async with db.read() as session:
        assert (await reviews.summary(session, program_id)).count == 0
    async with db.write() as session:
        assert (await reviews.unhide(session, review_id))[1] is True
    async with db.read() as session:
        assert await reviews.summary(session, program_id) == reviews.Summary(count=1, total=2)
    async with db.write() as session:
        with pytest.raises(DomainError) as refused:
            await reviews.hide(session, 999_999, clock)
    assert refused.value.reason == "review_not_found"


@pytest.mark.parametrize("ratings, tenths", [
    ([5], 50), ([4, 5], 45), ([5, 5, 4], 47), ([4, 4, 5], 43), ([1, 2], 15), ([3, 4, 4, 4, 5, 5], 42),
])
def test_the_average_is_rounded_half_up_in_tenths(ratings, tenths):
    found = reviews.Summary(count=len(ratings), total=sum(ratings))
    assert found.average_tenths == tenths
    assert reviews.Summary(count=0, total=0).average_tenths == 0


@pytest.mark.parametrize("n, word", [(1, "оценка"), (2, "оценки"), (4, "оценки"), (5, "оценок"), (11, "оценок"),
                                     (12, "оценок"), (14, "оценок"), (21, "оценка"), (22, "оценки"),
                                     (25, "оценок"), (101, "оценка"), (111, "оценок"), (0, "оценок")])
def test_the_count_of_ratings_takes_the_russian_plural(n, word):
    assert fmt.plural(n, ("оценка", "оценки", "оценок")) == word
    assert fmt.tenths(46) == "4,6" and fmt.tenths(50) == "5,0"



async def test_key_rotation_re_encrypts_review_comments_too(db, clock, tmp_path):
    from core import pd
    from core.pd_rotation import reencrypt, values_by_key

    ring = pd.load_keyring(key_dir=tmp_path)
    saved = pd.configured()
    pd.configure(ring)
    try:
        parent_id, child_id, program_id, _ = await family(db, clock)
        await settle_november(db, clock)
        await rate(db, clock, parent_id, child_id, program_id, 4, "Педагог Анна Сергеевна")
        old = ring.primary_id
        assert await values_by_key(db) == {old: 4}          # name, birth date, SNILS, the comment
        new = pd.add_primary_key(ring)
        await reencrypt(db, ring)
        assert await values_by_key(db) == {new: 4}
        assert await stored(db) == [(4, "Педагог Анна Сергеевна")]
    finally:
        pd.configure(saved)
