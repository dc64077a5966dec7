"""Study months (SPEC §1 Enrollment): the calendar months a program is taught in.

By default a program is taught in every month of its dates except June, July
and August (the seeds split the school year into January–May and
September–December). A program may list its own months in the import column
`months`: calendar months 1–12 as comma-separated numbers and inclusive
ranges, a range may wrap over New Year (`9-12,1-5` = `9-5`; `6,7,8` for a
summer camp; `1-12`). Study months only narrow the dates; the dates decide
which years a month falls in (core/costing.py).

A program stores its months in a canonical text (`1-5,9-12`), or NULL for
the default, so an unchanged re-import compares equal.
"""
from __future__ import annotations

import re
from functools import lru_cache

ALL_MONTHS = frozenset(range(1, 13))
SUMMER = frozenset({6, 7, 8})
DEFAULT_MONTHS = ALL_MONTHS - SUMMER
MAX_TEXT = 100
_RANGE_DASHES = "-\u2013\u2014"       # an operator's spreadsheet may turn "-" into a dash
_NUMBER = re.compile(r"[0-9]{1,2}")


class MonthsInvalid(ValueError):
    """A `months` value that does not parse; str() is the reason, in English."""


def _month(piece: str, raw: str) -> int:
    if not _NUMBER.fullmatch(piece):
        if piece.lstrip("-+").isascii() and piece.lstrip("-+").isdigit():
            raise MonthsInvalid(f"month '{piece}' is not between 1 and 12")
        raise MonthsInvalid(f"'{raw}' is not a month number 1-12 or a range like 9-12")
    number = int(piece)
    if not 1 <= number <= 12:
        raise MonthsInvalid(f"month {number} is not between 1 and 12")
    return number


def parse_months(text: str) -> frozenset[int]:
    """'9-12,1-5' → {1..5, 9..12}; raises MonthsInvalid naming the bad piece."""
    if len(text) > MAX_TEXT:
        raise MonthsInvalid(f"longer than {MAX_TEXT} characters")
    if not text.strip():
        raise MonthsInvalid("empty")
    months: set[int] = set()
    for raw in text.split(","):
        piece = raw.strip()
        if not piece:
            raise MonthsInvalid("an empty piece between commas")
        dash = next((i for i, ch in enumerate(piece) if ch in _RANGE_DASHES and i > 0), None)
        if dash is None:
            months.add(_month(piece, piece))
            continue
        first, last = piece[:dash].strip(), piece[dash + 1:].strip()
        if not first or not last:
            raise MonthsInvalid(f"range '{piece}' needs a month on both sides")
        start, end = _month(first, piece), _month(last, piece)
        if start <= end:
            months.update(range(start, end + 1))
        else:  # wraps over New Year: 9-5 is September to May
            months.update(range(start, 13))
            months.update(range(1, end + 1))
    return frozenset(months)


def canonical(months: frozenset[int] | set[int]) -> str:
    """{1..5, 9..12} → '1-5,9-12'; ranges in calendar order, never wrapping."""
    pieces: list[str] = []
    ordered = sorted(months)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        pieces.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(pieces)


@lru_cache(maxsize=256)
def _stored(text: str) -> frozenset[int]:
    return parse_months(text)


def study_months(stored: str | None) -> frozenset[int]:
    """A program's study months from its stored value (NULL = the default)."""
    if stored is None or not stored.strip():
        return DEFAULT_MONTHS
    return _stored(stored)
