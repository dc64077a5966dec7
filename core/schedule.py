"""A program's schedule as lessons: weekday, start and end (issue 13).

The catalog writes schedules by hand: "Пн, Ср 16:00–17:30", "Пн-Пт 15:00-16:00",
"сб 10:00–13:00", several groups ("пн, ср 16:00–17:30; сб 10:00–12:00"), with an
en dash or a hyphen, "16.00" for "16:00", full day names ("по средам"), "с 16:00 до 17:30".
`parse` reads those forms; anything else is not guessed at: it returns None and the
program keeps its schedule as text only (the importer lists it among its warnings).

Parsed lessons are stored on the program in a canonical text (`dumps`):
"1 16:00-17:30;3 16:00-17:30", weekdays ISO (Monday = 1).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from core.study_months import study_months


@dataclass(frozen=True, order=True)
class Lesson:
    weekday: int        # ISO: Monday = 1 … Sunday = 7
    start: dt.time
    end: dt.time

    def overlaps(self, other: "Lesson") -> bool:
        """Same day and a shared minute: 16:00–17:30 and 17:30–18:00 only touch."""
        return self.weekday == other.weekday and self.start < other.end and other.start < self.end


class ScheduleInvalid(ValueError):
    pass


# Stems of the day names (abbreviations and full names in any case ending).
_DAY_STEMS = (
    (1, ("пн", "пон")), (2, ("вт",)), (3, ("ср",)), (4, ("чт", "чет")),
    (5, ("пт", "пят")), (6, ("сб", "суб")), (7, ("вс", "вос")),
)
_DAY = (r"(?:пн|пон\w*|вт\w*|ср\w*|чт|чет\w*|пт|пят\w*|сб|суб\w*|вс|вос\w*)\.?")
_TOKENS = re.compile(
    rf"(?P<range>(?P<d1>{_DAY})\s*(?:-|по)\s*(?P<d2>{_DAY}))(?![\w])"
    rf"|(?P<day>{_DAY})(?![\w])"
    rf"|(?P<every>ежедневно|каждый\s+день)"
    r"|(?P<weekdays>будн(?:и|ям))(?![\w])"
    r"|(?:с\s*)?(?P<h1>\d{1,2})[:.](?P<m1>\d{2})\s*(?:-|до)\s*(?P<h2>\d{1,2})[:.](?P<m2>\d{2})(?!\d)"
)
_SKIP = re.compile(r"(?:[\s,;/]+|\bи\b|\bпо\b(?=\s*[а-я]))*")
_DAY_WORDS = {
    "пн", "вт", "ср", "чт", "пт", "сб", "вс",
    "понедельник", "понедельникам", "вторник", "вторникам", "среда", "среду", "средам",
    "четверг", "четвергам", "пятница", "пятницу", "пятницам", "суббота", "субботу", "субботам",
    "воскресенье", "воскресеньям",
}


def _weekday(word: str) -> int:
    word = word.rstrip(".")
    if word not in _DAY_WORDS:
        raise ScheduleInvalid(word)
    for number, stems in _DAY_STEMS:
        if word.startswith(stems):
            return number
    raise ScheduleInvalid(word)


def _time(hours: str, minutes: str) -> dt.time:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ScheduleInvalid(f"{hours}:{minutes}")
    return dt.time(h, m)


def parse(text: str | None) -> list[Lesson] | None:
    """The lessons of a schedule, sorted; [] for an empty one; None when not understood."""
    source = (text or "").strip().lower().replace("ё", "е")
    if not source:
        return []
    source = re.sub(r"[\u2010-\u2015\u2212]", "-", source)
    lessons: set[Lesson] = set()
    pending: list[int] = []     # days named, waiting for their time
    last: list[int] = []        # the days of the previous time ("пн 10:00-11:00, 15:00-16:00")
    position = 0
    try:
        while True:
            position = _SKIP.match(source, position).end()
            if position >= len(source):
                break
            token = _TOKENS.match(source, position)
            if token is None:
                return None
            position = token.end()
            if token["range"]:
                first, final = _weekday(token["d1"]), _weekday(token["d2"])
                pending += [(first - 1 + k) % 7 + 1 for k in range((final - first) % 7 + 1)]
            elif token["day"]:
                pending.append(_weekday(token["day"]))
            elif token["every"]:
                pending += range(1, 8)
            elif token["weekdays"]:
                pending += range(1, 6)
            else:
                start, end = _time(token["h1"], token["m1"]), _time(token["h2"], token["m2"])
                if end <= start:
                    return None
                days = pending or last
                if not days:
                    return None
                lessons.update(Lesson(day, start, end) for day in days)
                last, pending = days, []
    except ScheduleInvalid:
        return None
    if pending or not lessons:
        return None
    return sorted(lessons)


def dumps(lessons: list[Lesson] | None) -> str | None:
    """The stored form; None for no lessons (not parsed, or no schedule)."""
    if not lessons:
        return None
    return ";".join(f"{one.weekday} {one.start:%H:%M}-{one.end:%H:%M}" for one in sorted(lessons))


def loads(stored: str | None) -> list[Lesson]:
    if not stored:
        return []
    lessons = []
    for part in stored.split(";"):
        day, _, times = part.partition(" ")
        start, _, end = times.partition("-")
        lessons.append(Lesson(int(day), dt.time.fromisoformat(start), dt.time.fromisoformat(end)))
    return lessons


def groups(lessons: list[Lesson]) -> list[tuple[list[int], dt.time, dt.time]]:
    """Lessons of the same hours together, in the order of their first day:
    [(days, start, end)], for "Пн, Ср 16:00–17:30; Сб 10:00–12:00"."""
    by_time: dict[tuple[dt.time, dt.time], list[int]] = {}
    for lesson in sorted(lessons):
        by_time.setdefault((lesson.start, lesson.end), []).append(lesson.weekday)
    return sorted(((days, start, end) for (start, end), days in by_time.items()),
                  key=lambda group: (group[0][0], group[1]))


def clashes(new: list[Lesson], attended: list[Lesson]) -> list[tuple[Lesson, Lesson]]:
    """Each pair (new lesson, attended lesson) that shares time."""
    return [(a, b) for a in sorted(new) for b in sorted(attended) if a.overlaps(b)]


def first_lesson(lessons: list[Lesson], start: dt.date, end: dt.date,
                 months: str | None = None) -> tuple[dt.date, Lesson] | None:
    """The first lesson on or after `start`, up to `end`, in a study month of the program."""
    if not lessons:
        return None
    taught = study_months(months)
    day = start
    for _ in range(400):   # a year and a bit meets every study month
        if day > end:
            return None
        if day.month in taught:
            todays = [lesson for lesson in sorted(lessons) if lesson.weekday == day.isoweekday()]
            if todays:
                return day, todays[0]
        day += dt.timedelta(days=1)
    return None
