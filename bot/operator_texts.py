"""Operator-facing (command line) explanations of domain refusals, in English."""
from __future__ import annotations

from core.errors import DomainError

_REASONS = {
    "amount_invalid": "the amount must be a positive whole number of kopecks or hours",
    "year_invalid": "the year must be between 2000 and 2100",
    "municipality_invalid": "the municipality name is empty or too long",
    "month_not_over": "month {period} is not over yet; settle it on the 1st of the next month",
    "month_invalid": "month must be 1–12",
    "year_not_started": "year {year} has not started yet",
}


def describe(error: DomainError) -> str:
    template = _REASONS.get(error.reason)
    if template is None:
        details = ", ".join(f"{key}={value}" for key, value in error.details.items())
        return f"{error.reason}" + (f" ({details})" if details else "")
    try:
        return template.format(**error.details)
    except (KeyError, IndexError):
        return template
