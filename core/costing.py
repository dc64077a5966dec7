"""The cost rule (SPEC §1 Enrollment): what a program costs in a certificate year.

Cost = price per month × the program's study months (core/study_months.py:
by default all but June–August) from the first month paid for (the
enrollment month, or January at the year rollover) to December, within the
program's start–end dates. The certificate covers what it can, month by
month from the earliest; the parent co-pays the rest.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from core.errors import DomainError
from core.models import Program, Unit
from core.study_months import study_months


def month_overlaps(program: Program, year: int, month: int) -> bool:
    first = dt.date(year, month, 1)
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return first <= program.end_date and last >= program.start_date


def payable_months(program: Program, year: int, from_month: int = 1) -> list[int]:
    """The program's study months of `year` from `from_month` to December, within its dates."""
    taught = study_months(program.study_months)
    return [month for month in range(from_month, 13)
            if month in taught and month_overlaps(program, year, month)]


def price_per_month(program: Program, unit: Unit) -> int:
    """The program's monthly price in the certificate's unit (kopecks or hours)."""
    price = program.price_per_month if unit is Unit.RUB else program.hours_per_month
    if price is None:
        raise DomainError("price_missing", unit=unit.value)
    return price


@dataclass(frozen=True)
class Allocation:
    months: list[int]
    price: int
    cost: int
    covered: int
    copay: int
    per_month: list[tuple[int, int]]  # (month, amount the certificate pays)


def allocate(months: list[int], price: int, available: int) -> Allocation:
    """Cover the months in order with what is available; the rest is the co-payment."""
    cost = price * len(months)
    covered = min(max(available, 0), cost)
    left = covered
    per_month = []
    for month in months:
        amount = min(price, left)
        left -= amount
        per_month.append((month, amount))
    return Allocation(months=months, price=price, cost=cost, covered=covered, copay=cost - covered,
                      per_month=[(m, a) for m, a in per_month if a > 0])


@dataclass(frozen=True)
class YearEstimate:
    """A later year of a continuing program, estimated at this year's nominal."""
    year: int
    months: list[int]
    cost: int
    covered: int    # what the certificate would pay
    copay: int


LATER_YEARS_SHOWN = 5   # a parent plans a few years ahead; a catalog may say "until 2099"


def later_years(program: Program, after_year: int) -> list[int]:
    """The first few years after `after_year` in which the program has study months."""
    last = min(program.end_date.year, after_year + LATER_YEARS_SHOWN)
    return [year for year in range(after_year + 1, last + 1) if payable_months(program, year)]


def taught_after(program: Program, year: int) -> bool:
    """Has the program a study month in any year after `year`?"""
    return any(payable_months(program, later) for later in range(year + 1, program.end_date.year + 1))


def estimate_year(program: Program, year: int, price: int, left: int) -> YearEstimate:
    """`left`: what the nominal leaves once the child's earlier enrollments took theirs."""
    months = payable_months(program, year)
    allocation = allocate(months, price, left)
    return YearEstimate(year=year, months=months, cost=allocation.cost, covered=allocation.covered,
                        copay=allocation.copay)
