"""Domain errors: every refusal carries a reason code the dialogs translate."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of SPEC §1 refused the operation. Nothing was written.

    `reason` is a stable code (e.g. ``age_out_of_range``, ``no_seats``);
    `details` carries what a message needs (ages, dates, amounts).
    """

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def __repr__(self) -> str:
        return f"DomainError({self.reason!r}, {self.details!r})"


class NotFound(DomainError):
    """The object does not exist, or does not belong to the asking parent."""

    def __init__(self, what: str, **details: Any) -> None:
        super().__init__(f"{what}_not_found", **details)
