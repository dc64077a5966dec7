"""The /balance chart's figures (core/year_chart.py) are the ledger's: per month settled,
reserved and the parent's co-payment, the free remainder, and next year's forecast;
and the PNG drawn from them is cached per change (bot/charts.py)."""
import datetime as dt

from sqlalchemy import func, select

from bot import charts
from core.certificates import balance
from core.enrollment import cancel, enroll
from core.models import Charge, Enrollment, EnrollmentStatus, LedgerEntry, LedgerKind, Unit
from core.calendar_jobs import settle_month
from core.year_chart import year_figures
from tests import factories as f


def on(clock, year, month, day, hour=12):
    clock.set(dt.datetime(year, month, day, hour, 0))


async def _ledger_sum(s, certificate_id, kind, year=2026):
    return int((await s.execute(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.certificate_id == certificate_id, LedgerEntry.kind == kind, LedgerEntry.year == year))).scalar())


async def _copay_of_active(s, child_id, year=2026):
    return int((await s.execute(select(func.coalesce(func.sum(Charge.copay), 0)).join(
        Enrollment, Enrollment.id == Charge.enrollment_id).where(
        Enrollment.child_id == child_id, Enrollment.status == EnrollmentStatus.ACTIVE, Charge.year == year))).scalar())


async def _rubles_family(db, clock):
    """12 000 ₽: «A» 2 000 ₽ × Sep–Dec is covered (8 000); «B» 1 500 ₽ × Sep 2026–May 2027 gets
    the 4 000 left (Sep, Oct, 1 000 of Nov): the parent co-pays 500 of November and all December."""
    on(clock, 2026, 9, 10)
    async with db.write() as s:
        await f.nominal(s, 2026, rubles=12000)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        a = await f.program(s, clock, title="A", price_rub=2000, end=dt.date(2026, 12, 31))
        b = await f.program(s, clock, title="B", price_rub=1500, end=dt.date(2027, 5, 31))
        await enroll(s, parent, child.id, a.id, clock)
        clock.advance(minutes=1)
        await enroll(s, parent, child.id, b.id, clock)
    return parent, child


async def test_rubles_figures_match_the_ledger_month_by_month(any_db, clock):
    db = any_db
    _, child = await _rubles_family(db, clock)
    on(clock, 2026, 10, 1, 3)
    await settle_month(db, 2026, 9, clock)
    async with db.read() as s:
        certificate = (await s.get(type(child), child.id)).certificate
        figures = await year_figures(s, certificate, 2026, clock)
        current = await balance(s, certificate, 2026)
        settle = await _ledger_sum(s, certificate.id, LedgerKind.SETTLE)
        reserve = await _ledger_sum(s, certificate.id, LedgerKind.RESERVE)
        copay = await _copay_of_active(s, child.id)
    assert figures.unit is Unit.RUB
    assert figures.settled == settle == current.spent == 350_000          # September: 2 000 + 1 500
    assert figures.reserved == reserve - settle == current.reserved == 850_000
    assert figures.free == current.available == 0
    assert figures.copay == copay == 200_000
    by_month = {m.month: m for m in figures.months}
    assert (by_month[9].settled, by_month[9].reserved, by_month[9].copay) == (350_000, 0, 0)
    assert (by_month[10].settled, by_month[10].reserved, by_month[10].copay) == (0, 350_000, 0)
    assert (by_month[11].reserved, by_month[11].copay) == (300_000, 50_000)
    assert (by_month[12].reserved, by_month[12].copay) == (200_000, 150_000)
    assert all(m.total == 0 for m in figures.months if m.month < 9)
    # 2027: «B» continues January–May, 1 500 ₽ a month, estimated at this year's 12 000 ₽.
    forecast = figures.forecast
    assert forecast is not None and forecast.year == 2027 and forecast.nominal == 1_200_000
    assert [m.month for m in forecast.months if m.reserved] == [1, 2, 3, 4, 5]
    assert sum(m.reserved for m in forecast.months) == 750_000 and forecast.free == 450_000
    assert sum(m.copay for m in forecast.months) == 0


async def test_a_cancellation_leaves_no_reservation_or_copayment_in_the_figures(db, clock):
    parent, child = await _rubles_family(db, clock)
    clock.advance(hours=1)     # the same day: «A» refunds everything, and covers «B»'s co-payment
    async with db.write() as s:
        a = (await s.execute(select(Enrollment).where(Enrollment.child_id == child.id)
                             .order_by(Enrollment.id))).scalars().first()
        await cancel(s, parent, a.id, clock)
    async with db.read() as s:
        certificate = (await s.get(type(child), child.id)).certificate
        figures = await year_figures(s, certificate, 2026, clock)
        current = await balance(s, certificate, 2026)
    assert figures.reserved == current.reserved == 600_000 and figures.copay == 0
    assert figures.free == current.available == 600_000
    assert figures.settled == 0


async def test_hours_figures_are_in_hours(any_db, clock):
    db = any_db
    on(clock, 2026, 9, 10)
    async with db.write() as s:
        await f.nominal(s, 2026, hours=20)
        parent = await f.parent(s, clock)
        child = await f.child(s, parent, clock)
        drawing = await f.program(s, clock, price_rub=None, hours=4, end=dt.date(2026, 12, 31))
        dance = await f.program(s, clock, price_rub=None, hours=3, end=dt.date(2026, 12, 31))
        await enroll(s, parent, child.id, drawing.id, clock)      # 16 h
        clock.advance(minutes=1)
        await enroll(s, parent, child.id, dance.id, clock)        # 12 h, 4 covered: co-pays 8
    async with db.read() as s:
        certificate = (await s.get(type(child), child.id)).certificate
        figures = await year_figures(s, certificate, 2026, clock)
        current = await balance(s, certificate, 2026)
        copay = await _copay_of_active(s, child.id)
    assert figures.unit is Unit.HOURS
    assert figures.reserved == current.reserved == 20 and figures.free == current.available == 0
    assert figures.copay == copay == 8
    assert [(m.month, m.reserved, m.copay) for m in figures.months if m.total] == [
        (9, 7, 0), (10, 5, 2), (11, 4, 3), (12, 4, 3)]
    assert figures.forecast is None      # nothing continues into 2027


async def test_the_chart_is_drawn_once_per_change_and_replaces_the_old_file(db, clock, tmp_path, monkeypatch):
    drawn = []
    real_draw = charts.draw

    async def counting(path, figures):
        drawn.append(figures)
        await real_draw(path, figures)
    monkeypatch.setattr(charts, "draw", counting)
    parent, child = await _rubles_family(db, clock)
    folder = tmp_path / "charts"

    async def chart():
        async with db.read() as s:
            certificate = (await s.get(type(child), child.id)).certificate
            return await charts.ensure_chart(folder, await year_figures(s, certificate, 2026, clock))

    first = await chart()
    assert first.read_bytes().startswith(b"\x89PNG") and len(drawn) == 1
    assert await chart() == first and len(drawn) == 1       # the same ledger: nothing drawn
    clock.advance(hours=1)
    async with db.write() as s:
        a = (await s.execute(select(Enrollment).where(Enrollment.child_id == child.id)
                             .order_by(Enrollment.id))).scalars().first()
        await cancel(s, parent, a.id, clock)
    second = await chart()
    assert second != first and len(drawn) == 2
    assert sorted(p.name for p in folder.glob("*.png")) == [second.name]   # the old one is gone


def test_the_data_folder_is_the_sqlite_databases_folder(tmp_path):
    assert charts.data_folder(f"sqlite+aiosqlite:///{tmp_path}/x/bot.sqlite3") == tmp_path / "x"
    assert charts.data_folder("postgresql+asyncpg://u@h/db") == charts.Path("data")


def test_the_worker_is_told_the_figures_in_the_certificates_unit_and_the_texts():
    from core.year_chart import Forecast, MonthFigures, YearFigures
    months = tuple(MonthFigures(m, settled=m, reserved=2 * m, copay=3 * m) for m in range(1, 13))
    figures = YearFigures(certificate_id=7, year=2026, unit=Unit.HOURS, months=months, credited=100, free=4,
                          expired=0, last_entry_id=42,
                          forecast=Forecast(year=2027, nominal=100, months=months, free=1))
    picture = charts.picture(figures)
    assert picture["scale"] == 1 and picture["labels"]["axis"] == "ч"
    this_year, next_year = picture["panels"]
    assert this_year["bars"] == [[m, 2 * m, 3 * m] for m in range(1, 13)] and this_year["free"] == 4
    assert this_year["title"] == "2026 год" and not this_year["estimated"]
    assert next_year["estimated"] and next_year["free"] == 1 and "2027" in next_year["title"]
    assert charts.picture(YearFigures(**{**figures.__dict__, "unit": Unit.RUB, "forecast": None}))["scale"] == 100
