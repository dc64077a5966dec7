"""The clock every date-dependent rule reads, injected so tests can stand on any day."""
from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Europe/Moscow"


class Clock(Protocol):
    tz: ZoneInfo

    def now(self) -> dt.datetime: ...

    def today(self) -> dt.date: ...


class SystemClock:
    """Wall-clock time in the bot's TIMEZONE (months and year end follow it)."""

    def __init__(self, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.tz = ZoneInfo(timezone)

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.tz)

    def today(self) -> dt.date:
        return self.now().date()


class FixedClock:
    """A clock standing still on a given moment; `advance`/`set` move it."""

    def __init__(self, moment: dt.datetime | dt.date, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.tz = ZoneInfo(timezone)
        self.set(moment)

    def set(self, moment: dt.datetime | dt.date) -> None:
        if not isinstance(moment, dt.datetime):
            moment = dt.datetime.combine(moment, dt.time(12, 0))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        self._now = moment

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)

    def now(self) -> dt.datetime:
        return self._now

    def today(self) -> dt.date:
        return self._now.astimezone(self.tz).date()
