"""The /balance chart as a PNG: where it lives, when it is drawn, how it looks.

A chart is drawn once per change of what it shows: its file name carries the
certificate, the year, the certificate's newest ledger entry, the unit and a
short digest of the figures (a co-payment or next year's forecast can change
with no new ledger row: an enrollment the certificate could not cover, a new
nominal). Another /balance with the same figures finds the file and draws
nothing; a new file removes the certificate's older ones.

Files live in `<data folder>/charts/`, the data folder being the SQLite
database's folder (./data for any other database). The image carries no
name or number of the child: only the year and the amounts.

matplotlib is imported on the first drawing only (it costs ~30 MB of memory a
bot that never draws need not carry), through its object API (`Figure` +
`FigureCanvasAgg`: no pyplot, no global figure registry to leak into), and
the drawing runs in a worker thread, never on the event loop.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import uuid
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bot.dialogs import texts
from core.models import Unit
from core.year_chart import MonthFigures, YearFigures

log = logging.getLogger("bot.charts")

STYLE = "1"            # bump when the drawing changes: every chart is drawn anew
SIZE_INCHES = (7.2, 9.0)  # portrait, for a phone: 720 × 900 px at DPI
SIZE_WITH_FORECAST = (7.2, 12.0)
DPI = 100
COLOURS = {"settled": "#5b7083", "reserved": "#2f80ed", "copay": "#f2994a", "free": "#27ae60"}
# One drawing at a time: a second parent waits a moment rather than doubling the memory.
_drawing = threading.Lock()


def data_folder(database_url: str | URL) -> Path:
    """The folder of the SQLite database file; ./data for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent
    return Path("data")


def charts_folder(database_url: str | URL) -> Path:
    return data_folder(database_url) / "charts"


def digest(figures: YearFigures) -> str:
    return hashlib.sha256(f"{STYLE}|{figures!r}".encode()).hexdigest()[:10]


def chart_path(folder: Path, figures: YearFigures) -> Path:
    return folder / (f"{figures.certificate_id}-{figures.year}-{figures.last_entry_id}-"
                     f"{figures.unit.value}-{digest(figures)}.png")


async def ensure_chart(folder: Path, figures: YearFigures) -> Path:
    """The chart's PNG, drawn (off the event loop) only when no file shows these figures yet."""
    path = chart_path(folder, figures)
    if not path.exists():
        await asyncio.to_thread(_draw_and_store, path, figures)
    return path


def _draw_and_store(path: Path, figures: YearFigures) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _drawing:
        if path.exists():  # drawn meanwhile by another parent's request
            return
        # Written aside and renamed: a reader never sees half a file, two writers never mix.
        temporary = path.with_name(f".{uuid.uuid4().hex}.tmp")
        try:
            with temporary.open("wb") as out:
                render(figures, out)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    for old in path.parent.glob(f"{figures.certificate_id}-*.png"):
        if old != path:
            old.unlink(missing_ok=True)


def _scale(unit: Unit) -> int:
    return 100 if unit is Unit.RUB else 1   # kopecks → rubles on the axis


def _short(value: int, unit: Unit) -> str:
    """A bar's label: whole rubles or hours, thousands spaced."""
    whole = value // _scale(unit)
    return f"{whole:,}".replace(",", " ")


def render(figures: YearFigures, out: object) -> None:
    """Draw the chart as PNG into the binary stream `out` (runs in a worker thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    forecast = figures.forecast
    figure = Figure(figsize=SIZE_WITH_FORECAST if forecast else SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    try:
        panels = figure.subplots(2 if forecast else 1, 1, squeeze=False)[:, 0]
        _panel(panels[0], figures.months, figures.free, figures.unit,
               texts.CHART_TITLE.format(year=figures.year), legend=True)
        if forecast is not None:
            _panel(panels[1], forecast.months, forecast.free, figures.unit,
                   texts.CHART_FORECAST_TITLE.format(year=forecast.year, nominal_year=figures.year),
                   legend=False, estimated=True)
        figure.savefig(out, format="png", dpi=DPI)
    finally:
        figure.clear()


def _panel(axes: object, months: tuple[MonthFigures, ...], free: int, unit: Unit, title: str, *,
           legend: bool, estimated: bool = False) -> None:
    scale = _scale(unit)
    positions = list(range(13))  # twelve months, then the free money as one bar
    settled = [m.settled / scale for m in months]
    reserved = [m.reserved / scale for m in months]
    copay = [m.copay / scale for m in months]
    alpha = 0.55 if estimated else 1.0
    axes.bar(positions[:12], settled, color=COLOURS["settled"], label=texts.CHART_SETTLED, alpha=alpha)
    axes.bar(positions[:12], reserved, bottom=settled, color=COLOURS["reserved"], label=texts.CHART_RESERVED,
             alpha=alpha)
    under = [s + r for s, r in zip(settled, reserved)]
    axes.bar(positions[:12], copay, bottom=under, color=COLOURS["copay"], label=texts.CHART_COPAY, alpha=alpha)
    axes.bar([12], [free / scale], color=COLOURS["free"], label=texts.CHART_FREE, alpha=alpha)
    tallest = max([m.total for m in months] + [free, 1]) / scale
    for position, month in enumerate(months):
        if month.total:
            axes.text(position, month.total / scale + tallest * 0.015, _short(month.total, unit),
                      ha="center", va="bottom", fontsize=11, rotation=90)
    axes.text(12, free / scale + tallest * 0.015, _short(free, unit), ha="center", va="bottom",
              fontsize=12, rotation=90, fontweight="bold")
    axes.set_ylim(0, tallest * 1.3)
    axes.set_xticks(positions, [*texts.CHART_MONTHS_SHORT, texts.CHART_FREE_BAR], fontsize=12)
    axes.tick_params(axis="y", labelsize=12)
    axes.set_ylabel(texts.CHART_AXIS[unit.value], fontsize=14)
    axes.set_title(title, fontsize=17)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    if legend:
        axes.legend(fontsize=13, loc="upper left", ncols=2, frameon=False)
