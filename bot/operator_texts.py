"""Operator-facing (command line) explanations of domain refusals, in English."""
from __future__ import annotations

from core.errors import DomainError

_REASONS = {
    "review_not_found": "no review #{review_id}; `python -m bot reviews list` shows the ids",
    "amount_invalid": "the amount must be a positive whole number of kopecks or hours",
    "year_invalid": "the year must be between 2000 and 2100",
    "municipality_invalid": "the municipality name is empty or too long",
    "month_not_over": "month {period} is not over yet; settle it on the 1st of the next month",
    "month_invalid": "month must be 1–12",
    "year_not_started": "year {year} has not started yet",
    "municipality_unknown": (
        "no municipality «{name}» is registered; did you mean «{closest}»? "
        "(python -m bot municipality list shows them all)"
    ),
    "municipality_unknown_none_close": (
        "no municipality «{name}» is registered (python -m bot municipality list shows them all; "
        "municipality add NAME registers a new one)"
    ),
    "municipality_exists": "municipality «{existing}» is already registered",
    "municipality_same_name": "municipality «{name}» already has that name",
    "municipality_merge_needed": (
        "municipality «{new}» is already registered; to move everything of «{old}» into it "
        "and remove «{old}», run the rename again with --merge"
    ),
    "municipality_nominals_differ": (
        "cannot merge: «{old}» and «{new}» have different nominals for {years}; "
        "make them equal with set-nominal first"
    ),
}


def describe(error: DomainError) -> str:
    reason = error.reason
    if reason == "municipality_unknown" and not error.details.get("closest"):
        reason = "municipality_unknown_none_close"
    template = _REASONS.get(reason)
    if template is None:
        details = ", ".join(f"{key}={value}" for key, value in error.details.items())
        return f"{error.reason}" + (f" ({details})" if details else "")
    try:
        return template.format(**error.details)
    except (KeyError, IndexError):
        return template
