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

The drawing runs in a short-lived worker process (`draw`), never in the bot's
own: matplotlib is imported there only, through its object API (`Figure` +
`FigureCanvasAgg`: no pyplot, no global figure registry to leak into).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from bot.dialogs import texts
from core.models import Unit
from core.year_chart import MonthFigures, YearFigures


STYLE = "1"            # bump when the drawing changes: every chart is drawn anew
WORKERS = 2               # drawing processes at once (a burst of parents queues behind them)
DRAW_SECONDS = 120.0
WORKER = Path(__file__).with_name("chart_drawing.py")


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
    """The chart's PNG, drawn only when no file shows these figures yet; the certificate's
    older charts are removed once the new one is there."""
    path = chart_path(folder, figures)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        async with _workers():
            if not path.exists():   # drawn meanwhile for another update
                await draw(path, figures)
        for old in path.parent.glob(f"{figures.certificate_id}-*.png"):
            if old != path:
                old.unlink(missing_ok=True)
    return path


_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _workers() -> asyncio.Semaphore:
    """At most WORKERS drawings at once (one semaphore per event loop: tests run several)."""
    loop = asyncio.get_running_loop()
    if loop not in _semaphores:
        _semaphores[loop] = asyncio.Semaphore(WORKERS)
    return _semaphores[loop]


async def draw(path: Path, figures: YearFigures) -> None:
    """Draw in a short-lived worker process (bot/chart_drawing.py PATH, the picture as JSON
    on stdin): matplotlib and numpy cost ~45 MB on import and keep ~40 MB more after a
    hundred figures, which the bot's own process (150 MB target, bench/) cannot carry; the
    worker hands all of it back to the system when it exits. Waiting for it never blocks
    the event loop."""
    # The script by its path: it needs matplotlib, not the bot's packages.
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), str(path), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env={**os.environ, "MPLBACKEND": "Agg"})
    try:
        _, errors = await asyncio.wait_for(process.communicate(json.dumps(picture(figures)).encode()),
                                           DRAW_SECONDS)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"drawing a chart took over {DRAW_SECONDS} s") from None
    if process.returncode != 0 or not path.exists():
        tail = errors.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(f"the chart worker failed ({process.returncode}): {tail[0][:200]}")


def picture(figures: YearFigures) -> dict[str, Any]:
    """What the worker draws (bot/chart_drawing.py): the bars in the certificate's unit, and
    the texts, which live in bot/dialogs/texts.py."""
    panels = [_panel(figures.months, figures.free, texts.CHART_TITLE.format(year=figures.year), False)]
    forecast = figures.forecast
    if forecast is not None:
        panels.append(_panel(forecast.months, forecast.free, texts.CHART_FORECAST_TITLE.format(
            year=forecast.year, nominal_year=figures.year), True))
    return {
        "scale": 100 if figures.unit is Unit.RUB else 1,   # kopecks → rubles on the axis
        "labels": {"settled": texts.CHART_SETTLED, "reserved": texts.CHART_RESERVED, "copay": texts.CHART_COPAY,
                   "free": texts.CHART_FREE, "free_bar": texts.CHART_FREE_BAR,
                   "months": list(texts.CHART_MONTHS_SHORT), "axis": texts.CHART_AXIS[Unit(figures.unit)]},
        "panels": panels,
    }


def _panel(months: tuple[MonthFigures, ...], free: int, title: str, estimated: bool) -> dict[str, Any]:
    return {"title": title, "bars": [[m.settled, m.reserved, m.copay] for m in months], "free": free,
            "estimated": estimated}
