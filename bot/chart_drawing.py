"""The drawing worker of the /balance chart: `python bot/chart_drawing.py PATH`, the
picture's description as JSON on stdin (bot/charts.py `picture`), the PNG written to PATH.

Run as a script of its own, so it imports nothing but the standard library and
matplotlib (the bot's packages would double its start-up); the texts come in
the JSON, from bot/dialogs/texts.py. matplotlib's object API (`Figure` +
`FigureCanvasAgg`): no pyplot, no global figure registry.
"""
from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any, BinaryIO

SIZE_INCHES = (7.2, 9.0)          # portrait, for a phone: 720 × 900 px
SIZE_WITH_FORECAST = (7.2, 12.0)
DPI = 100
COLOURS = {"settled": "#5b7083", "reserved": "#2f80ed", "copay": "#f2994a", "free": "#27ae60"}


def render(picture: dict[str, Any], out: BinaryIO) -> None:
    """Draw the described chart as PNG into `out`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = picture["panels"]
    figure = Figure(figsize=SIZE_WITH_FORECAST if len(panels) > 1 else SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    try:
        axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
        for number, (panel, ax) in enumerate(zip(panels, axes)):
            _panel(ax, panel, picture["labels"], picture["scale"], legend=number == 0)
        figure.savefig(out, format="png", dpi=DPI)
    finally:
        figure.clear()


def _short(value: int, scale: int) -> str:
    """A bar's label: whole rubles or hours, thousands spaced."""
    return f"{value // scale:,}".replace(",", "\u00a0")


def _panel(ax: Any, panel: dict[str, Any], labels: dict[str, Any], scale: int, *, legend: bool) -> None:
    bars = panel["bars"]          # twelve [settled, reserved, copay], in the certificate's unit
    free = panel["free"]
    alpha = 0.55 if panel["estimated"] else 1.0
    months = list(range(12))
    settled = [b[0] / scale for b in bars]
    reserved = [b[1] / scale for b in bars]
    copay = [b[2] / scale for b in bars]
    ax.bar(months, settled, color=COLOURS["settled"], label=labels["settled"], alpha=alpha)
    ax.bar(months, reserved, bottom=settled, color=COLOURS["reserved"], label=labels["reserved"], alpha=alpha)
    ax.bar(months, copay, bottom=[s + r for s, r in zip(settled, reserved)], color=COLOURS["copay"],
           label=labels["copay"], alpha=alpha)
    ax.bar([12], [free / scale], color=COLOURS["free"], label=labels["free"], alpha=alpha)  # the free money
    totals = [sum(b) for b in bars]
    tallest = max(totals + [free, 1]) / scale
    for month, total in enumerate(totals):
        if total:
            ax.text(month, total / scale + tallest * 0.015, _short(total, scale), ha="center", va="bottom",
                    fontsize=11, rotation=90)
    ax.text(12, free / scale + tallest * 0.015, _short(free, scale), ha="center", va="bottom", fontsize=12,
            rotation=90, fontweight="bold")
    ax.set_ylim(0, tallest * 1.3)
    ax.set_xticks(list(range(13)), [*labels["months"], labels["free_bar"]], fontsize=12)
    ax.tick_params(axis="y", labelsize=12)
    ax.set_ylabel(labels["axis"], fontsize=14, rotation=0, labelpad=12)
    ax.set_title(panel["title"], fontsize=17)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if legend:
        ax.legend(fontsize=13, loc="upper left", ncols=2, frameon=False)


def store(path: Path, picture: dict[str, Any]) -> None:
    """Draw, write aside, rename: a reader never sees half a file."""
    temporary = path.with_name(f".{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("wb") as out:
            render(picture, out)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


if __name__ == "__main__":
    store(Path(sys.argv[1]), json.loads(sys.stdin.read()))
