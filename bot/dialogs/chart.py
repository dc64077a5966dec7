"""/balance's picture of the year: per certificate with money, a chart (a photo)
and the same numbers in words for a screen reader, before the balance text.

The figures come from core.year_chart (in the unit of the certificate); the
PNG is drawn by bot/charts.py after the update's unit of work commits (so the
drawing never holds the database's write lock), and only when no file shows
these figures yet.
"""
from __future__ import annotations

from bot import charts
from bot.dialogs import format as fmt
from bot.dialogs import texts
from bot.dialogs.children import first_name
from bot.dialogs.screen import Reply, Screen
from bot.dialogs.state import Ctx
from core import children as core_children
from core.models import CertificateStatus, Unit
from core.year_chart import YearFigures, year_figures


async def with_charts(ctx: Ctx, balance: Screen) -> Reply:
    """The balance screen, preceded by each funded certificate's chart and its words.
    The balance comes last so its buttons stay at the bottom of the chat."""
    parent = await ctx.require_parent()
    # The database this update runs on (the SQLite file's folder), not a setting read anew.
    folder = charts.charts_folder(ctx.session.bind.url)
    screens: list[Screen] = []
    year = ctx.today().year
    for child in await core_children.list_children(ctx.session, parent):
        certificate = child.certificate
        if certificate is None or certificate.status is not CertificateStatus.FUNDED or certificate.unit is None:
            continue
        figures = await year_figures(ctx.session, certificate, year, ctx.clock)
        if figures is None:
            continue
        path = charts.chart_path(folder, figures)
        if not path.exists():
            ctx.after_commit(lambda f=figures: charts.ensure_chart(folder, f))
        name = first_name(child)
        screens.append(Screen(text=texts.CHART_CAPTION.format(name=name, year=year), image=str(path)))
        screens.append(Screen(text=words(figures, name)))
    return Reply(screens=[*screens, balance])


def words(figures: YearFigures, name: str) -> str:
    """The chart's numbers as text (what a screen reader reads instead of the picture)."""
    unit = figures.unit
    lines = [texts.CHART_WORDS_TITLE.format(name=name, year=figures.year)]
    shown = 0
    for month in figures.months:
        parts = _parts(month.settled, month.reserved, month.copay, unit)
        if parts:
            shown += 1
            lines.append(texts.CHART_WORDS_MONTH.format(month=texts.MONTHS[month.month - 1].capitalize(),
                                                        parts=", ".join(parts)))
    if not shown:
        lines.append(texts.CHART_WORDS_NOTHING)
    elif shown < 12:
        lines.append(texts.CHART_WORDS_OTHER_MONTHS)
    lines.append(texts.CHART_WORDS_TOTAL.format(
        settled=fmt.amount(figures.settled, unit), reserved=fmt.amount(figures.reserved, unit),
        copay=texts.copay_part(figures.copay, unit), free=fmt.amount(figures.free, unit)))
    forecast = figures.forecast
    if forecast is not None:
        lines.append(texts.CHART_WORDS_FORECAST.format(year=forecast.year, nominal_year=figures.year,
                                                       nominal=fmt.amount(forecast.nominal, unit)))
        for month in forecast.months:
            if not month.reserved and not month.copay:
                continue
            copay = texts.CHART_WORDS_FORECAST_COPAY.format(amount=fmt.amount(month.copay, unit)) \
                if month.copay else ""
            lines.append(texts.CHART_WORDS_FORECAST_MONTH.format(
                month=texts.MONTHS[month.month - 1].capitalize(), covered=fmt.amount(month.reserved, unit),
                copay=copay))
        lines.append(texts.CHART_WORDS_FORECAST_FREE.format(free=fmt.amount(forecast.free, unit)))
    return "\n".join(lines)


def _parts(settled: int, reserved: int, copay: int, unit: Unit) -> list[str]:
    parts = []
    if settled:
        parts.append(texts.CHART_WORDS_SETTLED.format(amount=fmt.amount(settled, unit)))
    if reserved:
        parts.append(texts.CHART_WORDS_RESERVED.format(amount=fmt.amount(reserved, unit)))
    if copay:
        parts.append(texts.CHART_WORDS_COPAY.format(amount=fmt.amount(copay, unit)))
    return parts
