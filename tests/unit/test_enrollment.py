"""SPEC §1 Enrollment and Children and certificates: preconditions, the cost rule,
the certificate issued at the first enrollment, co-payment, hours."""
import datetime as dt

import pytest

from core.certificates import balance, year_plan
from core.children import age_on
from core.errors import DomainError
from core.enrollment import cancel, eligibility, enroll, join_waitlist, quote
from core.models import CertificateStatus, Charge, Funding, LedgerEntry, LedgerKind, Unit, WaitlistStatus
from sqlalchemy import func, select
from tests import factories as f


def on(clock, day):
    clock.set(dt.datetime(day.year, day.month, day.day, 12, 0))
    return clock


# --- age ------------------------------------------------------------------

@pytest.mark.parametrize("birth, allowed", [
    (dt.date(2021, 11, 22), False),  # the day before the 5th birthday
    (dt.date(2021, 11, 21), True),   # the 5th birthday
    (dt.date(2008, 11, 22), True),   # the day before the 18th birthday
    (dt.date(2008, 11, 21), False),  # the 18th birthday
])
async def test_a_child_may_hold_a_certificate_from_5_until_the_day_before_18(db, clock, birth, allowed):
    async with db.write() as s:
        parent = await f.parent(s, clock)
        if allowed:
            child = await f.child(s, parent, clock, birth_date=birth)
            assert 5 <= age_on(child.birth_date, clock.today()) <= 17
        else:
            with pytest.raises(DomainError) as refusal:
                await f.child(s, parent, clock, birth_date=birth)
            assert refusal.value.reason == "age_out_of_range"


async def test_refused_child_stores_nothing(db, clock):
    from core.models import Child

    with pytest.raises(DomainError):
        async with db.write() as s:
            parent = await f.parent(s, clock)
            await f.child(s, parent, clock, snils="112-233-445 96")
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Child))).scalar() == 0


async def test_a_snils_used_by_another_child_is_refused(db, clock):
    async with db.write() as s:
        parent, other = await f.parent(s, clock), await f.parent(s, clock)
        await f.child(s, parent, clock, snils=f.VALID_SNILS)
        with pytest.raises(DomainError) as refusal:
            await f.child(s, other, clock, snils="11223344595")
        assert refusal.value.reason == "snils_taken"
        with pytest.raises(DomainError) as refusal:
            await f.child(s, parent, clock, snils="112-233-44595")
        assert refusal.value.reason == "snils_already_added"


# --- the cost rule --------------------------------------------------------

# A school-year program: January–May and September–December are its study months
# (June–August are not, by default).
@pytest.mark.parametrize("enrolled_on, months", [
    (dt.date(2026, 1, 15), 9),
    (dt.date(2026, 5, 20), 5),
    (dt.date(2026, 7, 10), 4),
    (dt.date(2026, 9, 1), 4),
    (dt.date(2026, 12, 31), 1),
])
async def test_cost_counts_study_months_from_the_enrollment_month_to_december(db, clock, enrolled_on, months):
    on(clock, enrolled_on)
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=100_000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=3000, start=dt.date(2025, 9, 1), end=dt.date(2027, 5, 31))
        q = await quote(s, parent, child.id, program.id, clock)
    assert len(q.months) == months
    assert q.cost == months * 3000_00
    assert q.covered == q.cost and q.copay == 0


async def test_a_program_starting_next_year_costs_nothing_this_year(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, start=dt.date(2027, 1, 11), end=dt.date(2027, 5, 31))
        q = await quote(s, parent, child.id, program.id, clock)
    assert q.months == [] and q.cost == 0 and q.balance_after == q.balance_before == 12000_00
    # ...and what it will cost is quoted for next year.
    assert [(e.year, e.months, e.cost) for e in q.later_years] == [(2027, [1, 2, 3, 4, 5], 5 * 3000_00)]


async def test_a_program_ending_in_march_costs_only_its_months(db, clock):
    on(clock, dt.date(2026, 1, 20))
    async with db.write() as s:
        await f.nominal(s, 2026)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=2500, start=dt.date(2025, 9, 1), end=dt.date(2026, 3, 31))
        q = await quote(s, parent, child.id, program.id, clock)
    assert q.months == [1, 2, 3] and q.cost == 7500_00


async def test_the_parent_co_pays_what_the_balance_does_not_cover(db, clock):
    on(clock, dt.date(2026, 9, 10))
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=5000)
        result = await enroll(s, parent, child.id, program.id, clock)
        charge = (await s.execute(select(Charge))).scalar_one()
        plan = await year_plan(s, result.certificate, 2026)
    assert (result.quote.cost, result.quote.covered, result.quote.copay) == (20000_00, 12000_00, 8000_00)
    assert result.balance.available == 0 and result.balance.reserved == 12000_00
    assert (charge.cost, charge.covered, charge.copay) == (20000_00, 12000_00, 8000_00)
    assert [m.reserved for m in plan.months][8:] == [5000_00, 5000_00, 2000_00, 0]


async def test_a_certificate_in_hours_pays_hours(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026, hours=72)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=None, hours=8)
        result = await enroll(s, parent, child.id, program.id, clock)
    assert result.certificate.unit is Unit.HOURS
    assert result.quote.cost == 16 and result.balance.available == 56 and result.balance.reserved == 16


async def test_a_program_priced_only_in_rubles_cannot_be_paid_from_hours(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026, hours=72)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=3000, hours=None)
        with pytest.raises(DomainError) as refusal:
            await quote(s, parent, child.id, program.id, clock)
    assert refusal.value.reason == "price_missing"


# --- the certificate is issued at the first enrollment --------------------

async def test_first_certificate_enrollment_issues_a_funded_certificate_with_the_nominal(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, price_rub=3000)
        result = await enroll(s, parent, child.id, program.id, clock)
    assert result.certificate_issued
    assert result.certificate.status is CertificateStatus.FUNDED
    assert len(result.certificate.number) == 10 and result.certificate.number.isdigit()
    assert result.balance.credited == 12000_00
    assert result.balance.available == 12000_00 - 2 * 3000_00   # November and December reserved
    assert result.certificate.valid_until == dt.date(2033, 3, 9)


async def test_a_municipal_program_issues_a_registered_certificate_and_costs_nothing(db, clock):
    async with db.write() as s:
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock, funding=Funding.MUNICIPAL, price_rub=None)
        result = await enroll(s, parent, child.id, program.id, clock)
        rows = (await s.execute(select(func.count()).select_from(LedgerEntry))).scalar()
    assert result.certificate.status is CertificateStatus.REGISTERED and result.certificate_issued
    assert rows == 0


async def test_an_existing_certificate_is_applied_and_upgraded(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        free = await f.program(s, clock, funding=Funding.MUNICIPAL, price_rub=None)
        paid_by_certificate = await f.program(s, clock)
        first = await enroll(s, parent, child.id, free.id, clock)
        second = await enroll(s, parent, child.id, paid_by_certificate.id, clock)
    assert not second.certificate_issued
    assert second.certificate.id == first.certificate.id
    assert second.certificate.status is CertificateStatus.FUNDED
    assert second.balance.credited == 12000_00


async def test_no_nominal_for_the_year_refuses_and_writes_nothing(db, clock):
    from core.models import Certificate, Enrollment

    async with db.write() as s:
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        program = await f.program(s, clock)
        ids = parent.id, child.id, program.id
    with pytest.raises(DomainError) as refusal:
        async with db.write() as s:
            parent = await s.get(type(parent), ids[0])
            await enroll(s, parent, ids[1], ids[2], clock)
    assert refusal.value.reason == "nominal_not_set"
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Certificate))).scalar() == 0
        assert (await s.execute(select(func.count()).select_from(Enrollment))).scalar() == 0


# --- preconditions --------------------------------------------------------

async def test_refusals_of_spec_preconditions(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)              # 11 years old
        too_old = await f.program(s, clock, age_min=14, age_max=17)
        paid = await f.program(s, clock, funding=Funding.PAID)
        finished = await f.program(s, clock, start=dt.date(2025, 9, 1), end=dt.date(2026, 5, 31))
        program = await f.program(s, clock)
        cases = {"age_out_of_range": too_old, "paid_program": paid, "program_finished": finished}
        for reason, p in cases.items():
            with pytest.raises(DomainError) as refusal:
                await enroll(s, parent, child.id, p.id, clock)
            assert refusal.value.reason == reason
        await enroll(s, parent, child.id, program.id, clock)
        with pytest.raises(DomainError) as refusal:
            await enroll(s, parent, child.id, program.id, clock)
        assert refusal.value.reason == "already_enrolled"
        reasons = {c.id: (r.reason if r else None) for c, r in await eligibility(s, parent, too_old.id, clock)}
        assert reasons == {child.id: "age_out_of_range"}


async def test_consent_is_required(db, clock):
    from core.parents import ensure_parent

    async with db.write() as s:
        await f.nominal(s, 2026)
        stranger = await ensure_parent(s, "test", "no-consent")
        program = await f.program(s, clock)
        with pytest.raises(DomainError) as refusal:
            await enroll(s, stranger, 1, program.id, clock)
    assert refusal.value.reason == "consent_required"


async def test_an_unconfirmed_snils_cannot_enroll(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock, snils="001-001-998 00")
        program = await f.program(s, clock)
        assert not child.snils_confirmed
        with pytest.raises(DomainError) as refusal:
            await enroll(s, parent, child.id, program.id, clock)
    assert refusal.value.reason == "snils_not_confirmed"


async def test_another_parents_child_is_not_found(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        mine, theirs = await f.parent(s, clock), await f.parent(s, clock)
        their_child = await f.child(s, theirs, clock)
        program = await f.program(s, clock)
        with pytest.raises(DomainError) as refusal:
            await enroll(s, mine, their_child.id, program.id, clock)
    assert refusal.value.reason == "child_not_found"


async def test_a_full_program_offers_the_waiting_list_and_a_freed_seat_goes_to_the_first(db, clock):
    async with db.write() as s:
        await f.nominal(s, 2026)
        a, b, c = await f.parent(s, clock), await f.parent(s, clock), await f.parent(s, clock)
        ca, cb, cc = await f.child(s, a, clock), await f.child(s, b, clock), await f.child(s, c, clock)
        program = await f.program(s, clock, seats=1)
        taken = await enroll(s, a, ca.id, program.id, clock)
        with pytest.raises(DomainError) as refusal:
            await enroll(s, b, cb.id, program.id, clock)
        assert refusal.value.reason == "no_seats"
        first = await join_waitlist(s, b, cb.id, program.id, clock)
        await join_waitlist(s, c, cc.id, program.id, clock)
        with pytest.raises(DomainError) as again:
            await join_waitlist(s, b, cb.id, program.id, clock)
        assert again.value.reason == "already_waiting"
        result = await cancel(s, a, taken.enrollment.id, clock)
    assert result.offered is not None and result.offered.id == first.id
    assert result.offered.status is WaitlistStatus.OFFERED


async def test_the_budget_warning_in_january_to_may(db, clock):
    on(clock, dt.date(2026, 2, 1))
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        school_year = await f.program(s, clock, price_rub=2000, start=dt.date(2025, 9, 1), end=dt.date(2026, 12, 31))
        q = await quote(s, parent, child.id, school_year.id, clock)
    # Feb–May and Sep–Dec = 8 months × 2 000 ₽ = 16 000 ₽; 12 000 ₽ covers Feb–May and Sep–Oct,
    # nothing is left and November–December still need 4 000 ₽.
    assert q.budget_warning is not None
    assert q.budget_warning.needed_from_september == 2 * 2000_00 and q.budget_warning.left_after == 0
